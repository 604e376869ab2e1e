#include <torchlr/fairseq.h>

#include <cmath>

#include <torch/optim/optimizer.h>

#include "internal.h"

namespace torchlr::fairseq {
namespace {

using detail::check_finite;
using detail::check_steps;

// fairseq's `lr`: a list of one, or the optimizer's constructor lr when absent.
double peak_lr_of(const char* scheduler, const char* fixed_hint, const std::optional<std::vector<double>>& lr,
                  double optimizer_lr) {
  if (!lr) {
    check_finite(scheduler, "the optimizer's constructor lr (the lr when lr is not given)", optimizer_lr);
    return optimizer_lr;
  }
  TORCH_CHECK_VALUE(lr->size() <= 1, scheduler, ": Cannot use a fixed learning rate schedule with ", fixed_hint,
                    ". Consider --lr-scheduler=fixed instead.");
  TORCH_CHECK_VALUE(lr->size() == 1, scheduler, ": lr must hold one value, but it is empty");
  check_finite(scheduler, "lr", lr->front());
  return lr->front();
}

// Python 3.12's sum() of floats: Neumaier's compensated summation, which fairseq's
// `sum(phase_ratio) == 1` check relies on ((0.7, 0.2, 0.1) passes).
double python_sum(const std::vector<double>& values) {
  if (values.empty()) return 0.0;
  double sum = values.front();
  double c = 0.0;
  for (std::size_t i = 1; i < values.size(); ++i) {
    const double x = values[i];
    const double t = sum + x;
    if (std::abs(sum) >= std::abs(x)) {
      c += (sum - t) + x;
    } else {
      c += (x - t) + sum;
    }
    sum = t;
  }
  if (c != 0.0 && std::isfinite(c)) sum += c;
  return sum;
}

}  // namespace

// ---- inverse_sqrt ---------------------------------------------------------------------------------

InverseSquareRootSchedule::InverseSquareRootSchedule(torch::optim::Optimizer& optimizer,
                                                     const InverseSquareRootScheduleOptions& options)
    : LRScheduler(optimizer), options_(options), optimizer_lr_(optimizer.defaults().get_lr()) {
  derive();
  initial_step();
}

void InverseSquareRootSchedule::derive() {
  const char* name = "fairseq.inverse_sqrt";
  peak_lr_ = peak_lr_of(name, "inverse_sqrt", options_.lr(), optimizer_lr_);
  check_finite(name, "warmup_init_lr", options_.warmup_init_lr());
  const int64_t w = options_.warmup_updates();
  // fairseq divides by warmup_updates at construction, and takes its square root.
  TORCH_CHECK_VALUE(w > 0, name, ": warmup_updates must be positive (fairseq divides by it), but got ", w);
  check_steps(name, "warmup_updates", w);
  warmup_init_lr_ = options_.warmup_init_lr() < 0 ? (w > 0 ? 0.0 : peak_lr_) : options_.warmup_init_lr();
  lr_step_ = (peak_lr_ - warmup_init_lr_) / static_cast<double>(w);
  TORCH_CHECK_VALUE(std::isfinite(lr_step_), name, ": (lr - warmup_init_lr) / warmup_updates must be a finite number, "
                    "but it is ", lr_step_, " (lr ", peak_lr_, ", warmup_init_lr ", warmup_init_lr_, ")");
  decay_factor_ = peak_lr_ * std::pow(static_cast<double>(w), 0.5);
  TORCH_CHECK_VALUE(std::isfinite(decay_factor_), name, ": lr × sqrt(warmup_updates) must be a finite number, but it is ",
                    decay_factor_, " (lr ", peak_lr_, ", warmup_updates ", w, ")");
}

double InverseSquareRootSchedule::lr_at(int64_t num_updates) const {
  if (num_updates < options_.warmup_updates()) return warmup_init_lr_ + static_cast<double>(num_updates) * lr_step_;
  return decay_factor_ * std::pow(static_cast<double>(num_updates), -0.5);
}

void InverseSquareRootSchedule::prepare_lrs(bool) { lr_ = lr_at(last_epoch()); }

// One lr for every group (fairseq's optimizer.set_lr).
double InverseSquareRootSchedule::get_lr(std::size_t) { return lr_; }

void InverseSquareRootSchedule::serialize(StateArchive& archive) {
  archive.field("warmup_updates", options_.warmup_updates());
  archive.field("warmup_init_lr", options_.warmup_init_lr());
  detail::optional_field(archive, "lr", options_.lr());
  archive.field("optimizer_lr", optimizer_lr_);
  if (archive.loading()) derive();
}

// ---- tri_stage ------------------------------------------------------------------------------------

TriStageLRSchedule::TriStageLRSchedule(torch::optim::Optimizer& optimizer, const TriStageLRScheduleOptions& options)
    : LRScheduler(optimizer), options_(options), optimizer_lr_(optimizer.defaults().get_lr()) {
  derive();
  initial_step();
}

void TriStageLRSchedule::derive() {
  const char* name = "fairseq.tri_stage";
  peak_lr_ = peak_lr_of(name, "tri-stage lr", options_.lr(), optimizer_lr_);
  check_finite(name, "init_lr_scale", options_.init_lr_scale());
  check_finite(name, "final_lr_scale", options_.final_lr_scale());
  init_lr_ = options_.init_lr_scale() * peak_lr_;
  TORCH_CHECK_VALUE(std::isfinite(init_lr_), name, ": init_lr_scale × lr must be a finite number, but it is ", init_lr_,
                    " (init_lr_scale ", options_.init_lr_scale(), ", lr ", peak_lr_, ")");
  final_lr_ = options_.final_lr_scale() * peak_lr_;
  TORCH_CHECK_VALUE(std::isfinite(final_lr_), name, ": final_lr_scale × lr must be a finite number, but it is ",
                    final_lr_, " (final_lr_scale ", options_.final_lr_scale(), ", lr ", peak_lr_, ")");
  const double limit = static_cast<double>(detail::kMaxExactInteger);
  if (options_.phase_ratio()) {
    const auto& ratio = *options_.phase_ratio();
    TORCH_CHECK_VALUE(ratio.size() == 3, name, ": phase_ratio must hold 3 numbers (warmup, hold, decay), but got ",
                      ratio.size());
    for (double r : ratio) check_finite(name, "phase_ratio", r);
    TORCH_CHECK_VALUE(options_.max_update() > 0, name, ": max_update must be positive with phase_ratio, but got ",
                      options_.max_update());
    TORCH_CHECK_VALUE(python_sum(ratio) == 1.0, name, ": phase ratios must add up to 1 (phase_ratio = [", ratio[0],
                      ", ", ratio[1], ", ", ratio[2], "])");
    int64_t* steps[3] = {&warmup_steps_, &hold_steps_, &decay_steps_};
    for (std::size_t i = 0; i < 3; ++i) {
      const double product = static_cast<double>(options_.max_update()) * ratio[i];
      TORCH_CHECK_VALUE(std::abs(product) <= limit, name, ": max_update × phase_ratio[", i,
                        "] must be within ±2^53, but got ", product);
      *steps[i] = static_cast<int64_t>(product);  // Python's int(): truncation
    }
  } else {
    warmup_steps_ = options_.warmup_steps();
    hold_steps_ = options_.hold_steps();
    decay_steps_ = options_.decay_steps();
    check_steps(name, "warmup_steps", warmup_steps_);
    check_steps(name, "hold_steps", hold_steps_);
    check_steps(name, "decay_steps", decay_steps_);
  }
  TORCH_CHECK_VALUE(warmup_steps_ + hold_steps_ + decay_steps_ > 0, name, ": please specify steps or phase_ratio");
  warmup_rate_ = warmup_steps_ != 0 ? (peak_lr_ - init_lr_) / static_cast<double>(warmup_steps_) : 0.0;
  TORCH_CHECK_VALUE(std::isfinite(warmup_rate_), name,
                    ": (lr - init_lr_scale × lr) / warmup_steps must be a finite number, but it is ", warmup_rate_,
                    " (lr ", peak_lr_, ", init_lr_scale ", options_.init_lr_scale(), ")");
  // fairseq: -math.log(final_lr_scale) / decay_steps.
  TORCH_CHECK_VALUE(options_.final_lr_scale() > 0.0, name,
                    ": final_lr_scale must be positive (fairseq takes its logarithm), but got ",
                    options_.final_lr_scale());
  TORCH_CHECK_VALUE(decay_steps_ != 0, name,
                    ": decay_steps must not be 0 (fairseq divides by it)",
                    options_.phase_ratio() ? " (from phase_ratio and max_update)" : "");
  decay_factor_ = -std::log(options_.final_lr_scale()) / static_cast<double>(decay_steps_);
}

double TriStageLRSchedule::lr_at(int64_t n) const {
  if (n < warmup_steps_) return init_lr_ + warmup_rate_ * static_cast<double>(n);
  int64_t offset = warmup_steps_;
  if (n < offset + hold_steps_) return peak_lr_;
  offset += hold_steps_;
  if (n <= offset + decay_steps_) return peak_lr_ * std::exp(-decay_factor_ * static_cast<double>(n - offset));
  return final_lr_;
}

void TriStageLRSchedule::prepare_lrs(bool) { lr_ = lr_at(last_epoch()); }

double TriStageLRSchedule::get_lr(std::size_t) { return lr_; }

void TriStageLRSchedule::serialize(StateArchive& archive) {
  archive.field("warmup_steps", options_.warmup_steps());
  archive.field("hold_steps", options_.hold_steps());
  archive.field("decay_steps", options_.decay_steps());
  detail::optional_field(archive, "phase_ratio", options_.phase_ratio());
  archive.field("init_lr_scale", options_.init_lr_scale());
  archive.field("final_lr_scale", options_.final_lr_scale());
  archive.field("max_update", options_.max_update());
  detail::optional_field(archive, "lr", options_.lr());
  archive.field("optimizer_lr", optimizer_lr_);
  if (archive.loading()) derive();
}

}  // namespace torchlr::fairseq
