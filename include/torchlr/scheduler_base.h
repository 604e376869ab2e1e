#pragma once

// The one interface every torchlr scheduler implements, ReduceLROnPlateau included: what a
// training loop, a checkpoint or a config-driven program needs, without knowing which scheduler
// it holds.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace torch {
namespace optim {
class Optimizer;
}  // namespace optim
namespace serialize {
class OutputArchive;
class InputArchive;
}  // namespace serialize
}  // namespace torch

namespace torchlr {

/// A scheduler of any kind. Epoch/step schedulers derive from it through `LRScheduler`;
/// `ReduceLROnPlateau` derives from it directly (its step takes a metric, so it is not an
/// `LRScheduler` and cannot be put in a SequentialLR or ChainedScheduler).
///
///     std::unique_ptr<torchlr::SchedulerBase> s = torchlr::make_scheduler(optimizer, config);
///     for (int epoch = 0; epoch < epochs; ++epoch) {
///       train_one_epoch();
///       s->step_with(s->takes_metric() ? std::optional<double>(validate()) : std::nullopt);
///     }
class SchedulerBase {
 public:
  virtual ~SchedulerBase();
  SchedulerBase(const SchedulerBase&) = delete;
  SchedulerBase& operator=(const SchedulerBase&) = delete;

  /// The class name, as in PyTorch ("StepLR"); also tags checkpoints.
  virtual std::string name() const = 0;

  /// The optimizer whose param groups the scheduler writes.
  virtual torch::optim::Optimizer& optimizer() const noexcept = 0;

  /// The lr of every group as the last step left it.
  virtual const std::vector<double>& get_last_lr() const noexcept = 0;

  /// How many steps were taken since construction (PyTorch's `last_epoch`).
  virtual int64_t last_epoch() const noexcept = 0;

  /// Whether a step needs a metric (ReduceLROnPlateau's validation loss, say).
  virtual bool takes_metric() const noexcept { return false; }

  /// One step as a generic training loop takes it: a scheduler that takes a metric steps on
  /// `metric` (a missing one is a c10::ValueError); any other takes its plain `step()` and
  /// ignores `metric`.
  virtual void step_with(std::optional<double> metric) = 0;

  /// Writes the scheduler's state, and every group's current lr, to `archive`.
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;

  /// Restores a state written by `save` on a scheduler of the same type and number of groups;
  /// on any error it throws c10::ValueError and changes nothing.
  virtual void load(torch::serialize::InputArchive& archive) = 0;

 protected:
  SchedulerBase() = default;
};

/// `torch::save(scheduler, path)` and `torch::load(scheduler, path)` work through these.
torch::serialize::OutputArchive& operator<<(torch::serialize::OutputArchive& archive,
                                            const SchedulerBase& scheduler);
torch::serialize::InputArchive& operator>>(torch::serialize::InputArchive& archive,
                                           SchedulerBase& scheduler);

}  // namespace torchlr
