#include <torchlr/cosine.h>

#include <cmath>

#include <torch/optim/optimizer.h>

#include "internal.h"
#include "platform.h"

namespace torchlr {
namespace {

// Keeps 2·T_max and the epoch arithmetic far from int64 overflow.
constexpr int64_t kMaxPeriod = int64_t{1} << 52;

const CosineAnnealingLROptions& validated(const CosineAnnealingLROptions& o) {
  TORCH_CHECK_VALUE(o.T_max() > 0 && o.T_max() <= kMaxPeriod,
                    "CosineAnnealingLR: T_max must be a positive integer (at most 2^52), but got ",
                    o.T_max());
  detail::check_finite("CosineAnnealingLR", "eta_min", o.eta_min());
  return o;
}

const CosineAnnealingWarmRestartsOptions& validated(const CosineAnnealingWarmRestartsOptions& o) {
  TORCH_CHECK_VALUE(o.T_0() > 0 && o.T_0() <= kMaxPeriod,
                    "CosineAnnealingWarmRestarts: Expected positive integer T_0, but got ", o.T_0());
  TORCH_CHECK_VALUE(o.T_mult() >= 1 && o.T_mult() <= kMaxPeriod,
                    "CosineAnnealingWarmRestarts: Expected integer T_mult >= 1, but got ",
                    o.T_mult());
  detail::check_finite("CosineAnnealingWarmRestarts", "eta_min", o.eta_min());
  return o;
}

}  // namespace

// ---- CosineAnnealingLR ----------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(torch::optim::Optimizer& optimizer,
                                     const CosineAnnealingLROptions& options)
    : LRScheduler(optimizer), options_(validated(options)) {
  initial_step();
}

void CosineAnnealingLR::prepare_lrs(bool closed_form) {
  const int64_t e = last_epoch();
  const int64_t t_max = options_.T_max();
  const double pi = platform::kPi;
  const double T = static_cast<double>(t_max);
  if (closed_form) {
    branch_ = Branch::closed;
    term_ = 1 + std::cos(pi * static_cast<double>(e) / T);
  } else if (is_initial()) {
    branch_ = Branch::keep;
  } else if (step_count() == 1 && e > 0) {
    branch_ = Branch::closed;
    term_ = 1 + std::cos(static_cast<double>(e) * pi / T);
  } else if (detail::floor_mod(e - 1 - t_max, 2 * t_max) == 0) {
    // PyTorch's guard for the step where the recursion's denominator would be 0.
    branch_ = Branch::guard;
    term_ = 1 - std::cos(pi / T);
  } else {
    branch_ = Branch::ratio;
    term_ = (1 + std::cos(pi * static_cast<double>(e) / T)) / (1 + std::cos(pi * static_cast<double>(e - 1) / T));
  }
}

// Each branch keeps PyTorch's order of operations, with the shared term computed once.
double CosineAnnealingLR::get_lr(std::size_t group) {
  const double eta_min = options_.eta_min();
  switch (branch_) {
    case Branch::keep: return group_lr(group);
    case Branch::closed: return eta_min + (base_lrs()[group] - eta_min) * term_ / 2;
    case Branch::guard: return group_lr(group) + (base_lrs()[group] - eta_min) * term_ / 2;
    case Branch::ratio: break;
  }
  return term_ * (group_lr(group) - eta_min) + eta_min;
}

double CosineAnnealingLR::get_closed_form_lr(std::size_t group) { return get_lr(group); }

void CosineAnnealingLR::serialize(StateArchive& archive) {
  archive.field("T_max", options_.T_max());
  archive.field("eta_min", options_.eta_min());
  if (archive.loading()) validated(options_);
}

// ---- CosineAnnealingWarmRestarts ------------------------------------------------------------

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(
    torch::optim::Optimizer& optimizer, const CosineAnnealingWarmRestartsOptions& options)
    : LRScheduler(optimizer),
      options_(validated(options)),
      T_i_(static_cast<double>(options_.T_0())) {
  initial_step();
}

// PyTorch overrides step() here: no order warning and no step count, fractional epochs allowed.
void CosineAnnealingWarmRestarts::step() { advance(std::nullopt); }

void CosineAnnealingWarmRestarts::step(double epoch) { advance(epoch); }

void CosineAnnealingWarmRestarts::advance(std::optional<double> epoch) {
  const double T_0 = static_cast<double>(options_.T_0());
  const double T_mult = static_cast<double>(options_.T_mult());
  const double saved_T_cur = T_cur_;
  const double saved_T_i = T_i_;
  const int64_t saved_epoch = last_epoch();

  if (!epoch && last_epoch() < 0) epoch = 0.0;
  double e;
  if (!epoch) {
    e = static_cast<double>(last_epoch() + 1);
    T_cur_ = T_cur_ + 1;
    if (T_cur_ >= T_i_) {
      T_cur_ = std::fmod(T_cur_, T_i_);
      T_i_ = T_i_ * T_mult;
    }
  } else {
    e = *epoch;
    TORCH_CHECK_VALUE(std::isfinite(e) && e >= 0,
                      "CosineAnnealingWarmRestarts: Expected non-negative epoch, but got ", e);
    TORCH_CHECK_VALUE(e < 9007199254740992.0,
                      "CosineAnnealingWarmRestarts: epoch must be below 2^53, but got ", e);
    if (e >= T_0) {
      if (options_.T_mult() == 1) {
        T_cur_ = std::fmod(e, T_0);
      } else {
        // As Python's int(math.log(x, T_mult)), which computes log(x) / log(T_mult).
        const double n = std::trunc(std::log(e / T_0 * (T_mult - 1) + 1) / std::log(T_mult));
        const double cycles = std::pow(T_mult, n);
        T_cur_ = e - T_0 * (cycles - 1) / (T_mult - 1);
        T_i_ = T_0 * cycles;
      }
    } else {
      T_i_ = T_0;
      T_cur_ = e;
    }
  }
  set_last_epoch(static_cast<int64_t>(std::floor(e)));
  try {
    write_lrs(false);
  } catch (...) {
    T_cur_ = saved_T_cur;
    T_i_ = saved_T_i;
    set_last_epoch(saved_epoch);
    throw;
  }
}

void CosineAnnealingWarmRestarts::prepare_lrs(bool) { term_ = 1 + std::cos(platform::kPi * T_cur_ / T_i_); }

double CosineAnnealingWarmRestarts::get_lr(std::size_t group) {
  const double eta_min = options_.eta_min();
  return eta_min + (base_lrs()[group] - eta_min) * term_ / 2;
}

void CosineAnnealingWarmRestarts::serialize(StateArchive& archive) {
  archive.field("T_0", options_.T_0());
  archive.field("T_mult", options_.T_mult());
  archive.field("eta_min", options_.eta_min());
  archive.field("T_i", T_i_);
  archive.field("T_cur", T_cur_);
  if (archive.loading()) {
    validated(options_);
    TORCH_CHECK_VALUE(std::isfinite(T_cur_) && T_cur_ >= 0 && T_i_ > 0,
                      "CosineAnnealingWarmRestarts: the checkpoint holds an invalid T_cur ", T_cur_,
                      " or T_i ", T_i_);
  }
}

}  // namespace torchlr
