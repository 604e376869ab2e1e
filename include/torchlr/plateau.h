#pragma once

// ReduceLROnPlateau: reduces the lr when a metric the program passes in stops improving.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <torchlr/lr_access.h>
#include <torchlr/per_group.h>
#include <torchlr/state_archive.h>

namespace torchlr {

/// `ReduceLROnPlateau(optimizer, mode='min', factor=0.1, patience=10, threshold=1e-4,
/// threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-8)`, as in current Python PyTorch (not
/// LibTorch's `ReduceLROnPlateauScheduler`, whose max/abs comparison and max-mode start differ).
struct ReduceLROnPlateauOptions {
  /// "min" or "max".
  TORCH_ARG(std::string, mode) = "min";
  TORCH_ARG(double, factor) = 0.1;
  TORCH_ARG(int64_t, patience) = 10;
  TORCH_ARG(double, threshold) = 1e-4;
  /// "rel" or "abs".
  TORCH_ARG(std::string, threshold_mode) = "rel";
  TORCH_ARG(int64_t, cooldown) = 0;
  TORCH_ARG(PerGroup, min_lr) = 0.0;
  TORCH_ARG(double, eps) = 1e-8;
};

/// Not an LRScheduler: its step takes the metric, so it cannot be put in a SequentialLR or a
/// ChainedScheduler by mistake (PyTorch refuses that at run time).
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(torch::optim::Optimizer& optimizer,
                             const ReduceLROnPlateauOptions& options = ReduceLROnPlateauOptions());

  /// One epoch's metric (a validation loss, say). A NaN or infinite metric is never an
  /// improvement and never becomes `best()`.
  void step(double metric);

  const std::vector<double>& get_last_lr() const noexcept { return last_lr_; }
  int64_t last_epoch() const noexcept { return last_epoch_; }
  double best() const noexcept { return best_; }
  int64_t num_bad_epochs() const noexcept { return num_bad_epochs_; }
  int64_t cooldown_counter() const noexcept { return cooldown_counter_; }
  const ReduceLROnPlateauOptions& options() const noexcept { return options_; }
  torch::optim::Optimizer& optimizer() const noexcept { return *optimizer_; }
  std::string name() const { return "ReduceLROnPlateau"; }

  void save(torch::serialize::OutputArchive& archive) const;
  /// As LRScheduler::load: all or nothing, and the checkpoint's lrs written into the optimizer.
  void load(torch::serialize::InputArchive& archive);

 private:
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
  detail::LrAccess lr_access_;
};

torch::serialize::OutputArchive& operator<<(torch::serialize::OutputArchive& archive,
                                            const ReduceLROnPlateau& scheduler);
torch::serialize::InputArchive& operator>>(torch::serialize::InputArchive& archive,
                                           ReduceLROnPlateau& scheduler);

}  // namespace torchlr
