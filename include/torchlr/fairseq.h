#pragma once

// fairseq's `inverse_sqrt` and `tri_stage` lr schedulers (fairseq/optim/lr_scheduler/), with
// fairseq's numbers step for step.
//
// fairseq steps them per update: its Trainer calls `step_update(0)` right after building the
// scheduler and `step_update(num_updates)` after each update. Here construction is
// `step_update(0)`, `step()` the next update, and `step(num_updates)` fairseq's
// `step_update(num_updates)`. As in fairseq, one lr is written to every param group (the
// groups' own lrs are not used); it is `lr`, or the optimizer's constructor lr
// (`optimizer.defaults().get_lr()`) when `lr` is not given. Where fairseq would divide by zero
// or fail, construction refuses with a c10::ValueError naming the argument.
//
//     // --lr-scheduler inverse_sqrt --warmup-updates 4000 --lr 5e-4
//     torchlr::fairseq::InverseSquareRootSchedule s(optimizer,
//         torchlr::fairseq::InverseSquareRootScheduleOptions().warmup_updates(4000).lr(5e-4));

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/arg.h>

#include <torchlr/scheduler.h>

namespace torchlr::fairseq {

/// `inverse_sqrt` (InverseSquareRootSchedule): linear warmup from `warmup_init_lr` to `lr` over
/// `warmup_updates`, then `lr · sqrt(warmup_updates) / sqrt(num_updates)`. A negative
/// warmup_init_lr means 0 (fairseq's default, -1). warmup_updates must be positive.
struct InverseSquareRootScheduleOptions {
  TORCH_ARG(int64_t, warmup_updates) = 4000;
  TORCH_ARG(double, warmup_init_lr) = -1.0;
  /// fairseq's `--lr`, a list of one; empty: the optimizer's constructor lr.
  TORCH_ARG(std::optional<std::vector<double>>, lr) = std::nullopt;
};

class InverseSquareRootSchedule final : public LRScheduler {
 public:
  explicit InverseSquareRootSchedule(torch::optim::Optimizer& optimizer,
                                     const InverseSquareRootScheduleOptions& options = InverseSquareRootScheduleOptions());
  const InverseSquareRootScheduleOptions& options() const noexcept { return options_; }
  std::string name() const override { return "fairseq.inverse_sqrt"; }
  /// The lr at `num_updates` (fairseq's `step_update`).
  double lr_at(int64_t num_updates) const;

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;

 private:
  void derive();

  InverseSquareRootScheduleOptions options_;
  double optimizer_lr_;           // the optimizer's constructor lr, for an absent `lr`
  double peak_lr_ = 0.0;          // lr[0]
  double warmup_init_lr_ = 0.0;   // with the negative default resolved
  double lr_step_ = 0.0;          // (peak − init) / warmup_updates
  double decay_factor_ = 0.0;     // peak · warmup_updates^0.5
  double lr_ = 0.0;               // this step's
};

/// `tri_stage` (TriStageLRSchedule): warmup from `init_lr_scale · lr` to `lr` over
/// `warmup_steps`, `hold_steps` at `lr`, an exponential decay to `final_lr_scale · lr` over
/// `decay_steps` (inclusive), then `final_lr_scale · lr`. With `phase_ratio` the three lengths
/// are `int(max_update · ratio)`, and the ratios must add up to exactly 1 (summed as Python 3.12
/// does). decay_steps must be positive and final_lr_scale above 0.
struct TriStageLRScheduleOptions {
  TORCH_ARG(int64_t, warmup_steps) = 0;
  TORCH_ARG(int64_t, hold_steps) = 0;
  TORCH_ARG(int64_t, decay_steps) = 0;
  TORCH_ARG(std::optional<std::vector<double>>, phase_ratio) = std::nullopt;
  TORCH_ARG(double, init_lr_scale) = 0.01;
  TORCH_ARG(double, final_lr_scale) = 0.01;
  TORCH_ARG(int64_t, max_update) = 0;
  /// fairseq's `--lr`, a list of one; empty: the optimizer's constructor lr.
  TORCH_ARG(std::optional<std::vector<double>>, lr) = std::nullopt;
};

class TriStageLRSchedule final : public LRScheduler {
 public:
  explicit TriStageLRSchedule(torch::optim::Optimizer& optimizer,
                              const TriStageLRScheduleOptions& options = TriStageLRScheduleOptions());
  const TriStageLRScheduleOptions& options() const noexcept { return options_; }
  std::string name() const override { return "fairseq.tri_stage"; }
  /// The three phases' lengths in use (from phase_ratio when it is given).
  int64_t warmup_steps() const noexcept { return warmup_steps_; }
  int64_t hold_steps() const noexcept { return hold_steps_; }
  int64_t decay_steps() const noexcept { return decay_steps_; }
  /// The lr at `num_updates` (fairseq's `step_update`).
  double lr_at(int64_t num_updates) const;

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;

 private:
  void derive();

  TriStageLRScheduleOptions options_;
  double optimizer_lr_;  // the optimizer's constructor lr, for an absent `lr`
  double peak_lr_ = 0.0;
  double init_lr_ = 0.0;
  double final_lr_ = 0.0;
  int64_t warmup_steps_ = 0;
  int64_t hold_steps_ = 0;
  int64_t decay_steps_ = 0;
  double warmup_rate_ = 0.0;
  double decay_factor_ = 0.0;
  double lr_ = 0.0;  // this step's
};

}  // namespace torchlr::fairseq
