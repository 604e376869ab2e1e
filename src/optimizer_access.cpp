#include "internal.h"

#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/lbfgs.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

namespace torchlr::detail {

bool optimizer_creates_state_on_step(const torch::optim::Optimizer& optimizer) {
  // Adagrad fills its state at construction, so an empty state says nothing about it; SGD only
  // keeps a momentum buffer when momentum is on.
  for (const auto& group : optimizer.param_groups()) {
    const auto& options = group.options();
    if (const auto* sgd = dynamic_cast<const torch::optim::SGDOptions*>(&options)) {
      if (sgd->momentum() != 0) return true;
      continue;
    }
    if (dynamic_cast<const torch::optim::AdamOptions*>(&options) ||
        dynamic_cast<const torch::optim::AdamWOptions*>(&options) ||
        dynamic_cast<const torch::optim::RMSpropOptions*>(&options) ||
        dynamic_cast<const torch::optim::LBFGSOptions*>(&options)) {
      return true;
    }
  }
  return false;
}

}  // namespace torchlr::detail
