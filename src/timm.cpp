#include <torchlr/timm.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Functions.h>
#include <torch/optim/optimizer.h>

#include <torchlr/plateau.h>

#include "internal.h"
#include "lr_access.h"
#include "platform.h"
#include "state_archive_impl.h"

namespace torchlr::timm {
namespace {

using detail::check_finite;
using detail::check_steps;

// More draws than this for one step's normal noise means noise_pct is too small to be met in
// reasonable time (timm would spin); expected draws are about 1.25 / noise_pct.
constexpr int64_t kMaxNoiseDraws = 1'000'000;

// Python's `a // b` for floats (CPython's float_floor_div), exact for integral values below 2^53.
double python_floor_div(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return std::copysign(0.0, a / b);
  double floor_div = std::floor(div);
  if (div - floor_div > 0.5) floor_div += 1.0;
  return floor_div;
}

// Python's bisect.bisect_right, step for step (so an unsorted list gives timm's answer too).
int64_t bisect_right(const std::vector<int64_t>& a, int64_t x) {
  std::size_t lo = 0;
  std::size_t hi = a.size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (x < a[mid]) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return static_cast<int64_t>(lo);
}

// Where t falls in the cycles of Cosine/Tanh/Poly: the cycle index, its length, the position in it.
struct Cycle {
  double i;
  double t_i;
  double t_curr;
};

Cycle cycle_of(const std::string& name, double t, double t_initial, double cycle_mul) {
  if (cycle_mul != 1) {
    const double x = 1 - t / t_initial * (1 - cycle_mul);
    // timm's math.log fails here (math domain error): with cycle_mul < 1 the cycles add up to
    // t_initial / (1 - cycle_mul), and there is no cycle after that.
    TORCH_CHECK_VALUE(x > 0, name, ": with cycle_mul ", cycle_mul, " < 1 the cycles end at t_initial / (1 - cycle_mul) = ",
                      t_initial / (1 - cycle_mul), ", but t is ", t, " (timm fails there with a math domain error)");
    const double i = std::floor(std::log(x) / std::log(cycle_mul));
    const double t_i = std::pow(cycle_mul, i) * t_initial;
    const double t_curr = t - (1 - std::pow(cycle_mul, i)) / (1 - cycle_mul) * t_initial;
    return {i, t_i, t_curr};
  }
  const double i = python_floor_div(t, t_initial);
  return {i, t_initial, t - (t_initial * i)};
}

// timm's get_cycle_length for Cosine/Tanh/Poly.
template <typename Options>
int64_t cycle_length(const Options& o, int64_t cycles) {
  cycles = std::max<int64_t>(1, cycles != 0 ? cycles : o.cycle_limit());
  double t = 0;
  if (o.cycle_mul() == 1.0) {
    t = static_cast<double>(o.t_initial()) * static_cast<double>(cycles);
  } else {
    t = std::floor(-static_cast<double>(o.t_initial()) * (std::pow(o.cycle_mul(), static_cast<double>(cycles)) - 1) /
                   (1 - o.cycle_mul()));
  }
  TORCH_CHECK_VALUE(std::isfinite(t) && std::abs(t) <= static_cast<double>(detail::kMaxExactInteger),
                    "get_cycle_length: the length of ", cycles, " cycles (", t, ") is beyond 2^53");
  const auto length = static_cast<int64_t>(t);
  return o.warmup_prefix() ? length + o.warmup_t() : length;
}

// The fields every options struct shares, in a checkpoint.
template <typename Options>
void common_fields(StateArchive& archive, Options& o) {
  archive.field("warmup_t", o.warmup_t());
  archive.field("warmup_lr_init", o.warmup_lr_init());
  archive.field("noise_range_t", o.noise_range_t());
  archive.field("noise_pct", o.noise_pct());
  archive.field("noise_std", o.noise_std());
  archive.field("noise_seed", o.noise_seed());
  archive.field("lr_scale", o.lr_scale());
}

// The cycle options of Cosine/Tanh/Poly, in a checkpoint.
template <typename Options>
void cycle_fields(StateArchive& archive, Options& o) {
  archive.field("t_initial", o.t_initial());
  archive.field("lr_min", o.lr_min());
  archive.field("cycle_mul", o.cycle_mul());
  archive.field("cycle_decay", o.cycle_decay());
  archive.field("cycle_limit", o.cycle_limit());
  archive.field("warmup_prefix", o.warmup_prefix());
  archive.field("t_in_epochs", o.t_in_epochs());
}

// The checks of Cosine/Tanh/Poly's cycle options (timm asserts t_initial > 0 and lr_min >= 0).
template <typename Options>
void check_cycles(const std::string& name, const Options& o) {
  TORCH_CHECK_VALUE(o.t_initial() > 0, name, ": t_initial must be positive (timm asserts t_initial > 0), but got ",
                    o.t_initial());
  check_steps(name, "t_initial", o.t_initial());
  check_finite(name.c_str(), "lr_min", o.lr_min());
  TORCH_CHECK_VALUE(o.lr_min() >= 0, name, ": lr_min must be non-negative (timm asserts lr_min >= 0), but got ",
                    o.lr_min());
  check_finite(name.c_str(), "cycle_mul", o.cycle_mul());
  // timm takes log(cycle_mul) at the first step after warmup.
  TORCH_CHECK_VALUE(o.cycle_mul() > 0, name, ": cycle_mul must be positive (timm takes its logarithm), but got ",
                    o.cycle_mul());
  check_finite(name.c_str(), "cycle_decay", o.cycle_decay());
  check_steps(name, "cycle_limit", o.cycle_limit());
}

// t_curr ** k / t_i ** k: a negative k divides by zero at the start of every cycle.
void check_k_decay(const std::string& name, double k) {
  check_finite(name.c_str(), "k_decay", k);
  TORCH_CHECK_VALUE(k >= 0, name, ": k_decay must be non-negative (timm raises 0 to it), but got ", k);
}

// Cosine, Tanh and Poly after the warmup: t shifted by a prefixed warmup, the cycle it falls in,
// and each group's `curve(lr_max, cycle)` with lr_max = base · cycle_decay^i (timm's order), or
// lr_min once the cycles are over.
template <typename Options, typename Curve>
std::vector<double> cycle_values(const std::string& name, const Options& o, const std::vector<double>& base, int64_t t,
                                 Curve curve) {
  std::vector<double> lrs(base.size(), o.lr_min());
  if (o.warmup_prefix()) t = t - o.warmup_t();
  const Cycle c = cycle_of(name, static_cast<double>(t), static_cast<double>(o.t_initial()), o.cycle_mul());
  if (c.i >= static_cast<double>(o.cycle_limit())) return lrs;
  const double gamma = std::pow(o.cycle_decay(), c.i);
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = curve(base[g] * gamma, c);
  return lrs;
}

}  // namespace

const char* to_string(NoiseType type) { return type == NoiseType::normal ? "normal" : "uniform"; }

void parse_config_enum(const std::string& where, const std::string& text, NoiseType& out) {
  // timm draws uniform noise for any noise_type other than "normal"; a typo would silently
  // switch the distribution, so only the two words are accepted.
  TORCH_CHECK_VALUE(text == "normal" || text == "uniform", where, ": noise_type must be 'normal' or 'uniform', but got '",
                    text, "'");
  out = text == "normal" ? NoiseType::normal : NoiseType::uniform;
}

// ---- the base --------------------------------------------------------------------------------------

Scheduler::Scheduler(torch::optim::Optimizer& optimizer, std::string name, Common common)
    : optimizer_(&optimizer),
      name_(std::move(name)),
      common_(std::move(common)),
      lr_access_(std::make_unique<detail::LrAccess>()) {
  check_common();
  const std::size_t groups = optimizer.param_groups().size();
  num_groups_ = groups;
  TORCH_CHECK_VALUE(common_.lr_scale.empty() || common_.lr_scale.size() == groups, name_, ": lr_scale must hold one ",
                    "value per param group (", groups, "), but it holds ", common_.lr_scale.size());
  initial_lrs_ = std::make_unique<detail::InitialLrLease>(optimizer);
  base_values_ = initial_lrs_->values();
  lr_scales_ = common_.lr_scale.empty() ? std::vector<double>(groups, 1.0) : common_.lr_scale;
  last_lr_.assign(groups, 0.0);
}

Scheduler::~Scheduler() = default;

void Scheduler::check_common() const {
  const char* name = name_.c_str();
  TORCH_CHECK_VALUE(common_.warmup_t >= 0, name_, ": warmup_t must be non-negative, but got ", common_.warmup_t);
  check_steps(name_, "warmup_t", common_.warmup_t);
  check_finite(name, "warmup_lr_init", common_.warmup_lr_init);
  TORCH_CHECK_VALUE(common_.warmup_lr_init >= 0, name_, ": warmup_lr_init must be non-negative, but got ",
                    common_.warmup_lr_init);
  TORCH_CHECK_VALUE(common_.noise_range_t.size() <= 2, name_,
                    ": noise_range_t must be empty (no noise), one number (the start) or two (start, end), but it holds ",
                    common_.noise_range_t.size());
  for (double t : common_.noise_range_t) check_finite(name, "noise_range_t", t);
  check_finite(name, "noise_pct", common_.noise_pct);
  check_finite(name, "noise_std", common_.noise_std);
  // Normal noise is redrawn until |x| < noise_pct: with noise_pct <= 0 timm would never stop.
  TORCH_CHECK_VALUE(common_.noise_range_t.empty() || common_.noise_type != NoiseType::normal || common_.noise_pct > 0,
                    name_, ": noise_pct must be positive for normal noise (timm redraws until |noise| < noise_pct), but got ",
                    common_.noise_pct);
  check_steps(name_, "noise_seed", common_.noise_seed);
  for (double s : common_.lr_scale) {
    check_finite(name, "lr_scale", s);
    TORCH_CHECK_VALUE(s >= 0, name_, ": lr_scale must be non-negative, but got ", s);
  }
}

void Scheduler::finish_construction() {
  check_options();
  for (double v : base_values_) check_finite(name_.c_str(), "the optimizer's lr (a base value)", v);
  set_warmup_steps();
  for (double s : warmup_steps_) {
    TORCH_CHECK_VALUE(std::isfinite(s), name_, ": the warmup's step per t must be a finite number, but it is ", s,
                      " (warmup_lr_init ", common_.warmup_lr_init, ", warmup_t ", common_.warmup_t, ")");
  }
  if (common_.warmup_t != 0) {
    write_scaled(std::vector<double>(base_values_.size(), common_.warmup_lr_init), 0);
  } else {
    write_scaled(base_values_, 0);
  }
}

void Scheduler::set_warmup_steps() {
  const std::vector<double> own_targets = warmup_targets();
  const std::vector<double>& targets = own_targets.empty() ? base_values_ : own_targets;
  warmup_steps_.clear();
  for (double v : targets) {
    // timm: (v - warmup_lr_init) / warmup_t, or 1 without a warmup (only Plateau's step(0) reads it then).
    warmup_steps_.push_back(common_.warmup_t != 0 ? (v - common_.warmup_lr_init) / static_cast<double>(common_.warmup_t)
                                                  : 1.0);
  }
}

double Scheduler::warmup_value(std::size_t group, int64_t t) const {
  return common_.warmup_lr_init + static_cast<double>(t) * warmup_steps_[group];
}

bool Scheduler::noise_applies(int64_t t) const {
  const auto& range = common_.noise_range_t;
  const double x = static_cast<double>(t);
  return range.size() == 2 ? (range[0] <= x && x < range[1]) : (range.size() == 1 && x >= range[0]);
}

double Scheduler::noise_at(int64_t t) const {
  if (!noise_applies(t)) return 0.0;
  // timm seeds a fresh CPU generator with noise_seed + t for every step: the noise of a step does
  // not depend on the steps before it, so a resumed run draws the same.
  // A negative seed wraps to the same 64 bits as torch's Generator.manual_seed makes of it.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(common_.noise_seed + t));
  const auto options = at::TensorOptions().dtype(at::kFloat);
  if (common_.noise_type == NoiseType::uniform) {
    const double u = at::rand({1}, generator, options).item<float>();
    return 2 * (u - 0.5) * common_.noise_pct;
  }
  for (int64_t draw = 0; draw < kMaxNoiseDraws; ++draw) {
    const double noise = at::randn({1}, generator, options).item<float>();
    if (std::abs(noise) < common_.noise_pct) return noise;
  }
  C10_THROW_ERROR(ValueError, c10::str(name_, ": no normal draw within noise_pct ", common_.noise_pct, " in ",
                                       kMaxNoiseDraws, " tries at t = ", t, "; noise_pct is too small"));
}

void Scheduler::write_scaled(const std::vector<double>& values, int64_t t) {
  auto& groups = optimizer_->param_groups();
  TORCH_CHECK_VALUE(groups.size() == num_groups_, name_, ": the optimizer has ", groups.size(),
                    " param groups, but the scheduler was built for ", num_groups_);
  std::vector<double> scaled(values.size());
  for (std::size_t g = 0; g < values.size(); ++g) {
    scaled[g] = values[g] * lr_scales_[g];
    TORCH_CHECK_VALUE(std::isfinite(scaled[g]), name_, ": the lr of group ", g, " at t = ", t,
                      " is not a finite number (", scaled[g], "); nothing was written");
  }
  lr_access_->sync(groups);
  for (std::size_t g = 0; g < scaled.size(); ++g) lr_access_->set(g, scaled[g]);
  last_lr_ = std::move(scaled);
}

void Scheduler::record_last_lr() {
  auto& groups = optimizer_->param_groups();
  lr_access_->sync(groups);
  for (std::size_t g = 0; g < last_lr_.size(); ++g) last_lr_[g] = lr_access_->get(g);
}

void Scheduler::step(int64_t epoch, std::optional<double> metric) {
  TORCH_CHECK_VALUE(epoch >= 0 && epoch <= detail::kMaxExactInteger, name_, ": epoch must be in [0, 2^53], but got ",
                    epoch);
  if (common_.t_in_epochs) act(epoch, metric);
}

void Scheduler::step_update(int64_t num_updates, std::optional<double> metric) {
  TORCH_CHECK_VALUE(num_updates >= 0 && num_updates <= detail::kMaxExactInteger, name_,
                    ": num_updates must be in [0, 2^53], but got ", num_updates);
  if (!common_.t_in_epochs) act(num_updates, metric);
}

void Scheduler::step_with(std::optional<double> metric) {
  if (common_.t_in_epochs) {
    step(last_t_ + 1, metric);
  } else {
    step_update(last_t_ + 1, metric);
  }
}

void Scheduler::act(int64_t t, std::optional<double> /*metric*/) {
  std::vector<double> values = values_at(t);
  if (noise_applies(t)) {
    const double noise = noise_at(t);
    for (double& v : values) v = v + v * noise;
  }
  write_scaled(values, t);
  last_t_ = t;
}

void Scheduler::checkpoint(StateArchive& archive) {
  std::string type = name_;
  archive.field("type", type);
  TORCH_CHECK_VALUE(type == name_, "cannot load a checkpoint of a ", type, " into a ", name_);
  const std::size_t groups = num_groups_;
  int64_t num_groups = static_cast<int64_t>(groups);
  archive.field("num_groups", num_groups);
  TORCH_CHECK_VALUE(num_groups == static_cast<int64_t>(groups), name_, ": the checkpoint was saved for ", num_groups,
                    " param groups, but this scheduler has ", groups);
  archive.field("last_t", last_t_);
  archive.field("last_lr", last_lr_);
  archive.field("base_values", base_values_);
  serialize(archive);
  if (archive.loading()) {
    TORCH_CHECK_VALUE(detail::is_valid_count(last_t_), name_, ": the checkpoint holds an invalid t ", last_t_);
    TORCH_CHECK_VALUE(last_lr_.size() == groups && base_values_.size() == groups, name_,
                      ": the checkpoint's last_lr/base_values do not have one value per group");
    detail::check_all_finite_in_checkpoint(name_, "last_lr", last_lr_);
    detail::check_all_finite_in_checkpoint(name_, "base_values", base_values_);
    check_common();
    check_options();
    TORCH_CHECK_VALUE(common_.lr_scale.empty() || common_.lr_scale.size() == groups, name_,
                      ": the checkpoint's lr_scale does not have one value per group");
    lr_scales_ = common_.lr_scale.empty() ? std::vector<double>(groups, 1.0) : common_.lr_scale;
    set_warmup_steps();
  }
  detail::optimizer_lrs_field(archive, *optimizer_, name_);
}

void Scheduler::save(torch::serialize::OutputArchive& archive) const {
  detail::save_state(archive, [this](StateArchive& a) { const_cast<Scheduler*>(this)->checkpoint(a); });
}

void Scheduler::load(torch::serialize::InputArchive& archive) {
  // All or nothing: the fields derived from the options (warmup steps, lr scales) are kept aside
  // and put back if reading fails.
  const auto warmup_steps = warmup_steps_;
  const auto lr_scales = lr_scales_;
  const Common common = common_;
  try {
    detail::load_state(archive, [this](StateArchive& a) { checkpoint(a); });
  } catch (...) {
    warmup_steps_ = warmup_steps;
    lr_scales_ = lr_scales;
    common_ = common;
    throw;
  }
}

namespace {

template <typename Options>
Scheduler::Common common_of(const Options& o, bool t_in_epochs, NoiseType noise_type = NoiseType::normal) {
  Scheduler::Common c;
  c.warmup_t = o.warmup_t();
  c.warmup_lr_init = o.warmup_lr_init();
  c.t_in_epochs = t_in_epochs;
  c.noise_range_t = o.noise_range_t();
  c.noise_type = noise_type;
  c.noise_pct = o.noise_pct();
  c.noise_std = o.noise_std();
  c.noise_seed = o.noise_seed();
  c.lr_scale = o.lr_scale();
  return c;
}

}  // namespace

// ---- Cosine ----------------------------------------------------------------------------------------

CosineLRScheduler::CosineLRScheduler(torch::optim::Optimizer& optimizer, const CosineLRSchedulerOptions& options)
    : Scheduler(optimizer, "timm.CosineLRScheduler", common_of(options, options.t_in_epochs())), options_(options) {
  finish_construction();
}

void CosineLRScheduler::check_options() const {
  check_cycles(name(), options_);
  check_k_decay(name(), options_.k_decay());
}

int64_t CosineLRScheduler::get_cycle_length(int64_t cycles) const { return cycle_length(options_, cycles); }

std::vector<double> CosineLRScheduler::values_at(int64_t t) const {
  const auto& o = options_;
  if (t < o.warmup_t()) {
    std::vector<double> lrs(base_values().size());
    for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = warmup_value(g, t);
    return lrs;
  }
  const double k = o.k_decay();
  return cycle_values(name(), o, base_values(), t, [&](double lr_max, const Cycle& c) {
    return o.lr_min() + 0.5 * (lr_max - o.lr_min()) * (1 + std::cos(platform::kPi * std::pow(c.t_curr, k) / std::pow(c.t_i, k)));
  });
}

void CosineLRScheduler::serialize(StateArchive& archive) {
  cycle_fields(archive, options_);
  common_fields(archive, options_);
  archive.field("k_decay", options_.k_decay());
  if (archive.loading()) common() = common_of(options_, options_.t_in_epochs());
}

// ---- Tanh ------------------------------------------------------------------------------------------

TanhLRScheduler::TanhLRScheduler(torch::optim::Optimizer& optimizer, const TanhLRSchedulerOptions& options)
    : Scheduler(optimizer, "timm.TanhLRScheduler", common_of(options, options.t_in_epochs())), options_(options) {
  finish_construction();
}

void TanhLRScheduler::check_options() const {
  // timm's asserts, in its order (t_initial, lr_min, lb < ub, cycle_limit, warmup_t, warmup_lr_init).
  check_cycles(name(), options_);
  check_finite(name().c_str(), "lb", options_.lb());
  check_finite(name().c_str(), "ub", options_.ub());
  TORCH_CHECK_VALUE(options_.lb() < options_.ub(), name(), ": lb must be smaller than ub (timm asserts lb < ub), but got lb ",
                    options_.lb(), " and ub ", options_.ub());
  TORCH_CHECK_VALUE(options_.cycle_limit() >= 0, name(),
                    ": cycle_limit must be non-negative (timm asserts cycle_limit >= 0), but got ", options_.cycle_limit());
}

int64_t TanhLRScheduler::get_cycle_length(int64_t cycles) const { return cycle_length(options_, cycles); }

std::vector<double> TanhLRScheduler::warmup_targets() const {
  // Without prefix the warmup ramps to the curve's value at warmup_t (with it, to the base values).
  if (options_.warmup_t() == 0 || options_.warmup_prefix()) return {};
  return curve_at(options_.warmup_t());
}

std::vector<double> TanhLRScheduler::values_at(int64_t t) const {
  if (t < options_.warmup_t()) {
    std::vector<double> lrs(base_values().size());
    for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = warmup_value(g, t);
    return lrs;
  }
  return curve_at(t);
}

std::vector<double> TanhLRScheduler::curve_at(int64_t t) const {
  const auto& o = options_;
  return cycle_values(name(), o, base_values(), t, [&](double lr_max, const Cycle& c) {
    const double tr = c.t_curr / c.t_i;
    return o.lr_min() + 0.5 * (lr_max - o.lr_min()) * (1 - std::tanh(o.lb() * (1. - tr) + o.ub() * tr));
  });
}

void TanhLRScheduler::serialize(StateArchive& archive) {
  cycle_fields(archive, options_);
  common_fields(archive, options_);
  archive.field("lb", options_.lb());
  archive.field("ub", options_.ub());
  if (archive.loading()) common() = common_of(options_, options_.t_in_epochs());
}

// ---- Poly ------------------------------------------------------------------------------------------

PolyLRScheduler::PolyLRScheduler(torch::optim::Optimizer& optimizer, const PolyLRSchedulerOptions& options)
    : Scheduler(optimizer, "timm.PolyLRScheduler", common_of(options, options.t_in_epochs())), options_(options) {
  finish_construction();
}

void PolyLRScheduler::check_options() const {
  check_cycles(name(), options_);
  check_finite(name().c_str(), "power", options_.power());
  check_k_decay(name(), options_.k_decay());
}

int64_t PolyLRScheduler::get_cycle_length(int64_t cycles) const { return cycle_length(options_, cycles); }

std::vector<double> PolyLRScheduler::values_at(int64_t t) const {
  const auto& o = options_;
  if (t < o.warmup_t()) {
    std::vector<double> lrs(base_values().size());
    for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = warmup_value(g, t);
    return lrs;
  }
  const double k = o.k_decay();
  return cycle_values(name(), o, base_values(), t, [&](double lr_max, const Cycle& c) {
    return o.lr_min() + (lr_max - o.lr_min()) * std::pow(1 - std::pow(c.t_curr, k) / std::pow(c.t_i, k), o.power());
  });
}

void PolyLRScheduler::serialize(StateArchive& archive) {
  cycle_fields(archive, options_);
  common_fields(archive, options_);
  archive.field("power", options_.power());
  archive.field("k_decay", options_.k_decay());
  if (archive.loading()) common() = common_of(options_, options_.t_in_epochs());
}

// ---- Step ------------------------------------------------------------------------------------------

StepLRScheduler::StepLRScheduler(torch::optim::Optimizer& optimizer, const StepLRSchedulerOptions& options)
    : Scheduler(optimizer, "timm.StepLRScheduler", common_of(options, options.t_in_epochs())), options_(options) {
  finish_construction();
}

void StepLRScheduler::check_options() const {
  check_finite(name().c_str(), "decay_t", options_.decay_t());
  // timm divides by it at the first step after warmup.
  TORCH_CHECK_VALUE(options_.decay_t() > 0, name(), ": decay_t must be positive (timm divides by it), but got ",
                    options_.decay_t());
  check_finite(name().c_str(), "decay_rate", options_.decay_rate());
}

std::vector<double> StepLRScheduler::values_at(int64_t t) const {
  const auto& o = options_;
  std::vector<double> lrs(base_values().size());
  if (t < o.warmup_t()) {
    for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = warmup_value(g, t);
    return lrs;
  }
  if (o.warmup_prefix()) t = t - o.warmup_t();
  const double decay = std::pow(o.decay_rate(), python_floor_div(static_cast<double>(t), o.decay_t()));
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = base_values()[g] * decay;
  return lrs;
}

void StepLRScheduler::serialize(StateArchive& archive) {
  archive.field("decay_t", options_.decay_t());
  archive.field("decay_rate", options_.decay_rate());
  archive.field("warmup_prefix", options_.warmup_prefix());
  archive.field("t_in_epochs", options_.t_in_epochs());
  common_fields(archive, options_);
  if (archive.loading()) common() = common_of(options_, options_.t_in_epochs());
}

// ---- MultiStep -------------------------------------------------------------------------------------

MultiStepLRScheduler::MultiStepLRScheduler(torch::optim::Optimizer& optimizer, const MultiStepLRSchedulerOptions& options)
    : Scheduler(optimizer, "timm.MultiStepLRScheduler", common_of(options, options.t_in_epochs())), options_(options) {
  finish_construction();
}

void MultiStepLRScheduler::check_options() const {
  for (int64_t d : options_.decay_t()) check_steps(name(), "decay_t", d);
  check_finite(name().c_str(), "decay_rate", options_.decay_rate());
}

std::vector<double> MultiStepLRScheduler::values_at(int64_t t) const {
  const auto& o = options_;
  std::vector<double> lrs(base_values().size());
  if (t < o.warmup_t()) {
    for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = warmup_value(g, t);
    return lrs;
  }
  if (o.warmup_prefix()) t = t - o.warmup_t();
  // timm counts the milestones <= t + 1: one step earlier than torch's MultiStepLR.
  const double decay = std::pow(o.decay_rate(), static_cast<double>(bisect_right(o.decay_t(), t + 1)));
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = base_values()[g] * decay;
  return lrs;
}

void MultiStepLRScheduler::serialize(StateArchive& archive) {
  archive.field("decay_t", options_.decay_t());
  archive.field("decay_rate", options_.decay_rate());
  archive.field("warmup_prefix", options_.warmup_prefix());
  archive.field("t_in_epochs", options_.t_in_epochs());
  common_fields(archive, options_);
  if (archive.loading()) common() = common_of(options_, options_.t_in_epochs());
}

// ---- Plateau ---------------------------------------------------------------------------------------

namespace {

// torch's ReduceLROnPlateau as timm builds it; its own checks run on these (Factor should be < 1.0.).
ReduceLROnPlateauOptions plateau_rule(const PlateauLRSchedulerOptions& o) {
  TORCH_CHECK_VALUE(o.decay_rate() < 1.0, "timm.PlateauLRScheduler: Factor should be < 1.0. (decay_rate = ",
                    o.decay_rate(), ")");
  return ReduceLROnPlateauOptions()
      .patience(o.patience_t())
      .factor(o.decay_rate())
      .threshold(o.threshold())
      .cooldown(o.cooldown_t())
      .mode(o.mode())
      .min_lr(o.lr_min());
}

}  // namespace

// Plateau has no t_in_epochs: timm's base default (true) applies, and step_update does nothing.
PlateauLRScheduler::PlateauLRScheduler(torch::optim::Optimizer& optimizer, const PlateauLRSchedulerOptions& options)
    : Scheduler(optimizer, "timm.PlateauLRScheduler", common_of(options, true, options.noise_type())),
      options_(options),
      plateau_(std::make_unique<ReduceLROnPlateau>(optimizer, plateau_rule(options_))) {
  finish_construction();
}

PlateauLRScheduler::~PlateauLRScheduler() = default;

void PlateauLRScheduler::check_options() const {
  plateau_rule(options_);
  check_finite(name().c_str(), "lr_min", options_.lr_min());
  TORCH_CHECK_VALUE(options_.lr_min() >= 0, name(), ": lr_min must be non-negative, but got ", options_.lr_min());
  TORCH_CHECK_VALUE(options_.patience_t() >= 0, name(), ": patience_t must be non-negative, but got ",
                    options_.patience_t());
  TORCH_CHECK_VALUE(options_.cooldown_t() >= 0, name(), ": cooldown_t must be non-negative, but got ",
                    options_.cooldown_t());
}

std::vector<double> PlateauLRScheduler::values_at(int64_t t) const {
  std::vector<double> lrs(base_values().size());
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = warmup_value(g, t);
  return lrs;
}

void PlateauLRScheduler::act(int64_t t, std::optional<double> metric) {
  TORCH_CHECK_VALUE(optimizer().param_groups().size() == base_values().size(), name(), ": the optimizer has ",
                    optimizer().param_groups().size(), " param groups, but the scheduler was built for ",
                    base_values().size());
  if (t <= options_.warmup_t()) {
    // Inclusive, as timm: with warmup_t = 0, step(0) writes warmup_lr_init.
    write_scaled(values_at(t), t);
    set_last_t(t);
    return;
  }
  const double noise = noise_at(t);  // drawn first: it may refuse, and must then change nothing
  auto& groups = optimizer().param_groups();
  std::vector<double> before(groups.size());
  for (std::size_t g = 0; g < groups.size(); ++g) before[g] = groups[g].options().get_lr();
  const std::vector<double> restore_before = restore_lr_;
  try {
    if (!restore_lr_.empty()) {
      // Take back the last epoch's noise before the plateau rule looks at the lrs.
      for (std::size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(restore_lr_[g]);
      restore_lr_.clear();
    }
    if (metric) plateau_->step(*metric);
    if (noise_applies(t)) {
      std::vector<double> restore(groups.size());
      for (std::size_t g = 0; g < groups.size(); ++g) {
        const double old_lr = groups[g].options().get_lr();
        restore[g] = old_lr;
        groups[g].options().set_lr(old_lr + old_lr * noise);
      }
      restore_lr_ = std::move(restore);
    }
  } catch (...) {
    for (std::size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(before[g]);
    restore_lr_ = restore_before;
    throw;
  }
  record_last_lr();
  set_last_t(t);
}

void PlateauLRScheduler::step_with(std::optional<double> metric) {
  TORCH_CHECK_VALUE(metric.has_value(), name(), ": step_with() needs a metric (the plateau rule steps on it)");
  step(last_epoch() + 1, metric);
}

void PlateauLRScheduler::serialize(StateArchive& archive) {
  auto& o = options_;
  archive.field("decay_rate", o.decay_rate());
  archive.field("patience_t", o.patience_t());
  archive.field("threshold", o.threshold());
  archive.field("cooldown_t", o.cooldown_t());
  archive.field("lr_min", o.lr_min());
  detail::mode_field(archive, "mode", o.mode(), name());
  std::string noise_type = to_string(o.noise_type());
  archive.field("noise_type", noise_type);
  if (archive.loading()) parse_config_enum(name() + ": the checkpoint's noise_type", noise_type, o.noise_type());
  common_fields(archive, o);
  archive.field("restore_lr", restore_lr_);
  archive.nested("plateau", [this](StateArchive& a) { plateau_->checkpoint(a); });
  if (archive.loading()) {
    common() = common_of(o, true, o.noise_type());
    TORCH_CHECK_VALUE(restore_lr_.empty() || restore_lr_.size() == base_values().size(), name(),
                      ": the checkpoint's restore_lr does not have one value per group");
    detail::check_all_finite_in_checkpoint(name(), "restore_lr", restore_lr_);
  }
}

// ---- create_scheduler_v2 ---------------------------------------------------------------------------

CreatedScheduler create_scheduler_v2(torch::optim::Optimizer& optimizer, const CreateSchedulerV2Options& options) {
  const auto& o = options;
  const char* name = "timm.create_scheduler_v2";
  const std::string& sched = o.sched();
  TORCH_CHECK_VALUE(sched == "cosine" || sched == "tanh" || sched == "step" || sched == "multistep" ||
                        sched == "plateau" || sched == "poly",
                    name, ": sched must be one of 'cosine', 'tanh', 'step', 'multistep', 'plateau' or 'poly', but got '",
                    sched, "' (timm returns no scheduler for it)");
  int64_t t_initial = o.num_epochs();
  int64_t warmup_t = o.warmup_epochs();
  int64_t decay_t = o.decay_epochs();
  std::vector<int64_t> decay_milestones = o.decay_milestones();
  int64_t cooldown_t = o.cooldown_epochs();
  for (int64_t v : {o.num_epochs(), o.warmup_epochs(), o.decay_epochs(), o.cooldown_epochs(), o.updates_per_epoch()}) {
    check_steps(name, "an epoch count", v);
  }
  if (!o.step_on_epochs()) {
    TORCH_CHECK_VALUE(o.updates_per_epoch() > 0, name,
                      ": updates_per_epoch must be set to number of dataloader batches (step_on_epochs is false), but got ",
                      o.updates_per_epoch());
    const int64_t u = o.updates_per_epoch();
    auto times = [&](int64_t v, const char* what) {
      TORCH_CHECK_VALUE(std::abs(static_cast<double>(v) * static_cast<double>(u)) <=
                            static_cast<double>(detail::kMaxExactInteger),
                        name, ": ", what, " × updates_per_epoch is beyond 2^53");
      return v * u;
    };
    t_initial = times(t_initial, "num_epochs");
    warmup_t = times(warmup_t, "warmup_epochs");
    decay_t = times(decay_t, "decay_epochs");
    for (auto& d : decay_milestones) d = times(d, "decay_milestones");
    cooldown_t = times(cooldown_t, "cooldown_epochs");
  }
  // noise: a fraction of t_initial (or two); one element is a number.
  std::vector<double> noise_range;
  TORCH_CHECK_VALUE(o.noise().size() <= 2, name, ": noise must hold at most 2 numbers, but it holds ", o.noise().size());
  for (double n : o.noise()) noise_range.push_back(n * static_cast<double>(t_initial));

  CreatedScheduler created;
  if (sched == "cosine") {
    auto s = CosineLRSchedulerOptions(t_initial).lr_min(o.min_lr()).t_in_epochs(o.step_on_epochs());
    s.cycle_mul(o.cycle_mul()).cycle_decay(o.cycle_decay()).cycle_limit(o.cycle_limit());
    s.warmup_lr_init(o.warmup_lr()).warmup_t(warmup_t).warmup_prefix(o.warmup_prefix());
    s.noise_range_t(noise_range).noise_pct(o.noise_pct()).noise_std(o.noise_std()).noise_seed(o.noise_seed());
    s.k_decay(o.k_decay()).lr_scale(o.lr_scale());
    created.scheduler = std::make_unique<CosineLRScheduler>(optimizer, s);
  } else if (sched == "tanh") {
    auto s = TanhLRSchedulerOptions(t_initial).lr_min(o.min_lr()).t_in_epochs(o.step_on_epochs());
    s.cycle_mul(o.cycle_mul()).cycle_decay(o.cycle_decay()).cycle_limit(o.cycle_limit());
    s.warmup_lr_init(o.warmup_lr()).warmup_t(warmup_t).warmup_prefix(o.warmup_prefix());
    s.noise_range_t(noise_range).noise_pct(o.noise_pct()).noise_std(o.noise_std()).noise_seed(o.noise_seed());
    s.lr_scale(o.lr_scale());
    created.scheduler = std::make_unique<TanhLRScheduler>(optimizer, s);
  } else if (sched == "step") {
    auto s = StepLRSchedulerOptions(static_cast<double>(decay_t)).decay_rate(o.decay_rate()).t_in_epochs(o.step_on_epochs());
    s.warmup_lr_init(o.warmup_lr()).warmup_t(warmup_t).warmup_prefix(o.warmup_prefix());
    s.noise_range_t(noise_range).noise_pct(o.noise_pct()).noise_std(o.noise_std()).noise_seed(o.noise_seed());
    s.lr_scale(o.lr_scale());
    created.scheduler = std::make_unique<StepLRScheduler>(optimizer, s);
  } else if (sched == "multistep") {
    auto s = MultiStepLRSchedulerOptions(decay_milestones).decay_rate(o.decay_rate()).t_in_epochs(o.step_on_epochs());
    s.warmup_lr_init(o.warmup_lr()).warmup_t(warmup_t).warmup_prefix(o.warmup_prefix());
    s.noise_range_t(noise_range).noise_pct(o.noise_pct()).noise_std(o.noise_std()).noise_seed(o.noise_seed());
    s.lr_scale(o.lr_scale());
    created.scheduler = std::make_unique<MultiStepLRScheduler>(optimizer, s);
  } else if (sched == "plateau") {
    TORCH_CHECK_VALUE(o.step_on_epochs(), name, ": Plateau LR only supports step per epoch (step_on_epochs is false)");
    // timm passes cooldown_t = 0 (cooldown_epochs is not used) and no warmup_prefix.
    auto s = PlateauLRSchedulerOptions().decay_rate(o.decay_rate()).patience_t(o.patience_epochs()).cooldown_t(0);
    s.warmup_lr_init(o.warmup_lr()).warmup_t(warmup_t).lr_min(o.min_lr()).mode(o.plateau_mode());
    s.noise_range_t(noise_range).noise_pct(o.noise_pct()).noise_std(o.noise_std()).noise_seed(o.noise_seed());
    s.lr_scale(o.lr_scale());
    created.scheduler = std::make_unique<PlateauLRScheduler>(optimizer, s);
  } else {
    // poly: decay_rate is the polynomial's power.
    auto s = PolyLRSchedulerOptions(t_initial).power(o.decay_rate()).lr_min(o.min_lr()).t_in_epochs(o.step_on_epochs());
    s.k_decay(o.k_decay()).cycle_mul(o.cycle_mul()).cycle_decay(o.cycle_decay()).cycle_limit(o.cycle_limit());
    s.warmup_lr_init(o.warmup_lr()).warmup_t(warmup_t).warmup_prefix(o.warmup_prefix());
    s.noise_range_t(noise_range).noise_pct(o.noise_pct()).noise_std(o.noise_std()).noise_seed(o.noise_seed());
    s.lr_scale(o.lr_scale());
    created.scheduler = std::make_unique<PolyLRScheduler>(optimizer, s);
  }

  // The epochs to train: for the cycle schedulers their cycles (and a prefixed warmup) plus the
  // cooldown; for the others num_epochs, plus the warmup when it is a prefix.
  int64_t cycle_t = -1;
  if (auto* s = dynamic_cast<CosineLRScheduler*>(created.scheduler.get())) cycle_t = s->get_cycle_length();
  if (auto* s = dynamic_cast<TanhLRScheduler*>(created.scheduler.get())) cycle_t = s->get_cycle_length();
  if (auto* s = dynamic_cast<PolyLRScheduler*>(created.scheduler.get())) cycle_t = s->get_cycle_length();
  if (cycle_t >= 0) {
    const int64_t with_cooldown = cycle_t + cooldown_t;
    created.num_epochs = o.step_on_epochs() ? with_cooldown : detail::floor_div(with_cooldown, o.updates_per_epoch());
  } else {
    created.num_epochs = o.num_epochs() + (o.warmup_prefix() ? o.warmup_epochs() : 0);
  }
  return created;
}

}  // namespace torchlr::timm
