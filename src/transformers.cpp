#include <torchlr/transformers.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <utility>

#include <torch/optim/optimizer.h>

#include "internal.h"
#include "lr_access.h"
#include "platform.h"
#include "state_archive_impl.h"

namespace torchlr::transformers {
namespace {

using detail::check_finite;
using detail::check_steps;
using detail::optional_field;
using platform::kPi;

// Python's float `x % y`: the result takes the sign of y.
double py_mod(double x, double y) {
  double r = std::fmod(x, y);
  if (r != 0.0) {
    if ((y < 0) != (r < 0)) r += y;
  } else {
    r = std::copysign(0.0, y);
  }
  return r;
}

// The largest progress `(step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)`
// can reach with steps and counts within ±2^53: 2^54.
constexpr double kMaxProgress = 2.0 * static_cast<double>(detail::kMaxExactInteger);

// transformers' cosines compute cos(π · num_cycles · 2 · progress). A num_cycles that makes the
// argument infinite at some step is refused: Python's math.cos raises on an infinity, where
// std::cos gives NaN, which max(0, ·) would silently turn into an lr of 0. The argument grows
// with the progress (the product rounds monotonically), so checking it at the largest progress
// the schedule can reach (`max_progress`) covers every step.
void check_cycles(const char* scheduler, double num_cycles, double max_progress) {
  check_finite(scheduler, "num_cycles", num_cycles);
  TORCH_CHECK_VALUE(std::isfinite(kPi * num_cycles * 2.0 * max_progress), scheduler, ": num_cycles (", num_cycles,
                    ") is too large: the cosine's argument π · num_cycles · 2 · progress would be infinite for "
                    "progress up to ",
                    max_progress, " (Python's math.cos raises on it)");
}

// transformers' `float(current_step) / float(max(1, num_warmup_steps))`.
double linear_warmup(int64_t step, int64_t warmup) {
  return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
}

// `float(current_step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))`.
double progress(int64_t step, int64_t warmup, int64_t training) {
  return static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, training - warmup));
}

// The optimizer's constructor lr (transformers' `optimizer.defaults["lr"]`).
double constructor_lr(const torch::optim::Optimizer& optimizer) { return optimizer.defaults().get_lr(); }

// transformers' min_lr / min_lr_rate rule (both cosine-with-min-lr schedules), in its order.
double resolve_min_lr_rate(const char* scheduler, const std::optional<double>& min_lr,
                           const std::optional<double>& min_lr_rate, double lr_init) {
  TORCH_CHECK_VALUE(!(min_lr && min_lr_rate), scheduler, ": Only one of min_lr or min_lr_rate should be set");
  if (min_lr) {
    check_finite(scheduler, "min_lr", *min_lr);
    TORCH_CHECK_VALUE(lr_init != 0.0, scheduler, ": min_lr is divided by the optimizer's constructor lr, which is 0");
    const double rate = *min_lr / lr_init;
    TORCH_CHECK_VALUE(std::isfinite(rate), scheduler, ": min_lr (", *min_lr,
                      ") divided by the optimizer's constructor lr (", lr_init,
                      ") must be a finite number (the min_lr_rate in use), but it is ", rate);
    return rate;
  }
  TORCH_CHECK_VALUE(min_lr_rate.has_value(), scheduler,
                    ": One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`");
  check_finite(scheduler, "min_lr_rate", *min_lr_rate);
  return *min_lr_rate;
}

// ---- validation, each scheduler's in transformers' order ------------------------------------

const LinearScheduleOptions& validated(const LinearScheduleOptions& o) {
  check_steps("transformers.linear", "num_warmup_steps", o.num_warmup_steps());
  check_steps("transformers.linear", "num_training_steps", o.num_training_steps());
  return o;
}

const CosineScheduleOptions& validated(const CosineScheduleOptions& o) {
  check_steps("transformers.cosine", "num_warmup_steps", o.num_warmup_steps());
  check_steps("transformers.cosine", "num_training_steps", o.num_training_steps());
  check_cycles("transformers.cosine", o.num_cycles(), kMaxProgress);
  return o;
}

const CosineWithRestartsScheduleOptions& validated(const CosineWithRestartsScheduleOptions& o) {
  check_steps("transformers.cosine_with_restarts", "num_warmup_steps", o.num_warmup_steps());
  check_steps("transformers.cosine_with_restarts", "num_training_steps", o.num_training_steps());
  check_finite("transformers.cosine_with_restarts", "num_cycles", o.num_cycles());
  return o;
}

const PolynomialScheduleOptions& validated(const PolynomialScheduleOptions& o, double lr_init) {
  const char* name = "transformers.polynomial";
  check_steps(name, "num_warmup_steps", o.num_warmup_steps());
  check_steps(name, "num_training_steps", o.num_training_steps());
  check_finite(name, "lr_end", o.lr_end());
  check_finite(name, "power", o.power());
  TORCH_CHECK_VALUE(lr_init > o.lr_end(), name, ": lr_end (", o.lr_end(), ") must be smaller than initial lr (",
                    lr_init, ")");
  check_finite(name, "the optimizer's constructor lr (initial lr, lr_init)", lr_init);
  TORCH_CHECK_VALUE(std::isfinite(lr_init - o.lr_end()), name, ": initial lr (", lr_init, ") - lr_end (", o.lr_end(),
                    ") must be a finite number (transformers' lr_range)");
  // Where transformers would divide by zero once training gets there.
  TORCH_CHECK_VALUE(lr_init != 0.0, name,
                    ": the optimizer's constructor lr (initial lr) is 0, which transformers divides by once warmup ends");
  TORCH_CHECK_VALUE(o.num_training_steps() != o.num_warmup_steps(), name,
                    ": num_training_steps must differ from num_warmup_steps (transformers divides by their difference "
                    "at step num_warmup_steps), but both are ",
                    o.num_training_steps());
  TORCH_CHECK_VALUE(o.power() >= 0.0 || o.num_training_steps() < o.num_warmup_steps(), name,
                    ": power must be non-negative (0 is raised to it at num_training_steps), but got ", o.power());
  return o;
}

const ConstantWithWarmupScheduleOptions& validated(const ConstantWithWarmupScheduleOptions& o) {
  check_steps("transformers.constant_with_warmup", "num_warmup_steps", o.num_warmup_steps());
  return o;
}

const InverseSqrtScheduleOptions& validated(const InverseSqrtScheduleOptions& o) {
  const char* name = "transformers.inverse_sqrt";
  check_steps(name, "num_warmup_steps", o.num_warmup_steps());
  if (o.timescale()) {
    check_steps(name, "timescale", *o.timescale());
    TORCH_CHECK_VALUE(*o.timescale() > 0, name,
                      ": timescale must be positive (transformers divides by it once warmup ends), but got ",
                      *o.timescale());
  } else {
    // The default timescale is num_warmup_steps (when nonzero).
    TORCH_CHECK_VALUE(o.num_warmup_steps() >= 0, name,
                      ": num_warmup_steps must be non-negative when timescale is not given (it is the timescale, "
                      "which transformers divides by), but got ",
                      o.num_warmup_steps());
  }
  return o;
}

int64_t timescale_of(const InverseSqrtScheduleOptions& o) {
  if (o.timescale()) return *o.timescale();
  return o.num_warmup_steps() != 0 ? o.num_warmup_steps() : 10000;
}

const CosineWithMinLrScheduleOptions& validated(const CosineWithMinLrScheduleOptions& o) {
  check_steps("transformers.cosine_with_min_lr", "num_warmup_steps", o.num_warmup_steps());
  check_steps("transformers.cosine_with_min_lr", "num_training_steps", o.num_training_steps());
  check_cycles("transformers.cosine_with_min_lr", o.num_cycles(), kMaxProgress);
  return o;
}

const CosineWarmupWithMinLrScheduleOptions& validated(const CosineWarmupWithMinLrScheduleOptions& o) {
  const char* name = "transformers.cosine_warmup_with_min_lr";
  check_steps(name, "num_warmup_steps", o.num_warmup_steps());
  check_steps(name, "num_training_steps", o.num_training_steps());
  // Its progress `(step - W + 1) / max(1, T - W)`, rounded in double, stays within 2^54 as well.
  check_cycles(name, o.num_cycles(), kMaxProgress);
  if (o.warmup_lr_rate()) check_finite(name, "warmup_lr_rate", *o.warmup_lr_rate());
  return o;
}

const WarmupStableDecayScheduleOptions& validated(const WarmupStableDecayScheduleOptions& o) {
  const char* name = "transformers.warmup_stable_decay";
  TORCH_CHECK_VALUE(o.num_training_steps() || o.num_stable_steps(), name,
                    ": Either num_training_steps or num_stable_steps must be specified.");
  check_steps(name, "num_warmup_steps", o.num_warmup_steps());
  check_steps(name, "num_decay_steps", o.num_decay_steps());
  if (o.num_training_steps()) check_steps(name, "num_training_steps", *o.num_training_steps());
  if (o.num_stable_steps()) check_steps(name, "num_stable_steps", *o.num_stable_steps());
  check_finite(name, "min_lr_ratio", o.min_lr_ratio());
  // The decay's progress `(step - W - S) / max(1, D)` is below 1 where the cosine is taken.
  check_cycles(name, o.num_cycles(), 1.0);
  return o;
}

int64_t stable_steps_of(const WarmupStableDecayScheduleOptions& o) {
  if (o.num_stable_steps()) return *o.num_stable_steps();
  return *o.num_training_steps() - o.num_warmup_steps() - o.num_decay_steps();
}

const GreedyLROptions& validated(const GreedyLROptions& o) {
  const char* name = "transformers.greedy";
  TORCH_CHECK_VALUE(o.factor() < 1.0, name, ": Factor should be < 1.0. (factor = ", o.factor(), ")");
  check_finite(name, "factor", o.factor());
  // transformers divides the lr by it when the metric improves.
  TORCH_CHECK_VALUE(o.factor() != 0.0, name,
                    ": factor must not be 0 (the lr is divided by it when the metric improves)");
  check_finite(name, "threshold", o.threshold());
  check_finite(name, "eps", o.eps());
  for (double m : o.min_lr().values()) check_finite(name, "min_lr", m);
  for (double m : o.max_lr().values()) check_finite(name, "max_lr", m);
  // An empty window divides by zero at the first step.
  TORCH_CHECK_VALUE(!o.smooth() || o.window_size() >= 1, name,
                    ": window_size must be at least 1 when smooth is set, but got ", o.window_size());
  return o;
}

std::vector<double> expand(const PerGroup& value, const char* what, std::size_t groups) {
  if (!value.per_group()) return std::vector<double>(groups, value.values().front());
  TORCH_CHECK_VALUE(value.values().size() == groups, "transformers.greedy: expected ", groups, " ", what, "s, got ",
                    value.values().size());
  return value.values();
}

void steps_fields(StateArchive& archive, int64_t& warmup, int64_t& training) {
  archive.field("num_warmup_steps", warmup);
  archive.field("num_training_steps", training);
}

}  // namespace

// ---- WsdShape -----------------------------------------------------------------------------------

const char* to_string(WsdShape shape) {
  switch (shape) {
    case WsdShape::linear: return "linear";
    case WsdShape::cosine: return "cosine";
    case WsdShape::one_minus_sqrt: return "1-sqrt";
  }
  return "?";
}

void parse_config_enum(const std::string& where, const std::string& text, WsdShape& out) {
  if (text == "linear") {
    out = WsdShape::linear;
  } else if (text == "cosine") {
    out = WsdShape::cosine;
  } else if (text == "1-sqrt") {
    out = WsdShape::one_minus_sqrt;
  } else {
    // transformers' words: "Unknown warmup type: x, expected 'linear', 'cosine' or '1-sqrt'".
    const auto dot = where.rfind('.');
    std::string kind = where.substr(dot == std::string::npos ? 0 : dot + 1);
    if (kind.size() > 5 && kind.compare(kind.size() - 5, 5, "_type") == 0) kind = kind.substr(0, kind.size() - 5);
    C10_THROW_ERROR(ValueError, c10::str(where, ": Unknown ", kind, " type: ", text,
                                         ", expected 'linear', 'cosine' or '1-sqrt'"));
  }
}

// ---- LambdaSchedule -----------------------------------------------------------------------------

LambdaSchedule::LambdaSchedule(torch::optim::Optimizer& optimizer) : LRScheduler(optimizer) {}

double LambdaSchedule::multiplier(int64_t step) const {
  // Within ±2^53 the differences and sums of a step and the counts cannot overflow.
  check_steps(name(), "step", step);
  return multiplier_at(step);
}

void LambdaSchedule::prepare_lrs(bool) { factor_ = multiplier(last_epoch()); }

// LambdaLR's `base_lr * lmbda(last_epoch)`.
double LambdaSchedule::get_lr(std::size_t group) { return base_lrs()[group] * factor_; }

// ---- linear ---------------------------------------------------------------------------------------

LinearSchedule::LinearSchedule(torch::optim::Optimizer& optimizer, const LinearScheduleOptions& options)
    : LambdaSchedule(optimizer), options_(validated(options)) {
  initial_step();
}

double LinearSchedule::multiplier_at(int64_t step) const {
  const int64_t w = options_.num_warmup_steps();
  const int64_t t = options_.num_training_steps();
  if (step < w) return linear_warmup(step, w);
  return std::max(0.0, static_cast<double>(t - step) / static_cast<double>(std::max<int64_t>(1, t - w)));
}

void LinearSchedule::serialize(StateArchive& archive) {
  steps_fields(archive, options_.num_warmup_steps(), options_.num_training_steps());
  if (archive.loading()) validated(options_);
}

// ---- cosine ---------------------------------------------------------------------------------------

CosineSchedule::CosineSchedule(torch::optim::Optimizer& optimizer, const CosineScheduleOptions& options)
    : LambdaSchedule(optimizer), options_(validated(options)) {
  initial_step();
}

double CosineSchedule::multiplier_at(int64_t step) const {
  const int64_t w = options_.num_warmup_steps();
  if (step < w) return linear_warmup(step, w);
  const double p = progress(step, w, options_.num_training_steps());
  // transformers (main) computes it as cosine_with_min_lr with a floor of 0.0.
  double factor = 0.5 * (1.0 + std::cos(kPi * options_.num_cycles() * 2.0 * p));
  factor = factor * (1 - 0.0) + 0.0;
  return std::max(0.0, factor);
}

void CosineSchedule::serialize(StateArchive& archive) {
  steps_fields(archive, options_.num_warmup_steps(), options_.num_training_steps());
  archive.field("num_cycles", options_.num_cycles());
  if (archive.loading()) validated(options_);
}

// ---- cosine_with_restarts -----------------------------------------------------------------------

CosineWithRestartsSchedule::CosineWithRestartsSchedule(torch::optim::Optimizer& optimizer,
                                                       const CosineWithRestartsScheduleOptions& options)
    : LambdaSchedule(optimizer), options_(validated(options)) {
  initial_step();
}

double CosineWithRestartsSchedule::multiplier_at(int64_t step) const {
  const int64_t w = options_.num_warmup_steps();
  if (step < w) return linear_warmup(step, w);
  const double p = progress(step, w, options_.num_training_steps());
  if (p >= 1.0) return 0.0;
  return std::max(0.0, 0.5 * (1.0 + std::cos(kPi * py_mod(options_.num_cycles() * p, 1.0))));
}

void CosineWithRestartsSchedule::serialize(StateArchive& archive) {
  steps_fields(archive, options_.num_warmup_steps(), options_.num_training_steps());
  archive.field("num_cycles", options_.num_cycles());
  if (archive.loading()) validated(options_);
}

// ---- polynomial -----------------------------------------------------------------------------------

PolynomialSchedule::PolynomialSchedule(torch::optim::Optimizer& optimizer, const PolynomialScheduleOptions& options)
    : LambdaSchedule(optimizer),
      options_(validated(options, constructor_lr(optimizer))),
      lr_init_(constructor_lr(optimizer)) {
  initial_step();
}

double PolynomialSchedule::multiplier_at(int64_t step) const {
  const int64_t w = options_.num_warmup_steps();
  const int64_t t = options_.num_training_steps();
  if (step < w) return linear_warmup(step, w);
  if (step > t) return options_.lr_end() / lr_init_;  // as LambdaLR multiplies by lr_init
  const double lr_range = lr_init_ - options_.lr_end();
  const double pct_remaining = 1 - static_cast<double>(step - w) / static_cast<double>(t - w);
  const double decay = lr_range * std::pow(pct_remaining, options_.power()) + options_.lr_end();
  return decay / lr_init_;
}

void PolynomialSchedule::serialize(StateArchive& archive) {
  steps_fields(archive, options_.num_warmup_steps(), options_.num_training_steps());
  archive.field("lr_end", options_.lr_end());
  archive.field("power", options_.power());
  archive.field("lr_init", lr_init_);
  if (archive.loading()) validated(options_, lr_init_);
}

// ---- constant, constant_with_warmup -------------------------------------------------------------

ConstantSchedule::ConstantSchedule(torch::optim::Optimizer& optimizer) : LambdaSchedule(optimizer) { initial_step(); }

double ConstantSchedule::multiplier_at(int64_t) const { return 1.0; }

ConstantWithWarmupSchedule::ConstantWithWarmupSchedule(torch::optim::Optimizer& optimizer,
                                                       const ConstantWithWarmupScheduleOptions& options)
    : LambdaSchedule(optimizer), options_(validated(options)) {
  initial_step();
}

double ConstantWithWarmupSchedule::multiplier_at(int64_t step) const {
  const int64_t w = options_.num_warmup_steps();
  // `float(current_step) / float(max(1.0, num_warmup_steps))`: the same value as the others' warmup.
  if (step < w) return linear_warmup(step, w);
  return 1.0;
}

void ConstantWithWarmupSchedule::serialize(StateArchive& archive) {
  archive.field("num_warmup_steps", options_.num_warmup_steps());
  if (archive.loading()) validated(options_);
}

// ---- inverse_sqrt ---------------------------------------------------------------------------------

InverseSqrtSchedule::InverseSqrtSchedule(torch::optim::Optimizer& optimizer, const InverseSqrtScheduleOptions& options)
    : LambdaSchedule(optimizer), options_(validated(options)), timescale_(timescale_of(options_)) {
  initial_step();
}

double InverseSqrtSchedule::multiplier_at(int64_t step) const {
  const int64_t w = options_.num_warmup_steps();
  if (step < w) return linear_warmup(step, w);
  const int64_t shift = timescale_ - w;
  return 1.0 / std::sqrt(static_cast<double>(step + shift) / static_cast<double>(timescale_));
}

void InverseSqrtSchedule::serialize(StateArchive& archive) {
  archive.field("num_warmup_steps", options_.num_warmup_steps());
  optional_field(archive, "timescale", options_.timescale());
  if (archive.loading()) {
    validated(options_);
    timescale_ = timescale_of(options_);
  }
}

// ---- cosine_with_min_lr ---------------------------------------------------------------------------

CosineWithMinLrSchedule::CosineWithMinLrSchedule(torch::optim::Optimizer& optimizer,
                                                 const CosineWithMinLrScheduleOptions& options)
    : LambdaSchedule(optimizer),
      options_(validated(options)),
      min_lr_rate_(resolve_min_lr_rate("transformers.cosine_with_min_lr", options_.min_lr(), options_.min_lr_rate(),
                                       constructor_lr(optimizer))) {
  initial_step();
}

double CosineWithMinLrSchedule::multiplier_at(int64_t step) const {
  const int64_t w = options_.num_warmup_steps();
  if (step < w) return linear_warmup(step, w);
  const double p = progress(step, w, options_.num_training_steps());
  double factor = 0.5 * (1.0 + std::cos(kPi * options_.num_cycles() * 2.0 * p));
  factor = factor * (1 - min_lr_rate_) + min_lr_rate_;
  return std::max(0.0, factor);
}

void CosineWithMinLrSchedule::serialize(StateArchive& archive) {
  steps_fields(archive, options_.num_warmup_steps(), options_.num_training_steps());
  archive.field("num_cycles", options_.num_cycles());
  optional_field(archive, "min_lr", options_.min_lr());
  optional_field(archive, "min_lr_rate", options_.min_lr_rate());
  // The rate in use, min_lr / L included: the optimizer's constructor lr is not in a checkpoint.
  archive.field("resolved_min_lr_rate", min_lr_rate_);
  if (archive.loading()) {
    validated(options_);
    check_finite("transformers.cosine_with_min_lr", "resolved_min_lr_rate", min_lr_rate_);
  }
}

// ---- cosine_warmup_with_min_lr --------------------------------------------------------------------

CosineWarmupWithMinLrSchedule::CosineWarmupWithMinLrSchedule(torch::optim::Optimizer& optimizer,
                                                             const CosineWarmupWithMinLrScheduleOptions& options)
    : LambdaSchedule(optimizer),
      options_(validated(options)),
      min_lr_rate_(resolve_min_lr_rate("transformers.cosine_warmup_with_min_lr", options_.min_lr(),
                                       options_.min_lr_rate(), constructor_lr(optimizer))) {
  initial_step();
}

double CosineWarmupWithMinLrSchedule::multiplier_at(int64_t step) const {
  // Upstream converts the three counts to float first.
  const double s = static_cast<double>(step);
  const double w = static_cast<double>(options_.num_warmup_steps());
  const double t = static_cast<double>(options_.num_training_steps());
  if (s < w) {
    if (!options_.warmup_lr_rate()) return (s + 1.) / std::max(1., w);
    const double r = *options_.warmup_lr_rate();
    return r + (1.0 - r) * s / std::max(1.0, w - 1);
  }
  const double p = (s - w + 1.) / std::max(1., t - w);
  double factor = 0.5 * (1.0 + std::cos(kPi * options_.num_cycles() * 2.0 * p));
  factor = factor * (1 - min_lr_rate_) + min_lr_rate_;
  return std::max(0.0, factor);
}

void CosineWarmupWithMinLrSchedule::serialize(StateArchive& archive) {
  steps_fields(archive, options_.num_warmup_steps(), options_.num_training_steps());
  archive.field("num_cycles", options_.num_cycles());
  optional_field(archive, "min_lr", options_.min_lr());
  optional_field(archive, "min_lr_rate", options_.min_lr_rate());
  optional_field(archive, "warmup_lr_rate", options_.warmup_lr_rate());
  archive.field("resolved_min_lr_rate", min_lr_rate_);
  if (archive.loading()) {
    validated(options_);
    check_finite("transformers.cosine_warmup_with_min_lr", "resolved_min_lr_rate", min_lr_rate_);
  }
}

// ---- warmup_stable_decay --------------------------------------------------------------------------

WarmupStableDecaySchedule::WarmupStableDecaySchedule(torch::optim::Optimizer& optimizer,
                                                     const WarmupStableDecayScheduleOptions& options)
    : LambdaSchedule(optimizer), options_(validated(options)), num_stable_steps_(stable_steps_of(options_)) {
  if (options_.num_training_steps() && options_.num_stable_steps()) {
    detail::warn("transformers.warmup_stable_decay: Both num_training_steps and num_stable_steps are specified. "
                 "num_stable_steps will be used.");
  }
  initial_step();
}

double WarmupStableDecaySchedule::multiplier_at(int64_t step) const {
  const int64_t w = options_.num_warmup_steps();
  const int64_t s = num_stable_steps_;
  const int64_t d = options_.num_decay_steps();
  const double mu = options_.min_lr_ratio();
  if (step < w) {
    const double p = linear_warmup(step, w);
    double factor = p;
    if (options_.warmup_type() == WsdShape::cosine) {
      factor = 0.5 * (1.0 - std::cos(kPi * p));
    } else if (options_.warmup_type() == WsdShape::one_minus_sqrt) {
      factor = 1.0 - std::sqrt(1.0 - p);
    }
    factor = factor * (1.0 - mu) + mu;
    return std::max(0.0, factor);
  }
  if (step < w + s) return 1.0;
  if (step < w + s + d) {
    const double p = static_cast<double>(step - w - s) / static_cast<double>(std::max<int64_t>(1, d));
    double factor = 1.0 - p;
    if (options_.decay_type() == WsdShape::cosine) {
      factor = 0.5 * (1.0 + std::cos(kPi * options_.num_cycles() * 2.0 * p));
    } else if (options_.decay_type() == WsdShape::one_minus_sqrt) {
      factor = 1.0 - std::sqrt(p);
    }
    factor = factor * (1.0 - mu) + mu;
    return std::max(0.0, factor);
  }
  return mu;
}

void WarmupStableDecaySchedule::serialize(StateArchive& archive) {
  archive.field("num_warmup_steps", options_.num_warmup_steps());
  archive.field("num_decay_steps", options_.num_decay_steps());
  optional_field(archive, "num_training_steps", options_.num_training_steps());
  optional_field(archive, "num_stable_steps", options_.num_stable_steps());
  detail::mode_field(archive, "warmup_type", options_.warmup_type(), name());
  detail::mode_field(archive, "decay_type", options_.decay_type(), name());
  archive.field("min_lr_ratio", options_.min_lr_ratio());
  archive.field("num_cycles", options_.num_cycles());
  if (archive.loading()) {
    validated(options_);
    num_stable_steps_ = stable_steps_of(options_);
  }
}

// ---- GreedyLR -------------------------------------------------------------------------------------

GreedyLR::GreedyLR(torch::optim::Optimizer& optimizer, const GreedyLROptions& options)
    : optimizer_(&optimizer),
      options_(validated(options)),
      min_lrs_(expand(options_.min_lr(), "min_lr", optimizer.param_groups().size())),
      max_lrs_(expand(options_.max_lr(), "max_lr", optimizer.param_groups().size())),
      best_(options_.mode() == PlateauMode::min ? std::numeric_limits<double>::infinity()
                                                : -std::numeric_limits<double>::infinity()),
      reset_start_(options_.reset_start()),
      lr_access_(std::make_unique<detail::LrAccess>()) {
  record_last_lr();
  init_lrs_ = last_lr_;
}

GreedyLR::~GreedyLR() = default;

void GreedyLR::check_group_count() const {
  TORCH_CHECK_VALUE(optimizer_->param_groups().size() == init_lrs_.size(), name(), ": the optimizer has ",
                    optimizer_->param_groups().size(), " param groups, but the scheduler was constructed for ",
                    init_lrs_.size(), "; construct a new scheduler after adding param groups");
}

bool GreedyLR::is_better(double current) const {
  const double t = options_.threshold();
  const bool rel = options_.threshold_mode() == ThresholdMode::rel;
  if (options_.mode() == PlateauMode::min) return rel ? current < best_ * (1.0 - t) : current < best_ - t;
  return rel ? current > best_ * (1.0 + t) : current > best_ + t;
}

void GreedyLR::step(double metric) {
  // Nothing below can fail once the groups are checked, so a step is all or nothing.
  check_group_count();
  double current = metric;
  if (options_.smooth()) {
    // transformers' StreamingAverage: a running sum, the oldest value subtracted when it leaves.
    window_.push_back(current);
    window_sum_ += current;
    if (static_cast<int64_t>(window_.size()) > options_.window_size()) {
      window_sum_ -= window_.front();
      window_.pop_front();
    }
    current = window_sum_ / static_cast<double>(window_.size());
  }
  ++last_epoch_;
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;
    num_good_epochs_ = 0;
  } else if (warmup_counter_ > 0) {
    --warmup_counter_;
    num_bad_epochs_ = 0;
    num_good_epochs_ = 0;
  } else {
    if (is_better(current)) {
      best_ = current;
      num_bad_epochs_ = 0;
      ++num_good_epochs_;
    } else {
      ++num_bad_epochs_;
      num_good_epochs_ = 0;
    }
    if (num_good_epochs_ > options_.patience()) {
      increase_lr();
      warmup_counter_ = options_.warmup();
      num_good_epochs_ = 0;
    } else if (num_bad_epochs_ > options_.patience()) {
      reduce_lr();
      cooldown_counter_ = options_.cooldown();
      num_bad_epochs_ = 0;
    }
  }
  record_last_lr();
}

void GreedyLR::reduce_lr() {
  auto& groups = optimizer_->param_groups();
  lr_access_->sync(groups);
  bool all_at_min = true;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const double old_lr = lr_access_->get(g);
    const double new_lr = std::max(old_lr * options_.factor(), min_lrs_[g]);
    if (old_lr - new_lr > options_.eps()) lr_access_->set(g, new_lr);
    if (lr_access_->get(g) > min_lrs_[g]) all_at_min = false;
  }
  if (all_at_min) {
    // Python's integers do not wrap: at the lowest int64_t the countdown is already due.
    if (reset_start_ > std::numeric_limits<int64_t>::min()) --reset_start_;
    if (reset_start_ <= 0) reset();
  }
}

void GreedyLR::increase_lr() {
  auto& groups = optimizer_->param_groups();
  lr_access_->sync(groups);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const double old_lr = lr_access_->get(g);
    const double new_lr = std::min(old_lr / options_.factor(), max_lrs_[g]);
    if (new_lr - old_lr > options_.eps()) lr_access_->set(g, new_lr);
  }
  reset_start_ = options_.reset_start();
}

void GreedyLR::reset() {
  for (std::size_t g = 0; g < init_lrs_.size(); ++g) lr_access_->set(g, init_lrs_[g]);
  best_ = options_.mode() == PlateauMode::min ? std::numeric_limits<double>::infinity()
                                              : -std::numeric_limits<double>::infinity();
  num_bad_epochs_ = 0;
  num_good_epochs_ = 0;
  cooldown_counter_ = 0;
  warmup_counter_ = 0;
  reset_start_ = options_.reset_start();
  window_.clear();
  window_sum_ = 0.0;
}

void GreedyLR::record_last_lr() {
  auto& groups = optimizer_->param_groups();
  last_lr_.resize(groups.size());
  lr_access_->sync(groups);
  for (std::size_t g = 0; g < groups.size(); ++g) last_lr_[g] = lr_access_->get(g);
}

void GreedyLR::step_with(std::optional<double> metric) {
  TORCH_CHECK_VALUE(metric.has_value(), name(), ": step() missing 1 required positional argument: 'metrics'");
  step(*metric);
}

void GreedyLR::checkpoint(StateArchive& archive) {
  std::string type = name();
  archive.field("type", type);
  TORCH_CHECK_VALUE(type == name(), "cannot load a checkpoint of a ", type, " into a ", name());
  int64_t groups = static_cast<int64_t>(init_lrs_.size());
  archive.field("num_groups", groups);
  TORCH_CHECK_VALUE(groups == static_cast<int64_t>(init_lrs_.size()), name(), ": the checkpoint was saved for ",
                    groups, " param groups, but this scheduler has ", init_lrs_.size());
  detail::mode_field(archive, "mode", options_.mode(), name());
  archive.field("factor", options_.factor());
  archive.field("patience", options_.patience());
  archive.field("threshold", options_.threshold());
  detail::mode_field(archive, "threshold_mode", options_.threshold_mode(), name());
  archive.field("cooldown", options_.cooldown());
  archive.field("warmup", options_.warmup());
  archive.field("eps", options_.eps());
  archive.field("smooth", options_.smooth());
  archive.field("window_size", options_.window_size());
  archive.field("reset_start_original", options_.reset_start());
  archive.field("min_lrs", min_lrs_);
  archive.field("max_lrs", max_lrs_);
  archive.field("init_lrs", init_lrs_);
  archive.field("last_lr", last_lr_);
  archive.field("last_epoch", last_epoch_);
  archive.field("best", best_);
  archive.field("num_bad_epochs", num_bad_epochs_);
  archive.field("num_good_epochs", num_good_epochs_);
  archive.field("cooldown_counter", cooldown_counter_);
  archive.field("warmup_counter", warmup_counter_);
  archive.field("reset_start", reset_start_);
  std::vector<double> window(window_.begin(), window_.end());
  archive.field("window", window);
  if (archive.loading()) window_.assign(window.begin(), window.end());
  archive.field("window_sum", window_sum_);
  if (archive.loading()) {
    const auto n = static_cast<std::size_t>(groups);
    options_.min_lr(min_lrs_).max_lr(max_lrs_);
    validated(options_);
    TORCH_CHECK_VALUE(min_lrs_.size() == n && max_lrs_.size() == n && init_lrs_.size() == n && last_lr_.size() == n,
                      name(), ": the checkpoint's min_lrs/max_lrs/init_lrs/last_lr do not have one value per group");
    TORCH_CHECK_VALUE(!std::isnan(best_), name(), ": the checkpoint holds a NaN best");
    detail::check_all_finite_in_checkpoint(name(), "init_lrs", init_lrs_);
    detail::check_all_finite_in_checkpoint(name(), "last_lr", last_lr_);
    TORCH_CHECK_VALUE(detail::is_valid_count(last_epoch_) && detail::is_valid_count(num_bad_epochs_) &&
                          detail::is_valid_count(num_good_epochs_),
                      name(), ": the checkpoint holds an invalid counter (last_epoch ", last_epoch_,
                      ", num_bad_epochs ", num_bad_epochs_, ", num_good_epochs ", num_good_epochs_, ")");
    TORCH_CHECK_VALUE(!options_.smooth() || static_cast<int64_t>(window_.size()) <= options_.window_size(), name(),
                      ": the checkpoint's smoothing window holds more than window_size values");
  }
  detail::optimizer_lrs_field(archive, *optimizer_, name());
}

void GreedyLR::save(torch::serialize::OutputArchive& archive) const {
  detail::save_state(archive, [this](StateArchive& a) { const_cast<GreedyLR*>(this)->checkpoint(a); });
}

void GreedyLR::load(torch::serialize::InputArchive& archive) {
  check_group_count();
  detail::load_state(archive, [this](StateArchive& a) { checkpoint(a); });
}

}  // namespace torchlr::transformers
