#pragma once

// timm's schedulers (timm/scheduler/): CosineLRScheduler, TanhLRScheduler, StepLRScheduler,
// MultiStepLRScheduler, PolyLRScheduler, PlateauLRScheduler and create_scheduler_v2, with timm's
// numbers step for step (warmup, cycles, k-decay, noise from its seeded generator, per-group
// lr_scale).
//
// timm's schedulers are stateless in time: the training loop passes the absolute epoch or update
// count, and only the call that matches `t_in_epochs` acts (the other does nothing), exactly as in
// timm's train.py:
//
//     torchlr::timm::CosineLRScheduler s(optimizer,
//         torchlr::timm::CosineLRSchedulerOptions(/*t_initial=*/300 * updates_per_epoch)
//             .warmup_t(5 * updates_per_epoch).warmup_lr_init(1e-5).t_in_epochs(false));
//     for (int64_t epoch = 0, updates = 0; epoch < 300; ++epoch) {
//       for (auto& batch : loader) { train_step(batch); s.step_update(++updates); }
//       s.step(epoch + 1);   // does nothing here: t_in_epochs is false
//     }
//
// Construction writes each group's base lr (its remembered initial lr, PyTorch's
// `group.setdefault("initial_lr", lr)`), or `warmup_lr_init` with a warmup, times the group's
// lr_scale; no step happens. Where timm would crash or divide by zero later, construction (or the
// step that reaches it) refuses with a c10::ValueError naming the argument.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/arg.h>

#include <torchlr/modes.h>
#include <torchlr/scheduler_base.h>
#include <torchlr/state_archive.h>

namespace torchlr {
class ReduceLROnPlateau;
namespace detail {
class LrAccess;
class InitialLrLease;
}  // namespace detail
}  // namespace torchlr

namespace torchlr::timm {

/// timm's defaults shared by every scheduler's options (stated once here).
inline constexpr double kDefaultNoisePct = 0.67;
inline constexpr double kDefaultNoiseStd = 1.0;
inline constexpr int64_t kDefaultNoiseSeed = 42;

/// PlateauLRScheduler's `noise_type`: timm draws normal noise (resampled until |x| < noise_pct)
/// or uniform noise in (−noise_pct, noise_pct).
enum class NoiseType { normal, uniform };
const char* to_string(NoiseType type);
void parse_config_enum(const std::string& where, const std::string& text, NoiseType& out);

// Every scheduler's options hold the same common fields, with timm's names and defaults:
//   warmup_t, warmup_lr_init, warmup_prefix: a linear warmup over the first warmup_t steps from
//       warmup_lr_init; with warmup_prefix the schedule starts after it, without it the schedule
//       runs from t = 0 underneath (timm's default for Cosine/Tanh/Poly, which jumps at the end
//       of warmup).
//   t_in_epochs: whether `step(epoch)` (true) or `step_update(num_updates)` (false) acts.
//   noise_range_t: empty (no noise), {n} (noise from t = n on) or {a, b} (a ≤ t < b);
//   noise_pct, noise_std (accepted and unused, as in timm), noise_seed: the generator of step t
//       is seeded with noise_seed + t.
//   lr_scale: one factor per param group, or empty (timm's `group["lr_scale"]`, which LibTorch
//       groups cannot hold); every value written to a group is multiplied by it.

/// `CosineLRScheduler(optimizer, t_initial, lr_min=0, cycle_mul=1, cycle_decay=1, cycle_limit=1,
/// warmup_t=0, warmup_lr_init=0, warmup_prefix=False, t_in_epochs=True, noise_range_t=None,
/// noise_pct=0.67, noise_std=1, noise_seed=42, k_decay=1)`.
struct CosineLRSchedulerOptions {
  /* implicit */ CosineLRSchedulerOptions(int64_t t_initial) : t_initial_(t_initial) {}
  TORCH_ARG(int64_t, t_initial);
  TORCH_ARG(double, lr_min) = 0.0;
  TORCH_ARG(double, cycle_mul) = 1.0;
  TORCH_ARG(double, cycle_decay) = 1.0;
  TORCH_ARG(int64_t, cycle_limit) = 1;
  TORCH_ARG(int64_t, warmup_t) = 0;
  TORCH_ARG(double, warmup_lr_init) = 0.0;
  TORCH_ARG(bool, warmup_prefix) = false;
  TORCH_ARG(bool, t_in_epochs) = true;
  TORCH_ARG(std::vector<double>, noise_range_t) = {};
  TORCH_ARG(double, noise_pct) = kDefaultNoisePct;
  TORCH_ARG(double, noise_std) = kDefaultNoiseStd;
  TORCH_ARG(int64_t, noise_seed) = kDefaultNoiseSeed;
  TORCH_ARG(double, k_decay) = 1.0;
  TORCH_ARG(std::vector<double>, lr_scale) = {};
};

/// `TanhLRScheduler(optimizer, t_initial, lb=-7, ub=3, lr_min=0, cycle_mul=1, cycle_decay=1,
/// cycle_limit=1, warmup_t=0, warmup_lr_init=0, warmup_prefix=False, t_in_epochs=True, noise...)`.
/// Without warmup_prefix the warmup ends at the curve's value at warmup_t.
struct TanhLRSchedulerOptions {
  /* implicit */ TanhLRSchedulerOptions(int64_t t_initial) : t_initial_(t_initial) {}
  TORCH_ARG(int64_t, t_initial);
  TORCH_ARG(double, lb) = -7.0;
  TORCH_ARG(double, ub) = 3.0;
  TORCH_ARG(double, lr_min) = 0.0;
  TORCH_ARG(double, cycle_mul) = 1.0;
  TORCH_ARG(double, cycle_decay) = 1.0;
  TORCH_ARG(int64_t, cycle_limit) = 1;
  TORCH_ARG(int64_t, warmup_t) = 0;
  TORCH_ARG(double, warmup_lr_init) = 0.0;
  TORCH_ARG(bool, warmup_prefix) = false;
  TORCH_ARG(bool, t_in_epochs) = true;
  TORCH_ARG(std::vector<double>, noise_range_t) = {};
  TORCH_ARG(double, noise_pct) = kDefaultNoisePct;
  TORCH_ARG(double, noise_std) = kDefaultNoiseStd;
  TORCH_ARG(int64_t, noise_seed) = kDefaultNoiseSeed;
  TORCH_ARG(std::vector<double>, lr_scale) = {};
};

/// `PolyLRScheduler(optimizer, t_initial, power=0.5, lr_min=0, cycle_mul=1, cycle_decay=1,
/// cycle_limit=1, warmup_t=0, warmup_lr_init=0, warmup_prefix=False, t_in_epochs=True, noise...,
/// k_decay=1)`.
struct PolyLRSchedulerOptions {
  /* implicit */ PolyLRSchedulerOptions(int64_t t_initial) : t_initial_(t_initial) {}
  TORCH_ARG(int64_t, t_initial);
  TORCH_ARG(double, power) = 0.5;
  TORCH_ARG(double, lr_min) = 0.0;
  TORCH_ARG(double, cycle_mul) = 1.0;
  TORCH_ARG(double, cycle_decay) = 1.0;
  TORCH_ARG(int64_t, cycle_limit) = 1;
  TORCH_ARG(int64_t, warmup_t) = 0;
  TORCH_ARG(double, warmup_lr_init) = 0.0;
  TORCH_ARG(bool, warmup_prefix) = false;
  TORCH_ARG(bool, t_in_epochs) = true;
  TORCH_ARG(std::vector<double>, noise_range_t) = {};
  TORCH_ARG(double, noise_pct) = kDefaultNoisePct;
  TORCH_ARG(double, noise_std) = kDefaultNoiseStd;
  TORCH_ARG(int64_t, noise_seed) = kDefaultNoiseSeed;
  TORCH_ARG(double, k_decay) = 1.0;
  TORCH_ARG(std::vector<double>, lr_scale) = {};
};

/// `StepLRScheduler(optimizer, decay_t, decay_rate=1, warmup_t=0, warmup_lr_init=0,
/// warmup_prefix=True, t_in_epochs=True, noise...)`: `base · decay_rate^⌊t / decay_t⌋`
/// (decay_t may be fractional, and must be positive).
struct StepLRSchedulerOptions {
  /* implicit */ StepLRSchedulerOptions(double decay_t) : decay_t_(decay_t) {}
  TORCH_ARG(double, decay_t);
  TORCH_ARG(double, decay_rate) = 1.0;
  TORCH_ARG(int64_t, warmup_t) = 0;
  TORCH_ARG(double, warmup_lr_init) = 0.0;
  TORCH_ARG(bool, warmup_prefix) = true;
  TORCH_ARG(bool, t_in_epochs) = true;
  TORCH_ARG(std::vector<double>, noise_range_t) = {};
  TORCH_ARG(double, noise_pct) = kDefaultNoisePct;
  TORCH_ARG(double, noise_std) = kDefaultNoiseStd;
  TORCH_ARG(int64_t, noise_seed) = kDefaultNoiseSeed;
  TORCH_ARG(std::vector<double>, lr_scale) = {};
};

/// `MultiStepLRScheduler(optimizer, decay_t, decay_rate=1, warmup_t=0, warmup_lr_init=0,
/// warmup_prefix=True, t_in_epochs=True, noise...)`: the exponent is the number of milestones
/// ≤ t + 1 (timm's bisect_right), one step earlier than torch's MultiStepLR, as timm keeps it.
struct MultiStepLRSchedulerOptions {
  /* implicit */ MultiStepLRSchedulerOptions(std::vector<int64_t> decay_t) : decay_t_(std::move(decay_t)) {}
  TORCH_ARG(std::vector<int64_t>, decay_t);
  TORCH_ARG(double, decay_rate) = 1.0;
  TORCH_ARG(int64_t, warmup_t) = 0;
  TORCH_ARG(double, warmup_lr_init) = 0.0;
  TORCH_ARG(bool, warmup_prefix) = true;
  TORCH_ARG(bool, t_in_epochs) = true;
  TORCH_ARG(std::vector<double>, noise_range_t) = {};
  TORCH_ARG(double, noise_pct) = kDefaultNoisePct;
  TORCH_ARG(double, noise_std) = kDefaultNoiseStd;
  TORCH_ARG(int64_t, noise_seed) = kDefaultNoiseSeed;
  TORCH_ARG(std::vector<double>, lr_scale) = {};
};

/// `PlateauLRScheduler(optimizer, decay_rate=0.1, patience_t=10, threshold=1e-4, cooldown_t=0,
/// warmup_t=0, warmup_lr_init=0, lr_min=0, mode='max', noise_range_t=None, noise_type='normal',
/// noise_pct=0.67, noise_std=1, noise_seed=None)`: torch's ReduceLROnPlateau (relative
/// threshold) stepped by `step(epoch, metric)`; note timm's default mode is "max".
struct PlateauLRSchedulerOptions {
  TORCH_ARG(double, decay_rate) = 0.1;
  TORCH_ARG(int64_t, patience_t) = 10;
  TORCH_ARG(double, threshold) = 1e-4;
  TORCH_ARG(int64_t, cooldown_t) = 0;
  TORCH_ARG(int64_t, warmup_t) = 0;
  TORCH_ARG(double, warmup_lr_init) = 0.0;
  TORCH_ARG(double, lr_min) = 0.0;
  TORCH_ARG(PlateauMode, mode) = PlateauMode::max;
  TORCH_ARG(std::vector<double>, noise_range_t) = {};
  TORCH_ARG(NoiseType, noise_type) = NoiseType::normal;
  TORCH_ARG(double, noise_pct) = kDefaultNoisePct;
  TORCH_ARG(double, noise_std) = kDefaultNoiseStd;
  TORCH_ARG(int64_t, noise_seed) = kDefaultNoiseSeed;
  TORCH_ARG(std::vector<double>, lr_scale) = {};
};

/// What every timm scheduler shares: construction, the two step calls, noise, lr_scale,
/// checkpoints. Through SchedulerBase a generic loop steps it with `step_with`, which moves t on
/// by one in the unit the scheduler acts on.
class Scheduler : public SchedulerBase {
 public:
  /// The fields every options struct has (see above), as the base class holds them.
  struct Common {
    int64_t warmup_t = 0;
    double warmup_lr_init = 0.0;
    bool t_in_epochs = true;
    std::vector<double> noise_range_t;
    NoiseType noise_type = NoiseType::normal;
    double noise_pct = kDefaultNoisePct;
    double noise_std = kDefaultNoiseStd;
    int64_t noise_seed = kDefaultNoiseSeed;
    std::vector<double> lr_scale;
  };

  ~Scheduler() override;

  /// timm's `step(epoch, metric)`: acts (writes the lrs for t = epoch) only when t_in_epochs.
  void step(int64_t epoch, std::optional<double> metric = std::nullopt);
  /// timm's `step_update(num_updates, metric)`: acts only when t_in_epochs is false.
  void step_update(int64_t num_updates, std::optional<double> metric = std::nullopt);

  /// `step(last_epoch() + 1)` or `step_update(last_epoch() + 1)`, whichever acts.
  void step_with(std::optional<double> metric) override;

  bool t_in_epochs() const noexcept { return common_.t_in_epochs; }
  /// timm's class name with the library's prefix: "timm.CosineLRScheduler".
  std::string name() const override { return name_; }
  /// The t of the last call that acted (0 after construction).
  int64_t last_epoch() const noexcept override { return last_t_; }
  const std::vector<double>& get_last_lr() const noexcept override { return last_lr_; }
  torch::optim::Optimizer& optimizer() const noexcept override { return *optimizer_; }
  /// Each group's base lr (timm's `base_values`, the remembered initial lrs).
  const std::vector<double>& base_values() const noexcept { return base_values_; }
  /// Each group's lr_scale (1 for every group when none was given).
  const std::vector<double>& lr_scales() const noexcept { return lr_scales_; }

  /// The factor timm's noise multiplies the values of step t by, minus one (0 outside the noise
  /// range): `value + value · noise_at(t)`.
  double noise_at(int64_t t) const;

  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 protected:

  Scheduler(torch::optim::Optimizer& optimizer, std::string name, Common common);

  /// The end of a concrete scheduler's constructor: checks the options, sets the warmup steps
  /// and writes the construction values (base values, or warmup_lr_init with a warmup).
  void finish_construction();

  /// Checks the scheduler's own options (the common ones are checked already); also run on the
  /// options a checkpoint holds.
  virtual void check_options() const {}
  /// What the warmup ramps to, per group: empty for the base values (Tanh without prefix: its
  /// curve at warmup_t).
  virtual std::vector<double> warmup_targets() const { return {}; }

  /// timm's `_get_lr(t)`: every group's value before noise and lr_scale.
  virtual std::vector<double> values_at(int64_t t) const = 0;
  /// timm's `step`/`step_update` once it is known to act (the plateau overrides it).
  virtual void act(int64_t t, std::optional<double> metric);
  /// The scheduler's options (and state) in a checkpoint; when loading, also set `common()`
  /// from the options read.
  virtual void serialize(StateArchive& archive) = 0;

  /// Whether t is in noise_range_t.
  bool noise_applies(int64_t t) const;
  /// The warmup's value for group g at t < warmup_t.
  double warmup_value(std::size_t group, int64_t t) const;
  /// Writes `values` (times each group's lr_scale); a non-finite value is refused, naming t.
  void write_scaled(const std::vector<double>& values, int64_t t);
  void set_last_t(int64_t t) noexcept { last_t_ = t; }
  void record_last_lr();
  detail::LrAccess& lr_access() const { return *lr_access_; }
  const Common& common() const noexcept { return common_; }
  Common& common() noexcept { return common_; }
  /// Checks the common fields, naming the scheduler; called again after a checkpoint is read.
  void check_common() const;

 private:
  void checkpoint(StateArchive& archive);
  void set_warmup_steps();

  torch::optim::Optimizer* optimizer_;
  std::string name_;
  Common common_;
  std::unique_ptr<detail::InitialLrLease> initial_lrs_;
  std::unique_ptr<detail::LrAccess> lr_access_;
  // Fixed at construction: a checkpoint's lists are checked against it, never against lists a
  // failed load may have half overwritten.
  std::size_t num_groups_;
  std::vector<double> base_values_;
  std::vector<double> lr_scales_;
  std::vector<double> warmup_steps_;
  std::vector<double> last_lr_;
  int64_t last_t_ = 0;
};

/// Cosine with warmup, restarts (cycle_mul, cycle_decay, cycle_limit) and k-decay.
class CosineLRScheduler final : public Scheduler {
 public:
  CosineLRScheduler(torch::optim::Optimizer& optimizer, const CosineLRSchedulerOptions& options);
  const CosineLRSchedulerOptions& options() const noexcept { return options_; }
  /// timm's `get_cycle_length(cycles)`: the steps of `cycles` cycles (0: cycle_limit), plus the
  /// warmup with warmup_prefix.
  int64_t get_cycle_length(int64_t cycles = 0) const;

 protected:
  std::vector<double> values_at(int64_t t) const override;
  void check_options() const override;
  void serialize(StateArchive& archive) override;

 private:
  CosineLRSchedulerOptions options_;
};

class TanhLRScheduler final : public Scheduler {
 public:
  TanhLRScheduler(torch::optim::Optimizer& optimizer, const TanhLRSchedulerOptions& options);
  const TanhLRSchedulerOptions& options() const noexcept { return options_; }
  int64_t get_cycle_length(int64_t cycles = 0) const;

 protected:
  std::vector<double> values_at(int64_t t) const override;
  void check_options() const override;
  std::vector<double> warmup_targets() const override;
  void serialize(StateArchive& archive) override;

 private:
  std::vector<double> curve_at(int64_t t) const;
  TanhLRSchedulerOptions options_;
};

class PolyLRScheduler final : public Scheduler {
 public:
  PolyLRScheduler(torch::optim::Optimizer& optimizer, const PolyLRSchedulerOptions& options);
  const PolyLRSchedulerOptions& options() const noexcept { return options_; }
  int64_t get_cycle_length(int64_t cycles = 0) const;

 protected:
  std::vector<double> values_at(int64_t t) const override;
  void check_options() const override;
  void serialize(StateArchive& archive) override;

 private:
  PolyLRSchedulerOptions options_;
};

class StepLRScheduler final : public Scheduler {
 public:
  StepLRScheduler(torch::optim::Optimizer& optimizer, const StepLRSchedulerOptions& options);
  const StepLRSchedulerOptions& options() const noexcept { return options_; }

 protected:
  std::vector<double> values_at(int64_t t) const override;
  void check_options() const override;
  void serialize(StateArchive& archive) override;

 private:
  StepLRSchedulerOptions options_;
};

class MultiStepLRScheduler final : public Scheduler {
 public:
  MultiStepLRScheduler(torch::optim::Optimizer& optimizer, const MultiStepLRSchedulerOptions& options);
  const MultiStepLRSchedulerOptions& options() const noexcept { return options_; }

 protected:
  std::vector<double> values_at(int64_t t) const override;
  void check_options() const override;
  void serialize(StateArchive& archive) override;

 private:
  MultiStepLRSchedulerOptions options_;
};

/// Steps only on `step(epoch, metric)` (`step_update` does nothing; there is no t_in_epochs).
/// Up to and including epoch warmup_t it writes the warmup (with warmup_t = 0, `step(0)` writes
/// warmup_lr_init, as timm); later it takes back the last epoch's noise, steps the plateau rule
/// when a metric is given, and applies this epoch's noise. Its checkpoint keeps the whole plateau
/// state and the noise to take back (timm's own keeps only `best` and `last_epoch`).
class PlateauLRScheduler final : public Scheduler {
 public:
  PlateauLRScheduler(torch::optim::Optimizer& optimizer,
                     const PlateauLRSchedulerOptions& options = PlateauLRSchedulerOptions());
  ~PlateauLRScheduler() override;
  const PlateauLRSchedulerOptions& options() const noexcept { return options_; }
  bool takes_metric() const noexcept override { return true; }
  /// `step(last_epoch() + 1, metric)`; a missing metric is a c10::ValueError here (timm's own
  /// `step` without one only applies noise: call `step(epoch)` for that).
  void step_with(std::optional<double> metric) override;
  /// The plateau rule's state (torch's ReduceLROnPlateau inside timm's).
  const ReduceLROnPlateau& plateau() const noexcept { return *plateau_; }

 protected:
  std::vector<double> values_at(int64_t t) const override;
  void act(int64_t t, std::optional<double> metric) override;
  void check_options() const override;
  void serialize(StateArchive& archive) override;

 private:
  PlateauLRSchedulerOptions options_;
  std::unique_ptr<ReduceLROnPlateau> plateau_;
  std::vector<double> restore_lr_;  // the lrs before the last noise; empty when none to take back
};

/// `create_scheduler_v2(optimizer, sched='cosine', num_epochs=300, ...)`: timm's factory, with
/// its defaults (note cycle_decay 0.1 here, where the schedulers' own default is 1).
struct CreateSchedulerV2Options {
  /// "cosine", "tanh", "step", "multistep", "plateau" or "poly" (timm returns no scheduler for
  /// any other name; torchlr refuses it).
  TORCH_ARG(std::string, sched) = "cosine";
  TORCH_ARG(int64_t, num_epochs) = 300;
  TORCH_ARG(int64_t, decay_epochs) = 90;
  TORCH_ARG(std::vector<int64_t>, decay_milestones) = std::vector<int64_t>{90, 180, 270};
  TORCH_ARG(int64_t, cooldown_epochs) = 0;
  TORCH_ARG(int64_t, patience_epochs) = 10;
  /// Step/MultiStep/Plateau's decay_rate; Poly's power.
  TORCH_ARG(double, decay_rate) = 0.1;
  TORCH_ARG(double, min_lr) = 0.0;
  TORCH_ARG(double, warmup_lr) = 1e-5;
  TORCH_ARG(int64_t, warmup_epochs) = 0;
  TORCH_ARG(bool, warmup_prefix) = false;
  /// Empty: no noise; {x}: from x · t_initial on; {a, b}: between a · t_initial and b · t_initial.
  TORCH_ARG(std::vector<double>, noise) = {};
  TORCH_ARG(double, noise_pct) = kDefaultNoisePct;
  TORCH_ARG(double, noise_std) = kDefaultNoiseStd;
  TORCH_ARG(int64_t, noise_seed) = kDefaultNoiseSeed;
  TORCH_ARG(double, cycle_mul) = 1.0;
  TORCH_ARG(double, cycle_decay) = 0.1;
  TORCH_ARG(int64_t, cycle_limit) = 1;
  TORCH_ARG(double, k_decay) = 1.0;
  TORCH_ARG(PlateauMode, plateau_mode) = PlateauMode::max;
  TORCH_ARG(bool, step_on_epochs) = true;
  TORCH_ARG(int64_t, updates_per_epoch) = 0;
  /// Passed to the scheduler (see the schedulers' lr_scale).
  TORCH_ARG(std::vector<double>, lr_scale) = {};
};

/// What create_scheduler_v2 returns: the scheduler and the number of epochs to train (cycles,
/// cooldown and a prefixed warmup included), as timm's tuple.
struct CreatedScheduler {
  std::unique_ptr<Scheduler> scheduler;
  int64_t num_epochs = 0;
};

CreatedScheduler create_scheduler_v2(torch::optim::Optimizer& optimizer,
                                     const CreateSchedulerV2Options& options = CreateSchedulerV2Options());

}  // namespace torchlr::timm
