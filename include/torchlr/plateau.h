#pragma once

// ReduceLROnPlateau: reduces the lr when a metric the program passes in stops improving.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/arg.h>

#include <torchlr/distributed.h>
#include <torchlr/modes.h>
#include <torchlr/per_group.h>
#include <torchlr/scheduler_base.h>
#include <torchlr/state_archive.h>

namespace torchlr {

namespace detail {
class LrAccess;
}  // namespace detail
namespace timm {
class PlateauLRScheduler;
}  // namespace timm

/// `ReduceLROnPlateau(optimizer, mode='min', factor=0.1, patience=10, threshold=1e-4,
/// threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-8)`, as in current Python PyTorch (not
/// LibTorch's `ReduceLROnPlateauScheduler`, whose max/abs comparison and max-mode start differ).
struct ReduceLROnPlateauOptions {
  TORCH_ARG(PlateauMode, mode) = PlateauMode::min;
  TORCH_ARG(double, factor) = 0.1;
  TORCH_ARG(int64_t, patience) = 10;
  TORCH_ARG(double, threshold) = 1e-4;
  TORCH_ARG(ThresholdMode, threshold_mode) = ThresholdMode::rel;
  TORCH_ARG(int64_t, cooldown) = 0;
  TORCH_ARG(PerGroup, min_lr) = 0.0;
  TORCH_ARG(double, eps) = 1e-8;
  /// Data-parallel (torchlr/distributed.h): `step(metric)` averages the metric over the ranks (one
  /// collective; NaN when it is not finite on some rank, which is never an improvement), so every
  /// rank's lrs stay equal. Every rank must step every epoch. The default is one process.
  TORCH_ARG(Distributed, distributed) = Distributed();
  /// `distributed(Distributed(process_group))`.
  ReduceLROnPlateauOptions& process_group(const c10::intrusive_ptr<c10d::ProcessGroup>& group) {
    distributed_ = Distributed(group);
    return *this;
  }
};

/// Not an LRScheduler: its step takes the metric, so it cannot be put in a SequentialLR or a
/// ChainedScheduler by mistake (PyTorch refuses that at run time). Through `SchedulerBase` a
/// generic loop steps it with `step_with(metric)`.
class ReduceLROnPlateau final : public SchedulerBase {
 public:
  explicit ReduceLROnPlateau(torch::optim::Optimizer& optimizer,
                             const ReduceLROnPlateauOptions& options = ReduceLROnPlateauOptions());
  ~ReduceLROnPlateau() override;

  /// One epoch's metric (a validation loss, say). A NaN or infinite metric is never an
  /// improvement and never becomes `best()`. With `distributed`, the mean over the ranks.
  void step(double metric);

  bool takes_metric() const noexcept override { return true; }
  /// `step(*metric)`; a missing metric is a c10::ValueError, as PyTorch's TypeError.
  void step_with(std::optional<double> metric) override;

  const std::vector<double>& get_last_lr() const noexcept override { return last_lr_; }
  int64_t last_epoch() const noexcept override { return last_epoch_; }
  double best() const noexcept { return best_; }
  int64_t num_bad_epochs() const noexcept { return num_bad_epochs_; }
  int64_t cooldown_counter() const noexcept { return cooldown_counter_; }
  const ReduceLROnPlateauOptions& options() const noexcept { return options_; }
  torch::optim::Optimizer& optimizer() const noexcept override { return *optimizer_; }
  std::string name() const override { return "ReduceLROnPlateau"; }

  void save(torch::serialize::OutputArchive& archive) const override;
  /// As LRScheduler::load: all or nothing, and the checkpoint's lrs written into the optimizer.
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // timm's plateau scheduler wraps this one and keeps its state in its own checkpoint.
  friend class timm::PlateauLRScheduler;

  void advance(double metric);
  bool is_better(double metric) const;
  void reduce_lr();
  /// One min_lr per current group: a scalar min_lr extends to groups added since construction;
  /// a per-group list that no longer fits is refused with PyTorch's message.
  std::vector<double> min_lrs_for_groups() const;
  void record_last_lr();
  void checkpoint(StateArchive& archive);

  torch::optim::Optimizer* optimizer_;
  ReduceLROnPlateauOptions options_;
  std::vector<double> min_lrs_;
  std::vector<double> last_lr_;
  int64_t last_epoch_ = 0;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  std::unique_ptr<detail::LrAccess> lr_access_;
};

}  // namespace torchlr
