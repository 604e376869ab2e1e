#pragma once

// PyTorch's `torch.optim.swa_utils.SWALR`: anneals each group's lr to its SWA lr over
// `anneal_epochs` steps, from whatever lr the group has when SWALR takes over, then holds it. As in
// PyTorch's SWA recipe it is usually the second scheduler of a SequentialLR:
//
//     // SequentialLR(opt, [CosineAnnealingLR(opt, T_max=75), SWALR(opt, swa_lr=0.05)], milestones=[75])
//     auto cosine = std::make_shared<torchlr::CosineAnnealingLR>(optimizer, torchlr::CosineAnnealingLROptions(75));
//     auto swa = std::make_shared<torchlr::SWALR>(optimizer, torchlr::SWALROptions(0.05));
//     torchlr::SequentialLR schedule(optimizer, torchlr::SequentialLROptions({cosine, swa}, {75}));
//
// (Averaging the weights themselves, AveragedModel, is not a scheduler and not part of torchlr.)

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/arg.h>

#include <torchlr/modes.h>
#include <torchlr/per_group.h>
#include <torchlr/scheduler.h>

namespace torchlr {

/// `SWALR(optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos")`.
struct SWALROptions {
  /* implicit */ SWALROptions(PerGroup swa_lr) : swa_lr_(std::move(swa_lr)) {}
  /// The lr each group anneals to: one for all groups, or one per group.
  TORCH_ARG(PerGroup, swa_lr);
  /// Steps the annealing takes; 0 sets the SWA lr at construction.
  TORCH_ARG(int64_t, anneal_epochs) = 10;
  TORCH_ARG(AnnealStrategy, anneal_strategy) = AnnealStrategy::cos;
};

class SWALR final : public LRScheduler {
 public:
  SWALR(torch::optim::Optimizer& optimizer, const SWALROptions& options);
  const SWALROptions& options() const noexcept { return options_; }
  std::string name() const override { return "SWALR"; }
  /// Each group's SWA lr (PyTorch keeps it in the group as `group["swa_lr"]`).
  const std::vector<double>& swa_lrs() const noexcept { return swa_lrs_; }

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;

 private:
  SWALROptions options_;
  std::vector<double> swa_lrs_;
  double previous_alpha_ = 0.0;  // the annealing weight one step ago and now, shared by every group
  double alpha_ = 0.0;
};

}  // namespace torchlr
