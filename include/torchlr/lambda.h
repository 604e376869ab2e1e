#pragma once

// Schedulers driven by user functions of the epoch: LambdaLR and MultiplicativeLR.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torchlr/scheduler.h>

namespace torchlr {

/// A function of the epoch (`last_epoch()`), returning a factor.
using LrLambda = std::function<double(int64_t epoch)>;

/// One function for every group, or one per group (PyTorch's `lr_lambda`, a function or a list).
struct LrLambdaOptions {
  /* implicit */ LrLambdaOptions(LrLambda lr_lambda) : lr_lambdas_{std::move(lr_lambda)}, per_group_(false) {}
  /* implicit */ LrLambdaOptions(std::vector<LrLambda> lr_lambdas)
      : lr_lambdas_(std::move(lr_lambdas)), per_group_(true) {}
  const std::vector<LrLambda>& lr_lambdas() const noexcept { return lr_lambdas_; }
  bool per_group() const noexcept { return per_group_; }

 private:
  std::vector<LrLambda> lr_lambdas_;
  bool per_group_;
};

using LambdaLROptions = LrLambdaOptions;
using MultiplicativeLROptions = LrLambdaOptions;

/// `LambdaLR(optimizer, lr_lambda)`: lr = base_lr × lr_lambda(epoch). Not chainable: it
/// ignores the current lr. Functions are not saved in checkpoints (as in PyTorch).
class LambdaLR final : public LRScheduler {
 public:
  LambdaLR(torch::optim::Optimizer& optimizer, const LambdaLROptions& options);
  std::string name() const override { return "LambdaLR"; }

 protected:
  double get_lr(std::size_t group) override;

 private:
  std::vector<LrLambda> lr_lambdas_;
};

/// `MultiplicativeLR(optimizer, lr_lambda)`: lr ← lr × lr_lambda(epoch) every step after the first.
class MultiplicativeLR final : public LRScheduler {
 public:
  MultiplicativeLR(torch::optim::Optimizer& optimizer, const MultiplicativeLROptions& options);
  std::string name() const override { return "MultiplicativeLR"; }

 protected:
  double get_lr(std::size_t group) override;

 private:
  std::vector<LrLambda> lr_lambdas_;
};

}  // namespace torchlr
