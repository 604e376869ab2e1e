#include <torchlr/scheduler.h>

#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include <c10/util/intrusive_ptr.h>

#include "internal.h"
#include "lr_access.h"
#include "state_archive_impl.h"

namespace torchlr {
namespace {

// PyTorch keeps `initial_lr` in each param group's dict; LibTorch groups cannot hold extra keys,
// so the value lives here, keyed by (optimizer, group index), for as long as some scheduler on
// that group is alive.
//
// - The registry is never destroyed: a scheduler owned by a static object may be destroyed after
//   every function-local static, and must still find it.
// - An address alone does not identify an optimizer once it has been freed. Each entry also holds
//   a weak reference to its group's first parameter (which keeps that TensorImpl's address from
//   being reused): an entry whose parameter is gone or is another one belongs to a dead
//   optimizer and is replaced, never inherited. Every entry has a generation of its own, so the
//   schedulers of a replaced entry release nothing of its successor.
class InitialLrRegistry {
 public:
  static InitialLrRegistry& instance() {
    static auto* registry = new InitialLrRegistry;  // deliberately immortal, see above
    return *registry;
  }

  struct Acquired {
    double initial_lr;
    uint64_t generation;
    std::optional<double> replaced;  // the value an assignment overwrote, for a failed construction
  };

  /// `group.setdefault("initial_lr", lr)`, or with `assign` `group["initial_lr"] = lr`
  /// (OneCycleLR), and one more user of the entry.
  Acquired acquire(const torch::optim::Optimizer& optimizer, std::size_t group, double lr, bool assign) {
    const GroupIdentity identity = identity_of(optimizer.param_groups()[group]);
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = entries_.try_emplace({&optimizer, group});
    Entry& entry = it->second;
    if (inserted || !entry.belongs_to(identity)) entry = Entry{lr, 0, ++last_generation_, identity};
    std::optional<double> replaced;
    if (assign && !inserted && entry.users > 0) replaced = entry.initial_lr;
    if (assign) entry.initial_lr = lr;
    ++entry.users;
    return {entry.initial_lr, entry.generation, replaced};
  }

  /// Puts back what an assignment replaced (a construction that failed after acquiring).
  void put_back(const torch::optim::Optimizer* optimizer, std::size_t group, uint64_t generation, double lr) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find({optimizer, group});
    if (it != entries_.end() && it->second.generation == generation) it->second.initial_lr = lr;
  }

  void release(const torch::optim::Optimizer* optimizer, std::size_t group, uint64_t generation) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find({optimizer, group});
    if (it != entries_.end() && it->second.generation == generation && --it->second.users <= 0) {
      entries_.erase(it);
    }
  }

 private:
  using WeakTensorImpl = c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>;
  struct GroupIdentity {
    std::optional<WeakTensorImpl> first_param;  // empty for a group without parameters
  };

  static GroupIdentity identity_of(const torch::optim::OptimizerParamGroup& group) {
    if (group.params().empty()) return {};
    return {WeakTensorImpl(group.params().front().getIntrusivePtr())};
  }

  struct Entry {
    double initial_lr = 0;
    int users = 0;
    uint64_t generation = 0;
    GroupIdentity identity;

    bool belongs_to(const GroupIdentity& current) const {
      if (!identity.first_param || !current.first_param) return !identity.first_param && !current.first_param;
      return !identity.first_param->expired() &&
             identity.first_param->_unsafe_get_target() == current.first_param->_unsafe_get_target();
    }
  };

  std::mutex mutex_;
  uint64_t last_generation_ = 0;
  std::map<std::pair<const torch::optim::Optimizer*, std::size_t>, Entry> entries_;
};

constexpr int64_t kFormatVersion = 1;

}  // namespace

namespace detail {

InitialLrLease::InitialLrLease(const torch::optim::Optimizer& optimizer) : optimizer_(&optimizer) {
  const auto& groups = optimizer.param_groups();
  values_.reserve(groups.size());
  generations_.reserve(groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const auto acquired = InitialLrRegistry::instance().acquire(optimizer, i, groups[i].options().get_lr(), false);
    values_.push_back(acquired.initial_lr);
    generations_.push_back(acquired.generation);
  }
}

InitialLrLease::~InitialLrLease() {
  for (std::size_t i = 0; i < generations_.size(); ++i) {
    InitialLrRegistry::instance().release(optimizer_, i, generations_[i]);
  }
}

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

}  // namespace detail

LRScheduler::LRScheduler(torch::optim::Optimizer& optimizer) : LRScheduler(optimizer, {}, false) {}

LRScheduler::LRScheduler(torch::optim::Optimizer& optimizer, detail::OptimizerValues before)
    : LRScheduler(optimizer, std::move(before), true) {}

LRScheduler::LRScheduler(torch::optim::Optimizer& optimizer, detail::OptimizerValues before,
                         bool undo_if_construction_fails)
    : optimizer_(&optimizer),
      num_groups_(optimizer.param_groups().size()),
      lr_access_(std::make_unique<detail::LrAccess>()) {
  auto& groups = optimizer.param_groups();
  const bool assign = !before.initial_lrs.empty();
  TORCH_CHECK(!assign || before.initial_lrs.size() == groups.size(), "LRScheduler: ", before.initial_lrs.size(),
              " initial lrs for ", groups.size(), " param groups");
  base_lrs_.reserve(groups.size());
  initial_lr_generations_.reserve(groups.size());
  replaced_initial_lrs_.reserve(groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const double lr = assign ? before.initial_lrs[i] : groups[i].options().get_lr();
    const auto acquired = InitialLrRegistry::instance().acquire(optimizer, i, lr, assign);
    base_lrs_.push_back(acquired.initial_lr);
    initial_lr_generations_.push_back(acquired.generation);
    replaced_initial_lrs_.push_back(acquired.replaced);
  }
  last_lr_.assign(groups.size(), 0.0);
  next_lrs_.assign(groups.size(), 0.0);
  remembered_lrs_ = std::move(before.lrs);
  remembered_momenta_ = std::move(before.momenta);
  undo_if_construction_fails_ = undo_if_construction_fails;
}

LRScheduler::~LRScheduler() {
  // A construction that failed after this base was built (its initial step refused, say) takes
  // back what it wrote: the optimizer's lrs and momenta, and the initial lrs it assigned.
  const bool construction_failed = undo_if_construction_fails_ && !initialized_;
  if (construction_failed) {
    try {
      restore_optimizer_values();
    } catch (...) {
      // A user's momentum setter refused to write the old value back; nothing more can be done here.
    }
  }
  auto& registry = InitialLrRegistry::instance();
  for (std::size_t i = 0; i < initial_lr_generations_.size(); ++i) {
    if (construction_failed && replaced_initial_lrs_[i]) {
      registry.put_back(optimizer_, i, initial_lr_generations_[i], *replaced_initial_lrs_[i]);
    }
    registry.release(optimizer_, i, initial_lr_generations_[i]);
  }
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  is_initial_ = true;
  try {
    step();
  } catch (...) {
    is_initial_ = false;  // the destructor, which runs next, takes back what construction wrote
    throw;
  }
  is_initial_ = false;
  initialized_ = true;
  replaced_initial_lrs_.clear();
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
    detail::warn(
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
