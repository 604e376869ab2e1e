#pragma once

// Schedulers that decay the lr by a fixed rule of the epoch: StepLR, MultiStepLR, ConstantLR,
// LinearLR, ExponentialLR, PolynomialLR. Each follows current PyTorch formula by formula,
// in its recursive (chainable) form for step() and its closed form for step(epoch).

#include <cstdint>
#include <string>
#include <vector>

#include <torch/arg.h>

#include <torchlr/scheduler.h>

namespace torchlr {

/// `StepLR(optimizer, step_size, gamma=0.1)`: lr × gamma every `step_size` epochs.
struct StepLROptions {
  /* implicit */ StepLROptions(int64_t step_size) : step_size_(step_size) {}
  TORCH_ARG(int64_t, step_size);
  TORCH_ARG(double, gamma) = 0.1;
};

class StepLR final : public LRScheduler {
 public:
  StepLR(torch::optim::Optimizer& optimizer, const StepLROptions& options);
  const StepLROptions& options() const noexcept { return options_; }
  std::string name() const override { return "StepLR"; }

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  bool has_closed_form() const override { return true; }
  double get_closed_form_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;

 private:
  StepLROptions options_;
  double factor_ = 1.0;  // this step's: gamma or 1 (chainable), gamma^(epoch // step_size) (closed)
};

/// `MultiStepLR(optimizer, milestones, gamma=0.1)`: lr × gamma at each milestone. Order does not
/// matter and a repeated milestone applies gamma once per occurrence, as in PyTorch.
struct MultiStepLROptions {
  /* implicit */ MultiStepLROptions(std::vector<int64_t> milestones)
      : milestones_(std::move(milestones)) {}
  TORCH_ARG(std::vector<int64_t>, milestones);
  TORCH_ARG(double, gamma) = 0.1;
};

class MultiStepLR final : public LRScheduler {
 public:
  MultiStepLR(torch::optim::Optimizer& optimizer, const MultiStepLROptions& options);
  const MultiStepLROptions& options() const noexcept { return options_; }
  std::string name() const override { return "MultiStepLR"; }

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  bool has_closed_form() const override { return true; }
  double get_closed_form_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;

 private:
  MultiStepLROptions options_;
  double factor_ = 1.0;  // this step's gamma power
  std::vector<int64_t> sorted_milestones_;  // derived from options_, for counting and bisecting
};

/// `ConstantLR(optimizer, factor=1/3, total_iters=5)`: lr × factor until `total_iters`.
struct ConstantLROptions {
  TORCH_ARG(double, factor) = 1.0 / 3.0;
  TORCH_ARG(int64_t, total_iters) = 5;
};

class ConstantLR final : public LRScheduler {
 public:
  explicit ConstantLR(torch::optim::Optimizer& optimizer,
                      const ConstantLROptions& options = ConstantLROptions());
  const ConstantLROptions& options() const noexcept { return options_; }
  std::string name() const override { return "ConstantLR"; }

 protected:
  double get_lr(std::size_t group) override;
  bool has_closed_form() const override { return true; }
  double get_closed_form_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;

 private:
  ConstantLROptions options_;
};

/// `LinearLR(optimizer, start_factor=1/3, end_factor=1.0, total_iters=5)`: the factor moves
/// linearly from `start_factor` to `end_factor` over `total_iters` epochs.
struct LinearLROptions {
  TORCH_ARG(double, start_factor) = 1.0 / 3.0;
  TORCH_ARG(double, end_factor) = 1.0;
  TORCH_ARG(int64_t, total_iters) = 5;
};

class LinearLR final : public LRScheduler {
 public:
  explicit LinearLR(torch::optim::Optimizer& optimizer,
                    const LinearLROptions& options = LinearLROptions());
  const LinearLROptions& options() const noexcept { return options_; }
  std::string name() const override { return "LinearLR"; }

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  bool has_closed_form() const override { return true; }
  double get_closed_form_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;

 private:
  LinearLROptions options_;
  double factor_ = 1.0;  // this step's multiplier (chainable) or fraction of base_lr (closed)
};

/// `ExponentialLR(optimizer, gamma)`: lr × gamma every epoch.
struct ExponentialLROptions {
  /* implicit */ ExponentialLROptions(double gamma) : gamma_(gamma) {}
  TORCH_ARG(double, gamma);
};

class ExponentialLR final : public LRScheduler {
 public:
  ExponentialLR(torch::optim::Optimizer& optimizer, const ExponentialLROptions& options);
  const ExponentialLROptions& options() const noexcept { return options_; }
  std::string name() const override { return "ExponentialLR"; }

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  bool has_closed_form() const override { return true; }
  double get_closed_form_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;

 private:
  ExponentialLROptions options_;
  double factor_ = 1.0;  // gamma^epoch, for the closed form
};

/// `PolynomialLR(optimizer, total_iters=5, power=1.0)`: base_lr × (1 − epoch/total_iters)^power,
/// reaching 0 at `total_iters`.
struct PolynomialLROptions {
  TORCH_ARG(int64_t, total_iters) = 5;
  TORCH_ARG(double, power) = 1.0;
};

class PolynomialLR final : public LRScheduler {
 public:
  explicit PolynomialLR(torch::optim::Optimizer& optimizer,
                        const PolynomialLROptions& options = PolynomialLROptions());
  const PolynomialLROptions& options() const noexcept { return options_; }
  std::string name() const override { return "PolynomialLR"; }

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  bool has_closed_form() const override { return true; }
  double get_closed_form_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;

 private:
  PolynomialLROptions options_;
  double factor_ = 1.0;  // this step's decay factor
};

}  // namespace torchlr
