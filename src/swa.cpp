#include <torchlr/swa.h>

#include <algorithm>
#include <cmath>

#include <c10/util/Exception.h>
#include <torch/optim/optimizer.h>

#include "internal.h"
#include "platform.h"

namespace torchlr {
namespace {

double clamp01(double x) { return std::max(0.0, std::min(1.0, x)); }

}  // namespace

SWALR::SWALR(torch::optim::Optimizer& optimizer, const SWALROptions& options)
    : LRScheduler(optimizer),
      options_(options),
      swa_lrs_(options.swa_lr().expand("swa_lr", optimizer.param_groups().size())) {
  for (std::size_t g = 0; g < swa_lrs_.size(); ++g) {
    TORCH_CHECK_VALUE(std::isfinite(swa_lrs_[g]), "SWALR: swa_lr must be finite, but got ", swa_lrs_[g],
                      " for param group ", g);
  }
  TORCH_CHECK_VALUE(options_.anneal_epochs() >= 0, "anneal_epochs must be equal or greater than 0, got ",
                    options_.anneal_epochs());
  initial_step();
}

// PyTorch's get_lr: the step is counted by calls (`_step_count - 1`), not by last_epoch, so a
// SequentialLR's switch to SWALR is its first step; both weights are shared by every group.
void SWALR::prepare_lrs(bool /*closed_form*/) {
  int64_t step = step_count() - 1;
  if (options_.anneal_epochs() == 0) step = std::max<int64_t>(1, step);
  const double span = static_cast<double>(std::max<int64_t>(1, options_.anneal_epochs()));
  const bool cosine = options_.anneal_strategy() == AnnealStrategy::cos;
  const auto anneal = [cosine](double t) { return cosine ? (1 - std::cos(platform::kPi * t)) / 2 : t; };
  previous_alpha_ = anneal(clamp01(static_cast<double>(step - 1) / span));
  alpha_ = anneal(clamp01(static_cast<double>(step) / span));
}

double SWALR::get_lr(std::size_t group) {
  const double swa_lr = swa_lrs_[group];
  // The lr the annealing started from, rebuilt from the group's current lr (PyTorch's
  // _get_initial_lr), so SWALR anneals from whatever lr the group had when it took over.
  const double start = previous_alpha_ == 1 ? swa_lr : (group_lr(group) - previous_alpha_ * swa_lr) / (1 - previous_alpha_);
  return swa_lr * alpha_ + start * (1 - alpha_);
}

void SWALR::serialize(StateArchive& archive) {
  archive.field("swa_lrs", swa_lrs_);
  archive.field("anneal_epochs", options_.anneal_epochs());
  detail::mode_field(archive, "anneal_strategy", options_.anneal_strategy(), name());
  if (archive.loading()) {
    TORCH_CHECK_VALUE(swa_lrs_.size() == num_groups(), "SWALR: the checkpoint has ", swa_lrs_.size(),
                      " swa_lrs, but the optimizer has ", num_groups(), " param groups");
    detail::check_all_finite_in_checkpoint(name(), "swa_lrs", swa_lrs_);
    options_.swa_lr(swa_lrs_);  // options() agrees with what the checkpoint set
    TORCH_CHECK_VALUE(options_.anneal_epochs() >= 0, "SWALR: the checkpoint's anneal_epochs is negative: ",
                      options_.anneal_epochs());
  }
}

}  // namespace torchlr
