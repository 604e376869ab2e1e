#pragma once

// The scheduler protocol shared by every torchlr scheduler: PyTorch's `LRScheduler`.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torchlr/scheduler_base.h>
#include <torchlr/state_archive.h>

namespace torchlr {

namespace detail {
class LrAccess;          // reads and writes the groups' lrs and momenta (src/lr_access.h)
struct OptimizerValues;  // every group's lr and momentum (src/internal.h)
}  // namespace detail

/// Base class of every epoch/step scheduler, following current PyTorch's `LRScheduler`:
///
/// - Construction performs the initial step: right after it, each group's lr is the schedule's
///   value at epoch 0 and `last_epoch() == 0`.
/// - `step()` is called after `optimizer.step()`; it advances `last_epoch()` and writes every
///   param group's lr.
/// - Each group's initial lr is remembered as PyTorch's `group["initial_lr"]` is (with
///   `setdefault`): a second scheduler on the same optimizer sees the first one's initial lrs
///   as its `base_lrs()`. LibTorch groups cannot hold extra keys, so torchlr keeps them beside
///   the optimizer for as long as a scheduler on it is alive.
///
/// Writing a custom scheduler: derive, override `get_lr(group)` (and optionally
/// `get_closed_form_lr(group)` with `has_closed_form()`), and call `initial_step()` as the last
/// statement of your constructor (C++ cannot dispatch to your override from the base
/// constructor). State beyond the base fields goes in `serialize(StateArchive&)`.
class LRScheduler : public SchedulerBase {
 public:
  ~LRScheduler() override;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// Advances the schedule by one and writes each group's lr. Call it after `optimizer.step()`.
  virtual void step();

  /// Moves the schedule to `epoch`, using the closed form where the scheduler has one (PyTorch's
  /// `step(epoch)`). Integral epochs only, except for CosineAnnealingWarmRestarts.
  virtual void step(double epoch);

  /// The index of the last step taken (0 right after construction).
  int64_t last_epoch() const noexcept override { return last_epoch_; }

  /// The lr of every group as the last step left it (a snapshot: later edits of the optimizer's
  /// lr do not show here, as in PyTorch).
  const std::vector<double>& get_last_lr() const noexcept override { return last_lr_; }

  /// Each group's initial lr, as PyTorch's `base_lrs`.
  const std::vector<double>& base_lrs() const noexcept { return base_lrs_; }

  torch::optim::Optimizer& optimizer() const noexcept override { return *optimizer_; }

  /// The generic step: `step()`; the metric is not used.
  void step_with(std::optional<double> /*metric*/) override { step(); }

  /// Writes the scheduler's state, and every group's current lr, to `archive`.
  void save(torch::serialize::OutputArchive& archive) const override;

  /// Restores a state written by `save` on a scheduler of the same type and number of groups,
  /// and writes the checkpoint's lrs into the optimizer (whatever `torch::load` of the optimizer
  /// did to them). On any error it throws `c10::ValueError` and changes nothing.
  void load(torch::serialize::InputArchive& archive) override;

 protected:
  // What a custom scheduler's author uses; the machinery of the built-in composites is private.

  explicit LRScheduler(torch::optim::Optimizer& optimizer);

  /// PyTorch's `_initial_step`: the step that construction performs. Call it last in the
  /// constructor of a concrete scheduler.
  void initial_step();

  /// The lr of `group` at `last_epoch()` in the chainable form (PyTorch's `get_lr`); may read
  /// the group's current lr through `group_lr`.
  virtual double get_lr(std::size_t group) = 0;

  /// Called once per step before the per-group `get_lr` (or closed-form) calls: the place for
  /// what every group shares (a decay factor, a cosine), computed once as PyTorch does.
  virtual void prepare_lrs(bool /*closed_form*/) {}

  /// Whether `get_closed_form_lr` exists; `step(epoch)` uses it instead of `get_lr` when it does.
  virtual bool has_closed_form() const { return false; }
  virtual double get_closed_form_lr(std::size_t group);

  /// Scheduler-specific state for checkpoints (the base fields are handled already).
  virtual void serialize(StateArchive& archive);

  /// Called once every lr of a step is written: the place to write momenta (`set_group_momenta`).
  virtual void after_lrs_written() {}

  /// Writes every group's momentum (or beta1) from within after_lrs_written; the optimizer must
  /// have one (torchlr::momentum_access).
  void set_group_momenta(const std::vector<double>& momenta);

  /// Replaces `base_lrs()` (CyclicLR sets them to its base_lr after the initial step, as PyTorch).
  void set_base_lrs(std::vector<double> lrs) { base_lrs_ = std::move(lrs); }

  /// The current lr of `group`, from within get_lr / get_closed_form_lr / prepare_lrs.
  double group_lr(std::size_t group) const;
  std::size_t num_groups() const noexcept { return num_groups_; }
  /// True during the initial step (construction).
  bool is_initial() const noexcept { return is_initial_; }
  /// How many steps were taken, the initial one included (PyTorch's `_step_count`).
  int64_t step_count() const noexcept { return step_count_; }

  /// Only for a scheduler whose step changes state beyond the base fields (and which must step
  /// all or nothing inside a ChainedScheduler): copy that state aside / put the copy back.
  virtual void mark_extra() {}
  virtual void roll_back_extra() {}

 private:
  // The built-in schedulers below drive the machinery of other schedulers (composites step their
  // children) or build on it (CyclicLR and OneCycleLR write the optimizer before the base exists).
  friend class SequentialLR;
  friend class ChainedScheduler;
  friend class CosineAnnealingWarmRestarts;
  friend class CyclicLR;
  friend class OneCycleLR;

  /// For a scheduler that wrote the optimizer before its base was built: `before` is written
  /// back if construction fails after the base was built (the initial step refused, say), and
  /// the initial lrs it assigned are taken back, so a refused construction leaves the optimizer
  /// and the remembered initial lrs as they were.
  LRScheduler(torch::optim::Optimizer& optimizer, detail::OptimizerValues before);
  LRScheduler(torch::optim::Optimizer& optimizer, detail::OptimizerValues before, bool undo_if_construction_fails);

  /// PyTorch's `_update_lr`: sets `last_epoch` (to `last_epoch + 1`, or to `epoch`), computes
  /// every group's lr and writes it. Composites override it.
  virtual void update_lr(std::optional<double> epoch);

  /// PyTorch's `recursive_undo` for one scheduler: takes back the epoch of the initial step.
  virtual void undo_initial_step() { --last_epoch_; }

  /// Computes every group's lr (closed form or chainable), then writes them all and records
  /// them as the last lrs. Nothing is written if any value is not finite.
  void write_lrs(bool closed_form);

  /// Sets the last lrs from the optimizer's groups (composites).
  void record_last_lr_from_optimizer();
  void set_last_lr(const std::vector<double>& lrs) { last_lr_ = lrs; }
  void set_last_epoch(int64_t epoch) noexcept { last_epoch_ = epoch; }

  /// For composites, which have no initial step of their own (as in PyTorch).
  void mark_constructed() noexcept { initialized_ = true; }

  /// Checks that the optimizer still has the groups the scheduler was built for.
  void check_group_count() const;

  // A step taken all or nothing across several schedulers (ChainedScheduler): what a step can
  // change is marked before it and put back if a later scheduler refuses to step. mark_step and
  // roll_back_step cover the base fields and call mark_extra / roll_back_extra.
  void mark_step();
  void roll_back_step();

  /// Copies every group's lr and momentum aside / writes them back (a composite's failed step).
  void remember_optimizer_values();
  void restore_optimizer_values();

  void serialize_all(StateArchive& archive);
  void checkpoint(StateArchive& archive);
  void warn_if_optimizer_not_stepped() const;

  torch::optim::Optimizer* optimizer_;
  // Fixed at construction: never read from a checkpoint, so a checkpoint with lists of another
  // length cannot change what the scheduler checks against.
  std::size_t num_groups_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  std::vector<double> next_lrs_;  // scratch for write_lrs, sized once: step() does not allocate
  std::unique_ptr<detail::LrAccess> lr_access_;  // a cache: reading through it is logically const
  // mark_step's copy, and remember_optimizer_values'; sized once, so marking does not allocate.
  int64_t marked_last_epoch_ = -1;
  int64_t marked_step_count_ = 0;
  std::vector<double> marked_last_lr_;
  std::vector<double> remembered_lrs_;
  std::vector<double> remembered_momenta_;  // NaN for a group without momentum
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  bool is_initial_ = false;
  bool initialized_ = false;
  bool undo_if_construction_fails_ = false;
  // Each group's entry in the initial-lr registry, and what assigning it replaced (kept only
  // until construction succeeds).
  std::vector<uint64_t> initial_lr_generations_;
  std::vector<std::optional<double>> replaced_initial_lrs_;
};

}  // namespace torchlr
