#include <torchlr/decay.h>

#include <algorithm>
#include <cmath>

#include <torch/optim/optimizer.h>

#include "internal.h"

namespace torchlr {
namespace {

using detail::check_finite;

const StepLROptions& validated(const StepLROptions& o) {
  TORCH_CHECK_VALUE(o.step_size() > 0, "StepLR: step_size must be a positive integer, but got ",
                    o.step_size());
  check_finite("StepLR", "gamma", o.gamma());
  return o;
}

const MultiStepLROptions& validated(const MultiStepLROptions& o) {
  check_finite("MultiStepLR", "gamma", o.gamma());
  return o;
}

const ConstantLROptions& validated(const ConstantLROptions& o) {
  TORCH_CHECK_VALUE(o.factor() >= 0.0 && o.factor() <= 1.0,
                    "ConstantLR: Constant multiplicative factor expected to be between 0 and 1. "
                    "(factor = ", o.factor(), ")");
  // PyTorch divides by factor when the constant phase ends.
  TORCH_CHECK_VALUE(o.factor() > 0.0,
                    "ConstantLR: factor must be greater than 0, since the lr is divided by it "
                    "at total_iters, but got ", o.factor());
  TORCH_CHECK_VALUE(o.total_iters() >= 0,
                    "ConstantLR: total_iters must be a non-negative integer, but got ",
                    o.total_iters());
  return o;
}

const LinearLROptions& validated(const LinearLROptions& o) {
  TORCH_CHECK_VALUE(o.start_factor() > 0.0 && o.start_factor() <= 1.0,
                    "LinearLR: Starting multiplicative factor expected to be greater than 0 and "
                    "less or equal to 1. (start_factor = ", o.start_factor(), ")");
  TORCH_CHECK_VALUE(o.end_factor() >= 0.0 && o.end_factor() <= 1.0,
                    "LinearLR: Ending multiplicative factor expected to be between 0 and 1. "
                    "(end_factor = ", o.end_factor(), ")");
  TORCH_CHECK_VALUE(o.total_iters() >= 0,
                    "LinearLR: total_iters must be a non-negative integer, but got ",
                    o.total_iters());
  return o;
}

const ExponentialLROptions& validated(const ExponentialLROptions& o) {
  check_finite("ExponentialLR", "gamma", o.gamma());
  return o;
}

const PolynomialLROptions& validated(const PolynomialLROptions& o) {
  TORCH_CHECK_VALUE(o.total_iters() > 0,
                    "PolynomialLR: total_iters must be a positive integer, but got ",
                    o.total_iters());
  check_finite("PolynomialLR", "power", o.power());
  // 0 ** negative power divides by zero when the lr reaches 0.
  TORCH_CHECK_VALUE(o.power() >= 0.0, "PolynomialLR: power must be non-negative, but got ",
                    o.power());
  return o;
}

}  // namespace

// ---- StepLR ---------------------------------------------------------------------------------

StepLR::StepLR(torch::optim::Optimizer& optimizer, const StepLROptions& options)
    : LRScheduler(optimizer), options_(validated(options)) {
  initial_step();
}

void StepLR::prepare_lrs(bool closed_form) {
  const int64_t e = last_epoch();
  if (closed_form) {
    factor_ = std::pow(options_.gamma(), static_cast<double>(detail::floor_div(e, options_.step_size())));
  } else {
    factor_ = (e == 0 || detail::floor_mod(e, options_.step_size()) != 0) ? 1.0 : options_.gamma();
  }
}

// lr · 1.0 is exactly lr, so the steps that keep the lr need no branch of their own.
double StepLR::get_lr(std::size_t group) { return group_lr(group) * factor_; }

double StepLR::get_closed_form_lr(std::size_t group) { return base_lrs()[group] * factor_; }

void StepLR::serialize(StateArchive& archive) {
  archive.field("step_size", options_.step_size());
  archive.field("gamma", options_.gamma());
  if (archive.loading()) validated(options_);
}

// ---- MultiStepLR ----------------------------------------------------------------------------

MultiStepLR::MultiStepLR(torch::optim::Optimizer& optimizer, const MultiStepLROptions& options)
    : LRScheduler(optimizer),
      options_(validated(options)),
      sorted_milestones_(options_.milestones()) {
  std::sort(sorted_milestones_.begin(), sorted_milestones_.end());
  initial_step();
}

void MultiStepLR::prepare_lrs(bool closed_form) {
  const auto begin = sorted_milestones_.begin();
  const auto end = sorted_milestones_.end();
  if (closed_form) {
    const auto passed = std::upper_bound(begin, end, last_epoch()) - begin;
    factor_ = std::pow(options_.gamma(), static_cast<double>(passed));
  } else {
    const auto range = std::equal_range(begin, end, last_epoch());
    const auto count = range.second - range.first;
    factor_ = count == 0 ? 1.0 : std::pow(options_.gamma(), static_cast<double>(count));
  }
}

double MultiStepLR::get_lr(std::size_t group) { return group_lr(group) * factor_; }

double MultiStepLR::get_closed_form_lr(std::size_t group) { return base_lrs()[group] * factor_; }

void MultiStepLR::serialize(StateArchive& archive) {
  archive.field("milestones", options_.milestones());
  archive.field("gamma", options_.gamma());
  if (archive.loading()) {
    validated(options_);
    sorted_milestones_ = options_.milestones();
    std::sort(sorted_milestones_.begin(), sorted_milestones_.end());
  }
}

// ---- ConstantLR -----------------------------------------------------------------------------

ConstantLR::ConstantLR(torch::optim::Optimizer& optimizer, const ConstantLROptions& options)
    : LRScheduler(optimizer), options_(validated(options)) {
  initial_step();
}

double ConstantLR::get_lr(std::size_t group) {
  const int64_t e = last_epoch();
  if (e == 0) return group_lr(group) * options_.factor();
  if (e != options_.total_iters()) return group_lr(group);
  return group_lr(group) * (1.0 / options_.factor());
}

double ConstantLR::get_closed_form_lr(std::size_t group) {
  const double after = last_epoch() >= options_.total_iters() ? 1.0 : 0.0;
  return base_lrs()[group] * (options_.factor() + after * (1 - options_.factor()));
}

void ConstantLR::serialize(StateArchive& archive) {
  archive.field("factor", options_.factor());
  archive.field("total_iters", options_.total_iters());
  if (archive.loading()) validated(options_);
}

// ---- LinearLR -------------------------------------------------------------------------------

LinearLR::LinearLR(torch::optim::Optimizer& optimizer, const LinearLROptions& options)
    : LRScheduler(optimizer), options_(validated(options)) {
  initial_step();
}

void LinearLR::prepare_lrs(bool closed_form) {
  const int64_t e = last_epoch();
  const double start = options_.start_factor();
  const double end = options_.end_factor();
  const double total = static_cast<double>(options_.total_iters());
  if (closed_form) {
    TORCH_CHECK_VALUE(options_.total_iters() > 0,
                      "LinearLR: step(epoch) uses the closed form, which divides by total_iters; "
                      "it is undefined for total_iters = 0");
    const double reached = static_cast<double>(std::min(options_.total_iters(), e));
    factor_ = start + (end - start) * reached / total;
  } else if (e == 0) {
    factor_ = start;
  } else if (is_initial() || e > options_.total_iters()) {
    factor_ = 1.0;
  } else {
    factor_ = 1.0 + (end - start) / (total * start + static_cast<double>(e - 1) * (end - start));
  }
}

double LinearLR::get_lr(std::size_t group) { return group_lr(group) * factor_; }

double LinearLR::get_closed_form_lr(std::size_t group) { return base_lrs()[group] * factor_; }

void LinearLR::serialize(StateArchive& archive) {
  archive.field("start_factor", options_.start_factor());
  archive.field("end_factor", options_.end_factor());
  archive.field("total_iters", options_.total_iters());
  if (archive.loading()) validated(options_);
}

// ---- ExponentialLR --------------------------------------------------------------------------

ExponentialLR::ExponentialLR(torch::optim::Optimizer& optimizer,
                             const ExponentialLROptions& options)
    : LRScheduler(optimizer), options_(validated(options)) {
  initial_step();
}

double ExponentialLR::get_lr(std::size_t group) {
  if (is_initial()) return group_lr(group);
  return group_lr(group) * options_.gamma();
}

void ExponentialLR::prepare_lrs(bool closed_form) {
  if (closed_form) factor_ = std::pow(options_.gamma(), static_cast<double>(last_epoch()));
}

double ExponentialLR::get_closed_form_lr(std::size_t group) { return base_lrs()[group] * factor_; }

void ExponentialLR::serialize(StateArchive& archive) {
  archive.field("gamma", options_.gamma());
  if (archive.loading()) validated(options_);
}

// ---- PolynomialLR ---------------------------------------------------------------------------

PolynomialLR::PolynomialLR(torch::optim::Optimizer& optimizer, const PolynomialLROptions& options)
    : LRScheduler(optimizer), options_(validated(options)) {
  initial_step();
}

void PolynomialLR::prepare_lrs(bool closed_form) {
  const int64_t e = last_epoch();
  const double total = static_cast<double>(options_.total_iters());
  if (closed_form) {
    const double reached = static_cast<double>(std::min(options_.total_iters(), e));
    factor_ = std::pow(1.0 - reached / total, options_.power());
  } else if (is_initial() || e > options_.total_iters()) {
    factor_ = 1.0;
  } else {
    factor_ = std::pow((1.0 - static_cast<double>(e) / total) / (1.0 - static_cast<double>(e - 1) / total),
                       options_.power());
  }
}

double PolynomialLR::get_lr(std::size_t group) { return group_lr(group) * factor_; }

double PolynomialLR::get_closed_form_lr(std::size_t group) { return base_lrs()[group] * factor_; }

void PolynomialLR::serialize(StateArchive& archive) {
  archive.field("total_iters", options_.total_iters());
  archive.field("power", options_.power());
  if (archive.loading()) validated(options_);
}

}  // namespace torchlr
