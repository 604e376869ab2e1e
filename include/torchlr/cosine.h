#pragma once

// Cosine schedules: CosineAnnealingLR (PyTorch's recursive form) and
// CosineAnnealingWarmRestarts (SGDR, with fractional step(epoch)).

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>

#include <torch/arg.h>

#include <torchlr/scheduler.h>

namespace torchlr {

/// `CosineAnnealingLR(optimizer, T_max, eta_min=0.0)`. Not clamped: past `T_max` the lr rises
/// again with period 2·T_max, exactly as PyTorch's recursion does.
struct CosineAnnealingLROptions {
  /* implicit */ CosineAnnealingLROptions(int64_t T_max) : T_max_(T_max) {}
  TORCH_ARG(int64_t, T_max);
  TORCH_ARG(double, eta_min) = 0.0;
};

class CosineAnnealingLR final : public LRScheduler {
 public:
  CosineAnnealingLR(torch::optim::Optimizer& optimizer, const CosineAnnealingLROptions& options);
  const CosineAnnealingLROptions& options() const noexcept { return options_; }
  std::string name() const override { return "CosineAnnealingLR"; }

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  bool has_closed_form() const override { return true; }
  double get_closed_form_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;

 private:
  CosineAnnealingLROptions options_;
  // This step's branch of PyTorch's get_lr and the cosine term it needs.
  enum class Branch { keep, closed, guard, ratio } branch_ = Branch::keep;
  double term_ = 0.0;
};

/// `CosineAnnealingWarmRestarts(optimizer, T_0, T_mult=1, eta_min=0.0)`. `step(epoch)` accepts
/// fractional epochs (e.g. `epoch + batch / batches_per_epoch`) and may be interleaved with step().
struct CosineAnnealingWarmRestartsOptions {
  /* implicit */ CosineAnnealingWarmRestartsOptions(int64_t T_0) : T_0_(T_0) {}
  TORCH_ARG(int64_t, T_0);
  TORCH_ARG(int64_t, T_mult) = 1;
  TORCH_ARG(double, eta_min) = 0.0;
};

class CosineAnnealingWarmRestarts final : public LRScheduler {
 public:
  CosineAnnealingWarmRestarts(torch::optim::Optimizer& optimizer,
                              const CosineAnnealingWarmRestartsOptions& options);
  const CosineAnnealingWarmRestartsOptions& options() const noexcept { return options_; }
  std::string name() const override { return "CosineAnnealingWarmRestarts"; }

  void step() override;
  void step(double epoch) override;

  /// Epochs since the last restart (may be fractional) and the current cycle length.
  double T_cur() const noexcept { return T_cur_; }
  double T_i() const noexcept { return T_i_; }

 protected:
  void prepare_lrs(bool closed_form) override;
  double get_lr(std::size_t group) override;
  void serialize(StateArchive& archive) override;
  void mark_extra() override { marked_ = {T_i_, T_cur_}; }
  void roll_back_extra() override { std::tie(T_i_, T_cur_) = marked_; }

 private:
  void advance(std::optional<double> epoch);

  CosineAnnealingWarmRestartsOptions options_;
  double T_i_;
  double T_cur_ = -1.0;
  std::pair<double, double> marked_{0.0, 0.0};  // T_i and T_cur at mark_step
  double term_ = 0.0;  // 1 + cos(π·T_cur/T_i), this step's
};

}  // namespace torchlr
