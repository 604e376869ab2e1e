#pragma once

// Schedulers made of schedulers: SequentialLR (one after another, switching at milestones) and
// ChainedScheduler (all of them every step). Both own their children through std::shared_ptr
// and nest in each other.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/arg.h>

#include <torchlr/scheduler.h>

namespace torchlr {

using SchedulerList = std::vector<std::shared_ptr<LRScheduler>>;

/// `SequentialLR(optimizer, schedulers, milestones)`: `schedulers[i]` runs from `milestones[i-1]`
/// on; at a milestone the next scheduler restarts at its epoch 0 (closed form where it has one).
struct SequentialLROptions {
  SequentialLROptions(SchedulerList schedulers, std::vector<int64_t> milestones)
      : schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {}
  TORCH_ARG(SchedulerList, schedulers);
  TORCH_ARG(std::vector<int64_t>, milestones);
};

class SequentialLR final : public LRScheduler {
 public:
  SequentialLR(torch::optim::Optimizer& optimizer, const SequentialLROptions& options);
  std::string name() const override { return "SequentialLR"; }

  void step() override;
  /// Not available: PyTorch's SequentialLR.step takes no epoch. Throws c10::ValueError.
  void step(double epoch) override;

  const SchedulerList& schedulers() const noexcept { return schedulers_; }
  const std::vector<int64_t>& milestones() const noexcept { return milestones_; }

 protected:
  double get_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;
  void mark_extra() override;
  void roll_back_extra() override;

 private:
  void update_lr(std::optional<double> epoch) override;
  void undo_initial_step() override;
  SchedulerList schedulers_;
  std::vector<int64_t> milestones_;
};

/// `ChainedScheduler(schedulers, optimizer=None)`: every step, steps each scheduler in order, so
/// chainable schedules multiply. No initial step of its own.
class ChainedScheduler final : public LRScheduler {
 public:
  explicit ChainedScheduler(SchedulerList schedulers);
  ChainedScheduler(torch::optim::Optimizer& optimizer, SchedulerList schedulers);
  std::string name() const override { return "ChainedScheduler"; }

  void step() override;
  /// Not available: PyTorch's ChainedScheduler.step takes no epoch. Throws c10::ValueError.
  void step(double epoch) override;

  const SchedulerList& schedulers() const noexcept { return schedulers_; }

 protected:
  double get_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;
  void mark_extra() override;
  void roll_back_extra() override;

 private:
  void update_lr(std::optional<double> epoch) override;
  void undo_initial_step() override;
  void step_children(std::optional<double> epoch);

  SchedulerList schedulers_;
};

}  // namespace torchlr
