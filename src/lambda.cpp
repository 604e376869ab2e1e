#include <torchlr/lambda.h>

#include <torch/optim/optimizer.h>

#include "internal.h"

namespace torchlr {
namespace {

std::vector<LrLambda> one_per_group(const char* scheduler, const LrLambdaOptions& options,
                                    std::size_t groups) {
  const auto& given = options.lr_lambdas();
  std::vector<LrLambda> lambdas;
  if (options.per_group()) {
    TORCH_CHECK_VALUE(given.size() == groups, scheduler, ": Expected ", groups,
                      " lr_lambdas, but got ", given.size());
    lambdas = given;
  } else {
    lambdas.assign(groups, given.front());
  }
  for (std::size_t i = 0; i < lambdas.size(); ++i) {
    TORCH_CHECK_VALUE(static_cast<bool>(lambdas[i]), scheduler,
                      ": lr_lambda should be a function, but lr_lambda[", i, "] is empty");
  }
  return lambdas;
}

}  // namespace

LambdaLR::LambdaLR(torch::optim::Optimizer& optimizer, const LambdaLROptions& options)
    : LRScheduler(optimizer),
      lr_lambdas_(one_per_group("LambdaLR", options, optimizer.param_groups().size())) {
  initial_step();
}

double LambdaLR::get_lr(std::size_t group) {
  return base_lrs()[group] * lr_lambdas_[group](last_epoch());
}

MultiplicativeLR::MultiplicativeLR(torch::optim::Optimizer& optimizer,
                                   const MultiplicativeLROptions& options)
    : LRScheduler(optimizer),
      lr_lambdas_(one_per_group("MultiplicativeLR", options, optimizer.param_groups().size())) {
  initial_step();
}

double MultiplicativeLR::get_lr(std::size_t group) {
  if (is_initial()) return group_lr(group);
  return group_lr(group) * lr_lambdas_[group](last_epoch());
}

}  // namespace torchlr
