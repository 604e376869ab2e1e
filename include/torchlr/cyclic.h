#pragma once

// Cyclical schedules that also cycle momentum: CyclicLR and OneCycleLR. With `cycle_momentum`
// they write each group's momentum (SGD, RMSprop) or first beta (Adam, AdamW) every step;
// see torchlr/momentum.h for optimizers of your own.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <torch/arg.h>

#include <torchlr/modes.h>
#include <torchlr/momentum.h>
#include <torchlr/per_group.h>
#include <torchlr/scheduler.h>

namespace torchlr {

/// `CyclicLR(optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
/// mode='triangular', gamma=1.0, scale_fn=None, scale_mode='cycle', cycle_momentum=True,
/// base_momentum=0.8, max_momentum=0.9)`. Construction sets every group's lr to `base_lr` and
/// its momentum to `max_momentum`.
struct CyclicLROptions {
  CyclicLROptions(PerGroup base_lr, PerGroup max_lr)
      : base_lr_(std::move(base_lr)), max_lr_(std::move(max_lr)) {}
  TORCH_ARG(PerGroup, base_lr);
  TORCH_ARG(PerGroup, max_lr);
  TORCH_ARG(int64_t, step_size_up) = 2000;
  TORCH_ARG(std::optional<int64_t>, step_size_down) = std::nullopt;
  /// triangular, triangular2 or exp_range; ignored when `scale_fn` is set.
  TORCH_ARG(CyclicMode, mode) = CyclicMode::triangular;
  TORCH_ARG(double, gamma) = 1.0;
  /// A custom amplitude scale of the cycle number or of the iteration (`scale_mode`).
  TORCH_ARG(std::function<double(double)>, scale_fn) = nullptr;
  /// cycle or iterations; used with a custom `scale_fn`.
  TORCH_ARG(ScaleMode, scale_mode) = ScaleMode::cycle;
  TORCH_ARG(bool, cycle_momentum) = true;
  TORCH_ARG(PerGroup, base_momentum) = 0.8;
  TORCH_ARG(PerGroup, max_momentum) = 0.9;
};

class CyclicLR final : public LRScheduler {
 public:
  CyclicLR(torch::optim::Optimizer& optimizer, const CyclicLROptions& options);
  const CyclicLROptions& options() const noexcept { return options_; }
  std::string name() const override { return "CyclicLR"; }

  /// The amplitude rule in use (`mode`, or a custom scale_fn).
  enum class Mode { triangular, triangular2, exp_range, custom };

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  void after_lrs_written() override;
  void serialize(StateArchive& archive) override;

 private:
  double scale(double x) const;

  CyclicLROptions options_;
  std::vector<double> max_lrs_;
  double total_size_;
  double step_ratio_;
  bool scale_by_cycle_;
  std::vector<double> base_momentums_;
  std::vector<double> max_momentums_;
  const MomentumAccess* momentum_ = nullptr;  // set when cycle_momentum
  std::vector<double> next_momentums_;
  Mode mode_ = Mode::triangular;
  double scale_factor_ = 0.0;  // this step's position in the cycle
  double amplitude_ = 1.0;     // this step's scale_fn value
};

/// `OneCycleLR(optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
/// pct_start=0.3, anneal_strategy='cos', cycle_momentum=True, base_momentum=0.85,
/// max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False)`. Step it every
/// batch; stepping past `total_steps` throws PyTorch's "Tried to step N times" error.
struct OneCycleLROptions {
  /* implicit */ OneCycleLROptions(PerGroup max_lr) : max_lr_(std::move(max_lr)) {}
  TORCH_ARG(PerGroup, max_lr);
  TORCH_ARG(std::optional<int64_t>, total_steps) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, epochs) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, steps_per_epoch) = std::nullopt;
  TORCH_ARG(double, pct_start) = 0.3;
  TORCH_ARG(AnnealStrategy, anneal_strategy) = AnnealStrategy::cos;
  TORCH_ARG(bool, cycle_momentum) = true;
  TORCH_ARG(PerGroup, base_momentum) = 0.85;
  TORCH_ARG(PerGroup, max_momentum) = 0.95;
  TORCH_ARG(double, div_factor) = 25.0;
  TORCH_ARG(double, final_div_factor) = 1e4;
  TORCH_ARG(bool, three_phase) = false;
};

class OneCycleLR final : public LRScheduler {
 public:
  OneCycleLR(torch::optim::Optimizer& optimizer, const OneCycleLROptions& options);
  const OneCycleLROptions& options() const noexcept { return options_; }
  std::string name() const override { return "OneCycleLR"; }
  int64_t total_steps() const noexcept { return total_steps_; }

  /// Where each phase ends (PyTorch's `end_step`s); throws c10::ValueError for a phase of length 0.
  static std::vector<double> phase_end_steps(const OneCycleLROptions& options, int64_t total_steps);

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  void after_lrs_written() override;
  void serialize(StateArchive& archive) override;

 private:
  // Which per-group value a phase starts or ends at (PyTorch's group keys).
  enum Bound : int64_t { kInitialLr, kMaxLr, kMinLr, kMaxMomentum, kBaseMomentum };
  struct Phase {
    double end_step;
    Bound start_lr, end_lr, start_momentum, end_momentum;
  };
  const std::vector<double>& bound(Bound b) const;
  double anneal(double start, double end) const;

  OneCycleLROptions options_;
  int64_t total_steps_;
  std::vector<Phase> phases_;
  std::vector<double> initial_lrs_, max_lrs_, min_lrs_;
  std::vector<double> max_momentums_, base_momentums_;
  const MomentumAccess* momentum_ = nullptr;
  std::vector<double> next_momentums_;
  bool cosine_ = true;            // anneal_strategy == cos
  // This step's phase, as the per-group arrays it anneals between.
  const std::vector<double>* start_lrs_ = nullptr;
  const std::vector<double>* end_lrs_ = nullptr;
  const std::vector<double>* start_momentums_ = nullptr;
  const std::vector<double>* end_momentums_ = nullptr;
  double pct_ = 0.0;              // this step's position in it
  double cos_term_ = 0.0;         // cos(π·pct) + 1, for cosine annealing
};

}  // namespace torchlr
