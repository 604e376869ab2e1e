#pragma once

// Hugging Face transformers' schedules (`transformers/optimization.py`), the ones a
// `TrainingArguments(lr_scheduler_type=...)` picks, with transformers' numbers step for step:
//
//     // get_scheduler("cosine", optimizer, num_warmup_steps=100, num_training_steps=1000)
//     torchlr::transformers::CosineSchedule s(optimizer, torchlr::transformers::CosineScheduleOptions(100, 1000));
//
// All but GreedyLR are a LambdaLR upstream: each group's lr is its initial lr times a multiplier
// of the step count (0 at construction, +1 per step()), so they are LRSchedulers here and can be
// part of a SequentialLR or ChainedScheduler. The upstream quirks that users' configs rely on are
// kept: warmup starts at lr 0, the cosine rises again past num_training_steps, polynomial's lr_end
// is relative to the optimizer's constructor lr (`optimizer.defaults().get_lr()`), and the
// cosine_warmup_with_min_lr schedule runs one step ahead. Where transformers would divide by zero
// mid-training, construction refuses with a c10::ValueError naming the argument.
//
// `reduce_lr_on_plateau` is torch's ReduceLROnPlateau itself (torchlr::ReduceLROnPlateau). In the
// factory these are `transformers.<lr_scheduler_type>`, with the keyword arguments of the matching
// `get_*_schedule*` function (or of GreedyLR).

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/arg.h>

#include <torchlr/modes.h>
#include <torchlr/per_group.h>
#include <torchlr/scheduler.h>
#include <torchlr/scheduler_base.h>
#include <torchlr/state_archive.h>

namespace torchlr {

namespace detail {
class LrAccess;
}  // namespace detail

namespace transformers {

/// What every transformers LambdaLR schedule shares: lr = initial lr × `multiplier(step)`, a pure
/// function of the step count (resuming is rebuilding and setting the count, as upstream).
class LambdaSchedule : public LRScheduler {
 public:
  /// transformers' `lr_lambda(current_step)`. A step beyond ±2^53 is a c10::ValueError (as is
  /// an epoch beyond it in step(epoch)).
  double multiplier(int64_t step) const;

 protected:
  explicit LambdaSchedule(torch::optim::Optimizer& optimizer);
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  /// The multiplier at a step within ±2^53.
  virtual double multiplier_at(int64_t step) const = 0;

 private:
  double factor_ = 0.0;  // this step's multiplier
};

/// `linear`: `get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps)`.
/// Linear warmup from 0, then linear decay to 0 at num_training_steps (and 0 after).
struct LinearScheduleOptions {
  LinearScheduleOptions(int64_t num_warmup_steps, int64_t num_training_steps)
      : num_warmup_steps_(num_warmup_steps), num_training_steps_(num_training_steps) {}
  TORCH_ARG(int64_t, num_warmup_steps);
  TORCH_ARG(int64_t, num_training_steps);
};

class LinearSchedule final : public LambdaSchedule {
 public:
  LinearSchedule(torch::optim::Optimizer& optimizer, const LinearScheduleOptions& options);
  const LinearScheduleOptions& options() const noexcept { return options_; }
  std::string name() const override { return "transformers.linear"; }

 protected:
  double multiplier_at(int64_t step) const override;
  void serialize(StateArchive& archive) override;

 private:
  LinearScheduleOptions options_;
};

/// `cosine`: `get_cosine_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps,
/// num_cycles=0.5)`. Not clamped: past num_training_steps the lr rises again, as upstream.
struct CosineScheduleOptions {
  CosineScheduleOptions(int64_t num_warmup_steps, int64_t num_training_steps)
      : num_warmup_steps_(num_warmup_steps), num_training_steps_(num_training_steps) {}
  TORCH_ARG(int64_t, num_warmup_steps);
  TORCH_ARG(int64_t, num_training_steps);
  TORCH_ARG(double, num_cycles) = 0.5;
};

class CosineSchedule final : public LambdaSchedule {
 public:
  CosineSchedule(torch::optim::Optimizer& optimizer, const CosineScheduleOptions& options);
  const CosineScheduleOptions& options() const noexcept { return options_; }
  std::string name() const override { return "transformers.cosine"; }

 protected:
  double multiplier_at(int64_t step) const override;
  void serialize(StateArchive& archive) override;

 private:
  CosineScheduleOptions options_;
};

/// `cosine_with_restarts`: `get_cosine_with_hard_restarts_schedule_with_warmup(optimizer,
/// num_warmup_steps, num_training_steps, num_cycles=1)`. num_cycles falls from 1 to 0 each; a
/// fractional num_cycles truncates the last one; 0 after num_training_steps.
struct CosineWithRestartsScheduleOptions {
  CosineWithRestartsScheduleOptions(int64_t num_warmup_steps, int64_t num_training_steps)
      : num_warmup_steps_(num_warmup_steps), num_training_steps_(num_training_steps) {}
  TORCH_ARG(int64_t, num_warmup_steps);
  TORCH_ARG(int64_t, num_training_steps);
  TORCH_ARG(double, num_cycles) = 1.0;
};

class CosineWithRestartsSchedule final : public LambdaSchedule {
 public:
  CosineWithRestartsSchedule(torch::optim::Optimizer& optimizer, const CosineWithRestartsScheduleOptions& options);
  const CosineWithRestartsScheduleOptions& options() const noexcept { return options_; }
  std::string name() const override { return "transformers.cosine_with_restarts"; }

 protected:
  double multiplier_at(int64_t step) const override;
  void serialize(StateArchive& archive) override;

 private:
  CosineWithRestartsScheduleOptions options_;
};

/// `polynomial`: `get_polynomial_decay_schedule_with_warmup(optimizer, num_warmup_steps,
/// num_training_steps, lr_end=1e-7, power=1.0)`. Decays from the initial lr towards lr_end,
/// where lr_end is relative to the optimizer's constructor lr L (`optimizer.defaults()`), as
/// upstream: a group ends at `initial lr × lr_end / L`, not at lr_end. L must exceed lr_end.
struct PolynomialScheduleOptions {
  PolynomialScheduleOptions(int64_t num_warmup_steps, int64_t num_training_steps)
      : num_warmup_steps_(num_warmup_steps), num_training_steps_(num_training_steps) {}
  TORCH_ARG(int64_t, num_warmup_steps);
  TORCH_ARG(int64_t, num_training_steps);
  TORCH_ARG(double, lr_end) = 1e-7;
  TORCH_ARG(double, power) = 1.0;
};

class PolynomialSchedule final : public LambdaSchedule {
 public:
  PolynomialSchedule(torch::optim::Optimizer& optimizer, const PolynomialScheduleOptions& options);
  const PolynomialScheduleOptions& options() const noexcept { return options_; }
  /// The optimizer's constructor lr when the schedule was built (transformers' `lr_init`).
  double lr_init() const noexcept { return lr_init_; }
  std::string name() const override { return "transformers.polynomial"; }

 protected:
  double multiplier_at(int64_t step) const override;
  void serialize(StateArchive& archive) override;

 private:
  PolynomialScheduleOptions options_;
  double lr_init_;
};

/// `constant`: `get_constant_schedule(optimizer)`. The initial lr, always.
class ConstantSchedule final : public LambdaSchedule {
 public:
  explicit ConstantSchedule(torch::optim::Optimizer& optimizer);
  std::string name() const override { return "transformers.constant"; }

 protected:
  double multiplier_at(int64_t step) const override;
};

/// `constant_with_warmup`: `get_constant_schedule_with_warmup(optimizer, num_warmup_steps)`.
struct ConstantWithWarmupScheduleOptions {
  explicit ConstantWithWarmupScheduleOptions(int64_t num_warmup_steps) : num_warmup_steps_(num_warmup_steps) {}
  TORCH_ARG(int64_t, num_warmup_steps);
};

class ConstantWithWarmupSchedule final : public LambdaSchedule {
 public:
  ConstantWithWarmupSchedule(torch::optim::Optimizer& optimizer, const ConstantWithWarmupScheduleOptions& options);
  const ConstantWithWarmupScheduleOptions& options() const noexcept { return options_; }
  std::string name() const override { return "transformers.constant_with_warmup"; }

 protected:
  double multiplier_at(int64_t step) const override;
  void serialize(StateArchive& archive) override;

 private:
  ConstantWithWarmupScheduleOptions options_;
};

/// `inverse_sqrt`: `get_inverse_sqrt_schedule(optimizer, num_warmup_steps, timescale=None)`.
/// After warmup `1/sqrt((step + timescale − num_warmup_steps) / timescale)`; an absent timescale
/// is num_warmup_steps, or 10000 when that is 0. A timescale that is not positive is refused
/// (transformers divides by zero, or takes the root of a negative number, once warmup ends).
struct InverseSqrtScheduleOptions {
  explicit InverseSqrtScheduleOptions(int64_t num_warmup_steps) : num_warmup_steps_(num_warmup_steps) {}
  TORCH_ARG(int64_t, num_warmup_steps);
  TORCH_ARG(std::optional<int64_t>, timescale) = std::nullopt;
};

class InverseSqrtSchedule final : public LambdaSchedule {
 public:
  InverseSqrtSchedule(torch::optim::Optimizer& optimizer, const InverseSqrtScheduleOptions& options);
  const InverseSqrtScheduleOptions& options() const noexcept { return options_; }
  /// The timescale in use (the option, or its default).
  int64_t timescale() const noexcept { return timescale_; }
  std::string name() const override { return "transformers.inverse_sqrt"; }

 protected:
  double multiplier_at(int64_t step) const override;
  void serialize(StateArchive& archive) override;

 private:
  InverseSqrtScheduleOptions options_;
  int64_t timescale_;
};

/// `cosine_with_min_lr`: `get_cosine_with_min_lr_schedule_with_warmup(optimizer, num_warmup_steps,
/// num_training_steps, num_cycles=0.5, min_lr=None, min_lr_rate=None)`: the cosine decays to
/// `min_lr_rate` × the initial lr; `min_lr` means `min_lr / L` (the optimizer's constructor lr).
/// Exactly one of min_lr and min_lr_rate must be set.
struct CosineWithMinLrScheduleOptions {
  CosineWithMinLrScheduleOptions(int64_t num_warmup_steps, int64_t num_training_steps)
      : num_warmup_steps_(num_warmup_steps), num_training_steps_(num_training_steps) {}
  TORCH_ARG(int64_t, num_warmup_steps);
  TORCH_ARG(int64_t, num_training_steps);
  TORCH_ARG(double, num_cycles) = 0.5;
  TORCH_ARG(std::optional<double>, min_lr) = std::nullopt;
  TORCH_ARG(std::optional<double>, min_lr_rate) = std::nullopt;
};

class CosineWithMinLrSchedule final : public LambdaSchedule {
 public:
  CosineWithMinLrSchedule(torch::optim::Optimizer& optimizer, const CosineWithMinLrScheduleOptions& options);
  const CosineWithMinLrScheduleOptions& options() const noexcept { return options_; }
  /// The floor as a fraction of the initial lr (min_lr_rate, or min_lr / L).
  double min_lr_rate() const noexcept { return min_lr_rate_; }
  std::string name() const override { return "transformers.cosine_with_min_lr"; }

 protected:
  double multiplier_at(int64_t step) const override;
  void serialize(StateArchive& archive) override;

 private:
  CosineWithMinLrScheduleOptions options_;
  double min_lr_rate_;
};

/// `cosine_warmup_with_min_lr`: `get_cosine_with_min_lr_schedule_with_warmup_lr_rate(optimizer,
/// num_warmup_steps, num_training_steps, num_cycles=0.5, min_lr=None, min_lr_rate=None,
/// warmup_lr_rate=None)`. As cosine_with_min_lr, but one step ahead: warmup `(step + 1) / W`
/// (or from `warmup_lr_rate` when set), and with no warmup the lr at construction is already the
/// cosine's value at step 1.
struct CosineWarmupWithMinLrScheduleOptions {
  CosineWarmupWithMinLrScheduleOptions(int64_t num_warmup_steps, int64_t num_training_steps)
      : num_warmup_steps_(num_warmup_steps), num_training_steps_(num_training_steps) {}
  TORCH_ARG(int64_t, num_warmup_steps);
  TORCH_ARG(int64_t, num_training_steps);
  TORCH_ARG(double, num_cycles) = 0.5;
  TORCH_ARG(std::optional<double>, min_lr) = std::nullopt;
  TORCH_ARG(std::optional<double>, min_lr_rate) = std::nullopt;
  TORCH_ARG(std::optional<double>, warmup_lr_rate) = std::nullopt;
};

class CosineWarmupWithMinLrSchedule final : public LambdaSchedule {
 public:
  CosineWarmupWithMinLrSchedule(torch::optim::Optimizer& optimizer, const CosineWarmupWithMinLrScheduleOptions& options);
  const CosineWarmupWithMinLrScheduleOptions& options() const noexcept { return options_; }
  double min_lr_rate() const noexcept { return min_lr_rate_; }
  std::string name() const override { return "transformers.cosine_warmup_with_min_lr"; }

 protected:
  double multiplier_at(int64_t step) const override;
  void serialize(StateArchive& archive) override;

 private:
  CosineWarmupWithMinLrScheduleOptions options_;
  double min_lr_rate_;
};

/// The shapes of warmup_stable_decay's warmup and decay: "linear", "cosine", "1-sqrt".
enum class WsdShape { linear, cosine, one_minus_sqrt };
const char* to_string(WsdShape shape);
/// Reads "linear", "cosine" or "1-sqrt"; anything else is a c10::ValueError naming `where`.
void parse_config_enum(const std::string& where, const std::string& text, WsdShape& out);

/// `warmup_stable_decay`: `get_wsd_schedule(optimizer, num_warmup_steps, num_decay_steps,
/// num_training_steps=None, num_stable_steps=None, warmup_type="linear", decay_type="cosine",
/// min_lr_ratio=0, num_cycles=0.5)`. Warmup from min_lr_ratio to 1, a stable phase, a decay
/// back to min_lr_ratio, then min_lr_ratio. The stable phase is num_stable_steps, or
/// `num_training_steps − num_warmup_steps − num_decay_steps` (one of the two must be given;
/// with both, num_stable_steps wins with a warning, as upstream).
struct WarmupStableDecayScheduleOptions {
  WarmupStableDecayScheduleOptions(int64_t num_warmup_steps, int64_t num_decay_steps)
      : num_warmup_steps_(num_warmup_steps), num_decay_steps_(num_decay_steps) {}
  TORCH_ARG(int64_t, num_warmup_steps);
  TORCH_ARG(int64_t, num_decay_steps);
  TORCH_ARG(std::optional<int64_t>, num_training_steps) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, num_stable_steps) = std::nullopt;
  TORCH_ARG(WsdShape, warmup_type) = WsdShape::linear;
  TORCH_ARG(WsdShape, decay_type) = WsdShape::cosine;
  TORCH_ARG(double, min_lr_ratio) = 0.0;
  TORCH_ARG(double, num_cycles) = 0.5;
};

class WarmupStableDecaySchedule final : public LambdaSchedule {
 public:
  WarmupStableDecaySchedule(torch::optim::Optimizer& optimizer, const WarmupStableDecayScheduleOptions& options);
  const WarmupStableDecayScheduleOptions& options() const noexcept { return options_; }
  /// The stable phase's length in use (may be negative: the decay then starts part-way).
  int64_t num_stable_steps() const noexcept { return num_stable_steps_; }
  std::string name() const override { return "transformers.warmup_stable_decay"; }

 protected:
  double multiplier_at(int64_t step) const override;
  void serialize(StateArchive& archive) override;

 private:
  WarmupStableDecayScheduleOptions options_;
  int64_t num_stable_steps_;
};

/// `greedy`: transformers' `GreedyLR(optimizer, mode="min", factor=0.95, patience=10,
/// threshold=1e-6, threshold_mode="abs", cooldown=0, warmup=0, min_lr=1e-3, max_lr=1.0, eps=1e-8,
/// smooth=False, window_size=50, reset_start=500)`.
struct GreedyLROptions {
  TORCH_ARG(PlateauMode, mode) = PlateauMode::min;
  TORCH_ARG(double, factor) = 0.95;
  TORCH_ARG(int64_t, patience) = 10;
  TORCH_ARG(double, threshold) = 1e-6;
  TORCH_ARG(ThresholdMode, threshold_mode) = ThresholdMode::abs;
  TORCH_ARG(int64_t, cooldown) = 0;
  TORCH_ARG(int64_t, warmup) = 0;
  TORCH_ARG(PerGroup, min_lr) = 1e-3;
  TORCH_ARG(PerGroup, max_lr) = 1.0;
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(bool, smooth) = false;
  TORCH_ARG(int64_t, window_size) = 50;
  TORCH_ARG(int64_t, reset_start) = 500;
};

/// Raises every group's lr (÷ factor, up to max_lr) after more than `patience` improving
/// metrics in a row, lowers it (× factor, down to min_lr) after more than `patience` others; a
/// `cooldown` follows each decrease and a `warmup` each increase. After `reset_start` decreases
/// with every group at its min_lr, everything starts over from the initial lrs. With `smooth`,
/// each metric is first replaced by the mean of the last `window_size` ones.
///
/// As upstream it is not an LRScheduler: there is no initial step (construction changes no lr)
/// and no initial lr is recorded; its step takes the metric. Traps kept from upstream: the first
/// metric always counts as an improvement, and with an lr below the default min_lr (1e-3) the lr
/// can only go up.
class GreedyLR final : public SchedulerBase {
 public:
  explicit GreedyLR(torch::optim::Optimizer& optimizer, const GreedyLROptions& options = GreedyLROptions());
  ~GreedyLR() override;

  /// One evaluation's metric.
  void step(double metric);

  bool takes_metric() const noexcept override { return true; }
  /// `step(*metric)`; a missing metric is a c10::ValueError.
  void step_with(std::optional<double> metric) override;

  const std::vector<double>& get_last_lr() const noexcept override { return last_lr_; }
  int64_t last_epoch() const noexcept override { return last_epoch_; }
  double best() const noexcept { return best_; }
  int64_t num_bad_epochs() const noexcept { return num_bad_epochs_; }
  int64_t num_good_epochs() const noexcept { return num_good_epochs_; }
  int64_t cooldown_counter() const noexcept { return cooldown_counter_; }
  int64_t warmup_counter() const noexcept { return warmup_counter_; }
  /// What is left of the reset countdown.
  int64_t reset_start() const noexcept { return reset_start_; }
  const GreedyLROptions& options() const noexcept { return options_; }
  torch::optim::Optimizer& optimizer() const noexcept override { return *optimizer_; }
  std::string name() const override { return "transformers.greedy"; }

  void save(torch::serialize::OutputArchive& archive) const override;
  /// All or nothing, and the checkpoint's lrs written into the optimizer.
  void load(torch::serialize::InputArchive& archive) override;

 private:
  bool is_better(double metric) const;
  void increase_lr();
  void reduce_lr();
  void reset();
  void record_last_lr();
  void check_group_count() const;
  void checkpoint(StateArchive& archive);

  torch::optim::Optimizer* optimizer_;
  GreedyLROptions options_;
  std::vector<double> min_lrs_;
  std::vector<double> max_lrs_;
  std::vector<double> init_lrs_;
  std::vector<double> last_lr_;
  int64_t last_epoch_ = 0;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t num_good_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t warmup_counter_ = 0;
  int64_t reset_start_;
  // The smoothing window (transformers' StreamingAverage): the metrics in it and their running sum.
  std::deque<double> window_;
  double window_sum_ = 0.0;
  std::unique_ptr<detail::LrAccess> lr_access_;
};

}  // namespace transformers
}  // namespace torchlr
