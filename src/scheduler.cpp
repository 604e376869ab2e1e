#include <torchlr/scheduler.h>

#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <utility>

#include "internal.h"
#include "lr_access.h"
#include "state_archive_impl.h"

namespace torchlr {
namespace {

// PyTorch keeps `initial_lr` in each param group's dict; LibTorch groups cannot hold extra keys,
// so the value lives here, keyed by (optimizer, group index), for as long as some scheduler on
// that optimizer is alive. Counting the schedulers keeps a later optimizer that happens to reuse
// the address from inheriting stale values.
class InitialLrRegistry {
 public:
  static InitialLrRegistry& instance() {
    static InitialLrRegistry registry;
    return registry;
  }

  /// `group.setdefault("initial_lr", lr)`: returns the remembered value, or remembers `lr`.
  double acquire(const torch::optim::Optimizer* optimizer, std::size_t group, double lr) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = entries_.try_emplace({optimizer, group}, Entry{lr, 0});
    ++it->second.users;
    return it->second.initial_lr;
  }

  /// `group["initial_lr"] = lr`: overwrites, for schedulers that assign it (OneCycleLR).
  void assign(const torch::optim::Optimizer* optimizer, std::size_t group, double lr) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = entries_.try_emplace({optimizer, group}, Entry{lr, 0});
    it->second.initial_lr = lr;
  }

  void release(const torch::optim::Optimizer* optimizer, std::size_t group) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find({optimizer, group});
    if (it != entries_.end() && --it->second.users <= 0) entries_.erase(it);
  }

 private:
  struct Entry {
    double initial_lr;
    int users;
  };
  std::mutex mutex_;
  std::map<std::pair<const torch::optim::Optimizer*, std::size_t>, Entry> entries_;
};

constexpr int64_t kFormatVersion = 1;

}  // namespace

namespace detail {
OptimizerValues read_optimizer_values(const torch::optim::Optimizer& optimizer) {
  OptimizerValues values;
  for (const auto& group : optimizer.param_groups()) {
    const auto& options = group.options();
    const MomentumAccess* access = momentum_access(options);
    values.lrs.push_back(options.get_lr());
    values.momenta.push_back(access ? access->get(options) : std::numeric_limits<double>::quiet_NaN());
  }
  return values;
}

void assign_initial_lr(const torch::optim::Optimizer& optimizer, std::size_t group, double lr) {
  InitialLrRegistry::instance().assign(&optimizer, group, lr);
}
}  // namespace detail

LRScheduler::LRScheduler(torch::optim::Optimizer& optimizer)
    : optimizer_(&optimizer),
      num_groups_(optimizer.param_groups().size()),
      lr_access_(std::make_unique<detail::LrAccess>()) {
  auto& groups = optimizer.param_groups();
  base_lrs_.reserve(groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    base_lrs_.push_back(
        InitialLrRegistry::instance().acquire(optimizer_, i, groups[i].options().get_lr()));
  }
  last_lr_.assign(groups.size(), 0.0);
  next_lrs_.assign(groups.size(), 0.0);
}

LRScheduler::LRScheduler(torch::optim::Optimizer& optimizer, detail::OptimizerValues before)
    : LRScheduler(optimizer) {
  remembered_lrs_ = std::move(before.lrs);
  remembered_momenta_ = std::move(before.momenta);
  restore_if_initial_step_fails_ = true;
}

LRScheduler::~LRScheduler() {
  for (std::size_t i = 0; i < num_groups_; ++i) {
    InitialLrRegistry::instance().release(optimizer_, i);
  }
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  is_initial_ = true;
  try {
    step();
  } catch (...) {
    is_initial_ = false;
    if (restore_if_initial_step_fails_) restore_optimizer_values();
    throw;
  }
  is_initial_ = false;
  restore_if_initial_step_fails_ = false;
  initialized_ = true;
}

void LRScheduler::step() {
  TORCH_CHECK(initialized_ || is_initial_, name(),
              ": initial_step() was never called; a scheduler's constructor must end with it");
  if (step_count_ == 1) warn_if_optimizer_not_stepped();
  ++step_count_;
  try {
    update_lr(std::nullopt);
  } catch (...) {
    --step_count_;
    throw;
  }
}

void LRScheduler::step(double epoch) {
  TORCH_CHECK_VALUE(std::isfinite(epoch) && epoch == std::floor(epoch), name(),
                    ".step(epoch): epoch must be an integer, but got ", epoch);
  TORCH_CHECK_VALUE(std::abs(epoch) <= static_cast<double>(detail::kMaxExactInteger), name(),
                    ".step(epoch): epoch must be within ±2^53, but got ", epoch);
  TORCH_CHECK(initialized_, name(), ": initial_step() was never called");
  if (step_count_ == 1) warn_if_optimizer_not_stepped();
  ++step_count_;
  try {
    update_lr(epoch);
  } catch (...) {
    --step_count_;
    throw;
  }
}

void LRScheduler::update_lr(std::optional<double> epoch) {
  const int64_t previous = last_epoch_;
  last_epoch_ = epoch ? static_cast<int64_t>(*epoch) : last_epoch_ + 1;
  try {
    write_lrs(epoch.has_value() && has_closed_form());
  } catch (...) {
    last_epoch_ = previous;
    throw;
  }
}

void LRScheduler::write_lrs(bool closed_form) {
  check_group_count();
  const std::size_t n = num_groups();
  lr_access_->sync(optimizer_->param_groups());
  prepare_lrs(closed_form);
  for (std::size_t g = 0; g < n; ++g) {
    next_lrs_[g] = closed_form ? get_closed_form_lr(g) : get_lr(g);
  }
  for (std::size_t g = 0; g < n; ++g) {
    TORCH_CHECK_VALUE(std::isfinite(next_lrs_[g]), name(), ": the lr of param group ", g,
                      " would become ", next_lrs_[g], " at epoch ", last_epoch_,
                      "; the optimizer was left unchanged");
  }
  for (std::size_t g = 0; g < n; ++g) {
    lr_access_->set(g, next_lrs_[g]);
    last_lr_[g] = next_lrs_[g];
  }
  after_lrs_written();
}

void LRScheduler::mark_step() {
  marked_last_epoch_ = last_epoch_;
  marked_step_count_ = step_count_;
  marked_last_lr_ = last_lr_;
  mark_extra();
}

void LRScheduler::roll_back_step() {
  last_epoch_ = marked_last_epoch_;
  step_count_ = marked_step_count_;
  last_lr_ = marked_last_lr_;
  roll_back_extra();
}

void LRScheduler::remember_optimizer_values() {
  check_group_count();
  lr_access_->sync(optimizer_->param_groups());
  const std::size_t n = num_groups();
  remembered_lrs_.resize(n);
  remembered_momenta_.resize(n);
  for (std::size_t g = 0; g < n; ++g) {
    remembered_lrs_[g] = lr_access_->get(g);
    remembered_momenta_[g] = lr_access_->has_momentum(g) ? lr_access_->get_momentum(g)
                                                        : std::numeric_limits<double>::quiet_NaN();
  }
}

void LRScheduler::restore_optimizer_values() {
  lr_access_->sync(optimizer_->param_groups());
  for (std::size_t g = 0; g < remembered_lrs_.size(); ++g) {
    lr_access_->set(g, remembered_lrs_[g]);
    if (lr_access_->has_momentum(g)) lr_access_->set_momentum(g, remembered_momenta_[g]);
  }
}

void LRScheduler::record_last_lr_from_optimizer() {
  check_group_count();
  lr_access_->sync(optimizer_->param_groups());
  for (std::size_t g = 0; g < num_groups(); ++g) last_lr_[g] = lr_access_->get(g);
}

double LRScheduler::get_closed_form_lr(std::size_t) {
  TORCH_CHECK(false, name(), " has no closed form");
}

void LRScheduler::serialize(StateArchive&) {}

double LRScheduler::group_lr(std::size_t group) const {
  return lr_access_->get(group);  // synced at the start of the step
}

void LRScheduler::check_group_count() const {
  TORCH_CHECK_VALUE(optimizer_->param_groups().size() == num_groups_, name(),
                    ": the optimizer has ", optimizer_->param_groups().size(),
                    " param groups, but the scheduler was constructed for ", num_groups_,
                    "; construct a new scheduler after adding param groups");
}

void LRScheduler::warn_if_optimizer_not_stepped() const {
  // PyTorch checks once, on the first user call; torchlr can only tell for optimizers that keep
  // per-parameter state, which is still empty if optimizer.step() never ran.
  if (optimizer_->state().empty() && detail::optimizer_creates_state_on_step(*optimizer_)) {
    TORCH_WARN(
        "Detected call of `lr_scheduler.step()` before `optimizer.step()`. You should call them in "
        "the opposite order: `optimizer.step()` before `lr_scheduler.step()`. Failure to do this "
        "will result in skipping the first value of the learning rate schedule.");
  }
}

void LRScheduler::serialize_all(StateArchive& archive) {
  std::string type = name();
  archive.field("type", type);
  TORCH_CHECK_VALUE(type == name(), "cannot load a checkpoint of a ", type, " into a ", name());
  int64_t version = kFormatVersion;
  archive.field("format_version", version);
  TORCH_CHECK_VALUE(version == kFormatVersion, name(), ": unsupported checkpoint format version ",
                    version, " (this build reads version ", kFormatVersion, ")");
  int64_t groups = static_cast<int64_t>(num_groups());
  archive.field("num_groups", groups);
  TORCH_CHECK_VALUE(groups == static_cast<int64_t>(num_groups()), name(),
                    ": the checkpoint was saved for ", groups,
                    " param groups, but this scheduler has ", num_groups());
  archive.field("last_epoch", last_epoch_);
  archive.field("step_count", step_count_);
  archive.field("base_lrs", base_lrs_);
  archive.field("last_lr", last_lr_);
  TORCH_CHECK_VALUE(base_lrs_.size() == num_groups() && last_lr_.size() == num_groups(), name(),
                    ": the checkpoint's base_lrs/last_lr do not have one value per param group");
  if (archive.loading()) {
    TORCH_CHECK_VALUE(detail::is_valid_count(last_epoch_, -detail::kMaxExactInteger), name(),
                      ": the checkpoint holds an invalid last_epoch ", last_epoch_);
    TORCH_CHECK_VALUE(detail::is_valid_count(step_count_), name(),
                      ": the checkpoint holds an invalid step count ", step_count_);
    detail::check_all_finite_in_checkpoint(name(), "base_lrs", base_lrs_);
    detail::check_all_finite_in_checkpoint(name(), "last_lr", last_lr_);
  }
  serialize(archive);
}

void LRScheduler::checkpoint(StateArchive& archive) {
  serialize_all(archive);
  detail::optimizer_lrs_field(archive, *optimizer_, name());
}

void LRScheduler::save(torch::serialize::OutputArchive& archive) const {
  // Writing only reads the fields; the description is two-way and therefore not const.
  detail::save_state(archive, [this](StateArchive& a) { const_cast<LRScheduler*>(this)->checkpoint(a); });
}

void LRScheduler::load(torch::serialize::InputArchive& archive) {
  check_group_count();
  detail::load_state(archive, [this](StateArchive& a) { checkpoint(a); });
  initialized_ = true;
}

void LRScheduler::set_group_momenta(const std::vector<double>& momenta) {
  for (std::size_t g = 0; g < momenta.size(); ++g) lr_access_->set_momentum(g, momenta[g]);
}

}  // namespace torchlr
