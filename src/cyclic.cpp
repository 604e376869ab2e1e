#include <torchlr/cyclic.h>

#include <cmath>

#include <torch/optim/optimizer.h>

#include "internal.h"
#include "platform.h"

namespace torchlr {
namespace {

using detail::check_finite;

// PyTorch's `"momentum" in defaults or "betas" in defaults`, as a lookup by options type.
const MomentumAccess* momentum_support(const char* scheduler, const torch::optim::Optimizer& optimizer) {
  const MomentumAccess* access = momentum_access(optimizer.defaults());
  TORCH_CHECK_VALUE(access != nullptr, scheduler,
                    ": optimizer must support momentum or beta1 with `cycle_momentum` option "
                    "enabled (register your options type with torchlr::register_momentum)");
  return access;
}

void check_all_finite(const char* scheduler, const char* name, const std::vector<double>& values) {
  for (double v : values) check_finite(scheduler, name, v);
}

void write_momenta(torch::optim::Optimizer& optimizer, const MomentumAccess& access,
                   const std::vector<double>& momenta) {
  auto& groups = optimizer.param_groups();
  for (std::size_t g = 0; g < momenta.size(); ++g) access.set(groups[g].options(), momenta[g]);
}

// Runs `write`; if it throws partway (a user's momentum setter refusing), every group's lr and
// momentum is put back as `before` holds them first, so a refused construction writes nothing.
template <typename Write>
void write_or_restore(torch::optim::Optimizer& optimizer, const detail::OptimizerValues& before, Write write) {
  try {
    write();
  } catch (...) {
    auto& groups = optimizer.param_groups();
    for (std::size_t g = 0; g < groups.size() && g < before.lrs.size(); ++g) {
      auto& options = groups[g].options();
      options.set_lr(before.lrs[g]);
      const MomentumAccess* access = momentum_access(options);
      if (access == nullptr || std::isnan(before.momenta[g])) continue;
      try {
        access->set(options, before.momenta[g]);
      } catch (...) {
        // The setter refuses the old value too; the original error is the one to report.
      }
    }
    throw;
  }
}

// Every group's momentum as it is in the optimizer, saved and restored with the checkpoint, so
// that a resumed run has the checkpoint's momentum whatever torch::load of the optimizer did.
void optimizer_momenta_field(StateArchive& archive, torch::optim::Optimizer& optimizer,
                             const MomentumAccess* access, const char* scheduler) {
  if (access == nullptr) return;
  auto& groups = optimizer.param_groups();
  std::vector<double> momenta;
  for (const auto& group : groups) momenta.push_back(access->get(group.options()));
  archive.field("optimizer_momenta", momenta);
  if (!archive.loading()) return;
  TORCH_CHECK_VALUE(momenta.size() == groups.size(), scheduler,
                    ": the checkpoint's optimizer_momenta do not have one value per param group");
  detail::check_all_finite_in_checkpoint(scheduler, "optimizer_momenta", momenta);
  write_momenta(optimizer, *access, momenta);
}

// The momentum part of CyclicLR's and OneCycleLR's checkpoints: the per-group bounds, then every
// group's momentum as it is in the optimizer. Nothing when momentum is not cycled.
void momenta_fields(StateArchive& archive, torch::optim::Optimizer& optimizer, const MomentumAccess* access,
                    std::vector<double>& base_momentums, std::vector<double>& max_momentums,
                    const char* scheduler) {
  if (access == nullptr) return;
  archive.field("base_momentums", base_momentums);
  archive.field("max_momentums", max_momentums);
  const std::size_t groups = optimizer.param_groups().size();
  TORCH_CHECK_VALUE(base_momentums.size() == groups && max_momentums.size() == groups, scheduler,
                    ": the checkpoint's momenta do not match the groups");
  optimizer_momenta_field(archive, optimizer, access, scheduler);
}

// Everything CyclicLR refuses, checked before any group is touched; then, as PyTorch does before
// its base class runs, every group's lr becomes base_lr and its momentum max_momentum.
detail::OptimizerValues prepare_cyclic(torch::optim::Optimizer& optimizer, const CyclicLROptions& o) {
  const std::size_t n = optimizer.param_groups().size();
  const auto base_lrs = o.base_lr().expand("base_lr", n);
  const auto max_lrs = o.max_lr().expand("max_lr", n);
  check_all_finite("CyclicLR", "base_lr", base_lrs);
  check_all_finite("CyclicLR", "max_lr", max_lrs);
  TORCH_CHECK_VALUE(o.step_size_up() > 0, "CyclicLR: step_size_up must be a positive integer, but got ",
                    o.step_size_up());
  TORCH_CHECK_VALUE(!o.step_size_down() || *o.step_size_down() >= 0,
                    "CyclicLR: step_size_down must be a non-negative integer, but got ",
                    o.step_size_down().value_or(0));
  check_finite("CyclicLR", "gamma", o.gamma());
  const MomentumAccess* access = nullptr;
  std::vector<double> max_momentums;
  if (o.cycle_momentum()) {
    access = momentum_support("CyclicLR", optimizer);
    check_all_finite("CyclicLR", "base_momentum", o.base_momentum().expand("base_momentum", n));
    max_momentums = o.max_momentum().expand("max_momentum", n);
    check_all_finite("CyclicLR", "max_momentum", max_momentums);
  }
  auto before = detail::read_optimizer_values(optimizer);
  auto& groups = optimizer.param_groups();
  write_or_restore(optimizer, before, [&] {
    for (std::size_t g = 0; g < n; ++g) groups[g].options().set_lr(base_lrs[g]);
    if (access) write_momenta(optimizer, *access, max_momentums);
  });
  return before;
}

int64_t checked_total_steps(const OneCycleLROptions& o) {
  if (o.total_steps()) {
    TORCH_CHECK_VALUE(*o.total_steps() > 0, "OneCycleLR: Expected positive integer total_steps, but got ",
                      *o.total_steps());
    return *o.total_steps();
  }
  TORCH_CHECK_VALUE(o.epochs() && o.steps_per_epoch(),
                    "OneCycleLR: You must define either total_steps OR (epochs AND steps_per_epoch)");
  TORCH_CHECK_VALUE(*o.epochs() > 0, "OneCycleLR: Expected positive integer epochs, but got ", *o.epochs());
  TORCH_CHECK_VALUE(*o.steps_per_epoch() > 0,
                    "OneCycleLR: Expected positive integer steps_per_epoch, but got ", *o.steps_per_epoch());
  TORCH_CHECK_VALUE(*o.epochs() <= (int64_t{1} << 62) / *o.steps_per_epoch(),
                    "OneCycleLR: epochs × steps_per_epoch is too large");
  return *o.epochs() * *o.steps_per_epoch();
}

// As for CyclicLR, plus OneCycleLR's assignment of each group's initial_lr.
detail::OptimizerValues prepare_one_cycle(torch::optim::Optimizer& optimizer, const OneCycleLROptions& o) {
  const std::size_t n = optimizer.param_groups().size();
  const int64_t total_steps = checked_total_steps(o);
  TORCH_CHECK_VALUE(o.pct_start() >= 0 && o.pct_start() <= 1,
                    "OneCycleLR: Expected float between 0 and 1 pct_start, but got ", o.pct_start());
  OneCycleLR::phase_end_steps(o, total_steps);  // refuses a zero-length phase
  const auto max_lrs = o.max_lr().expand("max_lr", n);
  check_all_finite("OneCycleLR", "max_lr", max_lrs);
  check_finite("OneCycleLR", "div_factor", o.div_factor());
  check_finite("OneCycleLR", "final_div_factor", o.final_div_factor());
  TORCH_CHECK_VALUE(o.div_factor() != 0, "OneCycleLR: div_factor must not be 0 (initial_lr = max_lr / div_factor)");
  TORCH_CHECK_VALUE(o.final_div_factor() != 0,
                    "OneCycleLR: final_div_factor must not be 0 (min_lr = initial_lr / final_div_factor)");
  const MomentumAccess* access = nullptr;
  std::vector<double> max_momentums;
  if (o.cycle_momentum()) {
    access = momentum_support("OneCycleLR", optimizer);
    max_momentums = o.max_momentum().expand("max_momentum", n);
    check_all_finite("OneCycleLR", "max_momentum", max_momentums);
    check_all_finite("OneCycleLR", "base_momentum", o.base_momentum().expand("base_momentum", n));
  }
  auto before = detail::read_optimizer_values(optimizer);
  // Assigned by the base class, which takes them back if construction fails.
  for (std::size_t g = 0; g < n; ++g) before.initial_lrs.push_back(max_lrs[g] / o.div_factor());
  if (access) write_or_restore(optimizer, before, [&] { write_momenta(optimizer, *access, max_momentums); });
  return before;
}

}  // namespace

// ---- CyclicLR -------------------------------------------------------------------------------

namespace {
CyclicLR::Mode mode_of(const CyclicLROptions& o) {
  if (o.scale_fn()) return CyclicLR::Mode::custom;
  switch (o.mode()) {
    case CyclicMode::triangular: return CyclicLR::Mode::triangular;
    case CyclicMode::triangular2: return CyclicLR::Mode::triangular2;
    case CyclicMode::exp_range: break;
  }
  return CyclicLR::Mode::exp_range;
}
}  // namespace

CyclicLR::CyclicLR(torch::optim::Optimizer& optimizer, const CyclicLROptions& options)
    : LRScheduler(optimizer, prepare_cyclic(optimizer, options)), options_(options) {
  const std::size_t n = num_groups();
  max_lrs_ = options_.max_lr().expand("max_lr", n);
  const double up = static_cast<double>(options_.step_size_up());
  const double down = options_.step_size_down() ? static_cast<double>(*options_.step_size_down()) : up;
  total_size_ = up + down;
  step_ratio_ = up / total_size_;
  // Built-in modes fix the scale mode, as PyTorch's _init_scale_fn does.
  scale_by_cycle_ =
      options_.scale_fn() ? options_.scale_mode() == ScaleMode::cycle : options_.mode() != CyclicMode::exp_range;
  mode_ = mode_of(options_);
  if (options_.cycle_momentum()) {
    momentum_ = momentum_access(optimizer.defaults());
    base_momentums_ = options_.base_momentum().expand("base_momentum", n);
    max_momentums_ = options_.max_momentum().expand("max_momentum", n);
    next_momentums_.assign(n, 0.0);
  }
  initial_step();
  set_base_lrs(options_.base_lr().expand("base_lr", n));
}

double CyclicLR::scale(double x) const {
  switch (mode_) {
    case Mode::custom: return options_.scale_fn()(x);
    case Mode::triangular: return 1.0;
    case Mode::triangular2: return 1 / std::pow(2.0, x - 1);
    case Mode::exp_range: break;
  }
  return std::pow(options_.gamma(), x);
}

void CyclicLR::prepare_lrs(bool) {
  const double epoch = static_cast<double>(last_epoch());
  const double cycle = std::floor(1 + epoch / total_size_);
  const double x = 1.0 + epoch / total_size_ - cycle;
  scale_factor_ = x <= step_ratio_ ? x / step_ratio_ : (x - 1) / (step_ratio_ - 1);
  amplitude_ = scale(scale_by_cycle_ ? cycle : epoch);
}

double CyclicLR::get_lr(std::size_t group) {
  const double base_lr = base_lrs()[group];
  const double lr = base_lr + (max_lrs_[group] - base_lr) * scale_factor_ * amplitude_;
  if (momentum_) {
    const double height = (max_momentums_[group] - base_momentums_[group]) * scale_factor_;
    next_momentums_[group] = max_momentums_[group] - height * amplitude_;
    TORCH_CHECK_VALUE(std::isfinite(next_momentums_[group]), "CyclicLR: the momentum of param group ",
                      group, " would become ", next_momentums_[group], "; the optimizer was left unchanged");
  }
  return lr;
}

void CyclicLR::after_lrs_written() {
  if (momentum_) set_group_momenta(next_momentums_);
}

void CyclicLR::serialize(StateArchive& archive) {
  archive.field("max_lrs", max_lrs_);
  archive.field("total_size", total_size_);
  archive.field("step_ratio", step_ratio_);
  detail::mode_field(archive, "mode", options_.mode(), name());
  archive.field("gamma", options_.gamma());
  if (archive.loading()) mode_ = mode_of(options_);
  archive.field("scale_by_cycle", scale_by_cycle_);
  bool custom_scale_fn = static_cast<bool>(options_.scale_fn());
  archive.field("custom_scale_fn", custom_scale_fn);
  bool cycle_momentum = momentum_ != nullptr;
  archive.field("cycle_momentum", cycle_momentum);
  if (archive.loading()) {
    TORCH_CHECK_VALUE(custom_scale_fn == static_cast<bool>(options_.scale_fn()),
                      "CyclicLR: the checkpoint was saved ", custom_scale_fn ? "with" : "without",
                      " a custom scale_fn, and this scheduler was built ",
                      options_.scale_fn() ? "with" : "without", " one");
    TORCH_CHECK_VALUE(cycle_momentum == (momentum_ != nullptr),
                      "CyclicLR: the checkpoint's cycle_momentum differs from this scheduler's");
    TORCH_CHECK_VALUE(max_lrs_.size() == num_groups(), "CyclicLR: the checkpoint's max_lrs do not match the groups");
    TORCH_CHECK_VALUE(total_size_ > 0 && step_ratio_ > 0 && step_ratio_ <= 1,
                      "CyclicLR: the checkpoint holds an invalid cycle geometry");
  }
  momenta_fields(archive, optimizer(), momentum_, base_momentums_, max_momentums_, "CyclicLR");
}

// ---- OneCycleLR -----------------------------------------------------------------------------

OneCycleLR::OneCycleLR(torch::optim::Optimizer& optimizer, const OneCycleLROptions& options)
    : LRScheduler(optimizer, prepare_one_cycle(optimizer, options)),
      options_(options),
      total_steps_(checked_total_steps(options)) {
  const std::size_t n = num_groups();
  const auto ends = phase_end_steps(options_, total_steps_);
  if (options_.three_phase()) {
    phases_ = {{ends[0], kInitialLr, kMaxLr, kMaxMomentum, kBaseMomentum},
               {ends[1], kMaxLr, kInitialLr, kBaseMomentum, kMaxMomentum},
               {ends[2], kInitialLr, kMinLr, kMaxMomentum, kMaxMomentum}};
  } else {
    phases_ = {{ends[0], kInitialLr, kMaxLr, kMaxMomentum, kBaseMomentum},
               {ends[1], kMaxLr, kMinLr, kBaseMomentum, kMaxMomentum}};
  }
  max_lrs_ = options_.max_lr().expand("max_lr", n);
  initial_lrs_ = base_lrs();  // assigned as max_lr / div_factor before the base class read them
  for (std::size_t g = 0; g < n; ++g) min_lrs_.push_back(initial_lrs_[g] / options_.final_div_factor());
  if (options_.cycle_momentum()) {
    momentum_ = momentum_access(optimizer.defaults());
    max_momentums_ = options_.max_momentum().expand("max_momentum", n);
    base_momentums_ = options_.base_momentum().expand("base_momentum", n);
    next_momentums_.assign(n, 0.0);
  }
  cosine_ = options_.anneal_strategy() == AnnealStrategy::cos;
  initial_step();
}

std::vector<double> OneCycleLR::phase_end_steps(const OneCycleLROptions& o, int64_t total_steps) {
  const double pct = o.pct_start();
  const double total = static_cast<double>(total_steps);
  std::vector<double> ends = o.three_phase()
                                 ? std::vector<double>{pct * total - 1, 2 * pct * total - 2, total - 1}
                                 : std::vector<double>{pct * total - 1, total - 1};
  // PyTorch divides by each phase's length when a step lands in it: refuse a zero-length phase.
  double start = 0.0;
  for (std::size_t i = 0; i < ends.size(); ++i) {
    TORCH_CHECK_VALUE(ends[i] - start != 0, "OneCycleLR: phase ", i + 1, " of ", ends.size(),
                      " would be zero steps long with pct_start = ", pct, " and total_steps = ",
                      total_steps, " (PyTorch divides by zero there); change pct_start or total_steps");
    start = ends[i];
  }
  return ends;
}

const std::vector<double>& OneCycleLR::bound(Bound b) const {
  switch (b) {
    case kInitialLr: return initial_lrs_;
    case kMaxLr: return max_lrs_;
    case kMinLr: return min_lrs_;
    case kMaxMomentum: return max_momentums_;
    case kBaseMomentum: break;
  }
  return base_momentums_;
}

double OneCycleLR::anneal(double start, double end) const {
  if (cosine_) return end + (start - end) / 2.0 * cos_term_;
  return (end - start) * pct_ + start;
}

void OneCycleLR::prepare_lrs(bool) {
  const int64_t step = last_epoch();
  TORCH_CHECK_VALUE(step <= total_steps_, "OneCycleLR: Tried to step ", step,
                    " times. The specified number of total steps is ", total_steps_);
  const double step_num = static_cast<double>(step);
  double start = 0.0;
  for (std::size_t i = 0; i < phases_.size(); ++i) {
    if (step_num <= phases_[i].end_step || i + 1 == phases_.size()) {
      const Phase& phase = phases_[i];
      start_lrs_ = &bound(phase.start_lr);
      end_lrs_ = &bound(phase.end_lr);
      start_momentums_ = &bound(phase.start_momentum);
      end_momentums_ = &bound(phase.end_momentum);
      pct_ = (step_num - start) / (phase.end_step - start);
      cos_term_ = std::cos(platform::kPi * pct_) + 1;
      return;
    }
    start = phases_[i].end_step;
  }
}

double OneCycleLR::get_lr(std::size_t group) {
  if (momentum_) {
    next_momentums_[group] = anneal((*start_momentums_)[group], (*end_momentums_)[group]);
    TORCH_CHECK_VALUE(std::isfinite(next_momentums_[group]), "OneCycleLR: the momentum of param group ",
                      group, " would become ", next_momentums_[group], "; the optimizer was left unchanged");
  }
  return anneal((*start_lrs_)[group], (*end_lrs_)[group]);
}

void OneCycleLR::after_lrs_written() {
  if (momentum_) set_group_momenta(next_momentums_);
}

void OneCycleLR::serialize(StateArchive& archive) {
  archive.field("total_steps", total_steps_);
  std::vector<double> ends;
  for (const auto& p : phases_) ends.push_back(p.end_step);
  archive.field("phase_end_steps", ends);
  detail::mode_field(archive, "anneal_strategy", options_.anneal_strategy(), name());
  archive.field("initial_lrs", initial_lrs_);
  archive.field("max_lrs", max_lrs_);
  archive.field("min_lrs", min_lrs_);
  bool cycle_momentum = momentum_ != nullptr;
  archive.field("cycle_momentum", cycle_momentum);
  if (archive.loading()) {
    TORCH_CHECK_VALUE(ends.size() == phases_.size(), "OneCycleLR: the checkpoint has ", ends.size(),
                      " phases, this scheduler ", phases_.size(), " (three_phase differs)");
    for (std::size_t i = 0; i < ends.size(); ++i) phases_[i].end_step = ends[i];
    cosine_ = options_.anneal_strategy() == AnnealStrategy::cos;
    TORCH_CHECK_VALUE(cycle_momentum == (momentum_ != nullptr),
                      "OneCycleLR: the checkpoint's cycle_momentum differs from this scheduler's");
    TORCH_CHECK_VALUE(initial_lrs_.size() == num_groups() && max_lrs_.size() == num_groups() &&
                          min_lrs_.size() == num_groups(),
                      "OneCycleLR: the checkpoint's lr bounds do not match the groups");
  }
  momenta_fields(archive, optimizer(), momentum_, base_momentums_, max_momentums_, "OneCycleLR");
}

}  // namespace torchlr
