#include <torchlr/composite.h>

#include <torch/optim/optimizer.h>

#include "internal.h"

namespace torchlr {
namespace {

// Every check PyTorch makes on the children, done before the base class touches anything.
torch::optim::Optimizer& checked_optimizer(const char* composite, const SchedulerList& schedulers,
                                           torch::optim::Optimizer* optimizer) {
  TORCH_CHECK_VALUE(!schedulers.empty(), composite,
                    " expects at least one scheduler, but got no scheduler.");
  for (std::size_t i = 0; i < schedulers.size(); ++i) {
    TORCH_CHECK_VALUE(schedulers[i] != nullptr, composite, ": schedulers[", i, "] is null");
  }
  torch::optim::Optimizer* expected = optimizer ? optimizer : &schedulers[0]->optimizer();
  for (std::size_t i = 0; i < schedulers.size(); ++i) {
    TORCH_CHECK_VALUE(&schedulers[i]->optimizer() == expected, composite,
                      " expects all schedulers to belong to the same optimizer, but got scheduler ",
                      schedulers[i]->name(), " at index ", i, " with a different optimizer.");
  }
  return *expected;
}

// PyTorch's order: the children first, then the milestone count.
torch::optim::Optimizer& checked_sequential(const SequentialLROptions& options,
                                            torch::optim::Optimizer& optimizer) {
  const auto& schedulers = options.schedulers();
  const auto& milestones = options.milestones();
  checked_optimizer("SequentialLR", schedulers, &optimizer);
  TORCH_CHECK_VALUE(milestones.size() + 1 == schedulers.size(),
                    "SequentialLR: Sequential Schedulers expects number of schedulers provided to "
                    "be one more than the number of milestone points, but got number of "
                    "schedulers ", schedulers.size(), " and the number of milestones to be equal to ",
                    milestones.size());
  return optimizer;
}

// Python's bisect.bisect_right, step for step: PyTorch does not sort the milestones, and the
// result on an unsorted list must be the same as Python's.
std::size_t bisect_right(const std::vector<int64_t>& values, int64_t x) {
  std::size_t lo = 0;
  std::size_t hi = values.size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (x < values[mid]) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

void serialize_children(StateArchive& archive, const SchedulerList& children,
                        void (*serialize_child)(LRScheduler&, StateArchive&)) {
  int64_t count = static_cast<int64_t>(children.size());
  archive.field("num_schedulers", count);
  TORCH_CHECK_VALUE(count == static_cast<int64_t>(children.size()),
                    "the checkpoint holds ", count, " child schedulers, but this one has ",
                    children.size());
  for (std::size_t i = 0; i < children.size(); ++i) {
    archive.nested("scheduler_" + std::to_string(i),
                   [&](StateArchive& child) { serialize_child(*children[i], child); });
  }
}

}  // namespace

// ---- SequentialLR ---------------------------------------------------------------------------

SequentialLR::SequentialLR(torch::optim::Optimizer& optimizer, const SequentialLROptions& options)
    : LRScheduler(checked_sequential(options, optimizer)),
      schedulers_(options.schedulers()),
      milestones_(options.milestones()) {
  set_last_epoch(0);
  auto& groups = this->optimizer().param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(base_lrs()[g]);
  undo_initial_step();
  schedulers_[0]->initial_step();
  set_last_lr(schedulers_[0]->get_last_lr());
  mark_constructed();
}

void SequentialLR::step() {
  const int64_t epoch = last_epoch() + 1;
  const std::size_t index = bisect_right(milestones_, epoch);
  LRScheduler& current = *schedulers_[index];
  set_last_epoch(epoch);
  try {
    if (index > 0 && milestones_[index - 1] == epoch) {
      // PyTorch 2.6 calls `scheduler.step(0)`, which counts as a step (SWALR counts its steps;
      // the reference traces were recorded from 2.6) and checks that the optimizer stepped.
      // (Later PyTorch calls `_update_lr(0)`, which does neither: SWALR then lags one step.)
      if (current.step_count_ == 1) current.warn_if_optimizer_not_stepped();
      ++current.step_count_;
      try {
        current.update_lr(0.0);
      } catch (...) {
        --current.step_count_;
        throw;
      }
    } else {
      current.step();
    }
  } catch (...) {
    set_last_epoch(epoch - 1);
    throw;
  }
  set_last_lr(current.get_last_lr());
}

void SequentialLR::step(double) {
  TORCH_CHECK_VALUE(false, "SequentialLR.step(epoch) is not supported; call step()");
}

double SequentialLR::get_lr(std::size_t) {
  TORCH_CHECK(false, "SequentialLR computes no lr of its own");
}

// PyTorch raises NotImplementedError when a SequentialLR is itself a child reaching a milestone;
// torchlr restarts it: its epoch becomes `epoch` and its first scheduler restarts there.
void SequentialLR::update_lr(std::optional<double> epoch) {
  if (!epoch) {
    step();
    return;
  }
  set_last_epoch(static_cast<int64_t>(*epoch));
  schedulers_[0]->update_lr(epoch);
  set_last_lr(schedulers_[0]->get_last_lr());
}

void SequentialLR::mark_extra() {
  for (auto& child : schedulers_) child->mark_step();
}

void SequentialLR::roll_back_extra() {
  for (auto& child : schedulers_) child->roll_back_step();
}

void SequentialLR::undo_initial_step() {
  for (auto& child : schedulers_) child->undo_initial_step();
}

void SequentialLR::serialize(StateArchive& archive) {
  archive.field("milestones", milestones_);
  TORCH_CHECK_VALUE(milestones_.size() + 1 == schedulers_.size(),
                    "SequentialLR: the checkpoint holds ", milestones_.size(),
                    " milestones for ", schedulers_.size(), " schedulers");
  serialize_children(archive, schedulers_, +[](LRScheduler& child, StateArchive& a) { child.serialize_all(a); });
}

// ---- ChainedScheduler -----------------------------------------------------------------------

ChainedScheduler::ChainedScheduler(SchedulerList schedulers)
    : LRScheduler(checked_optimizer("ChainedScheduler", schedulers, nullptr)),
      schedulers_(std::move(schedulers)) {
  set_last_epoch(0);
  record_last_lr_from_optimizer();
  mark_constructed();
}

ChainedScheduler::ChainedScheduler(torch::optim::Optimizer& optimizer, SchedulerList schedulers)
    : LRScheduler(checked_optimizer("ChainedScheduler", schedulers, &optimizer)),
      schedulers_(std::move(schedulers)) {
  set_last_epoch(0);
  record_last_lr_from_optimizer();
  mark_constructed();
}

void ChainedScheduler::step() {
  step_children(std::nullopt);
  set_last_epoch(last_epoch() + 1);
  record_last_lr_from_optimizer();
}

// All or nothing: when a child refuses to step (an lr that would overflow, a OneCycleLR past its
// end), the children that already stepped are put back, and so is every group's lr and momentum.
void ChainedScheduler::step_children(std::optional<double> epoch) {
  remember_optimizer_values();
  mark_extra();
  try {
    for (auto& child : schedulers_) {
      if (epoch) {
        child->update_lr(epoch);
      } else {
        child->step();
      }
    }
  } catch (...) {
    roll_back_extra();
    restore_optimizer_values();
    throw;
  }
}

void ChainedScheduler::mark_extra() {
  for (auto& child : schedulers_) child->mark_step();
}

void ChainedScheduler::roll_back_extra() {
  for (auto& child : schedulers_) child->roll_back_step();
}

void ChainedScheduler::step(double) {
  TORCH_CHECK_VALUE(false, "ChainedScheduler.step(epoch) is not supported; call step()");
}

double ChainedScheduler::get_lr(std::size_t) {
  TORCH_CHECK(false, "ChainedScheduler computes no lr of its own");
}

// Reached only when a ChainedScheduler is a SequentialLR child at a milestone (PyTorch raises
// there): every child restarts at `epoch`, in order.
void ChainedScheduler::update_lr(std::optional<double> epoch) {
  if (!epoch) {
    step();
    return;
  }
  step_children(epoch);
  set_last_epoch(static_cast<int64_t>(*epoch));
  record_last_lr_from_optimizer();
}

void ChainedScheduler::undo_initial_step() {
  for (auto& child : schedulers_) child->undo_initial_step();
}

void ChainedScheduler::serialize(StateArchive& archive) {
  serialize_children(archive, schedulers_, +[](LRScheduler& child, StateArchive& a) { child.serialize_all(a); });
}

}  // namespace torchlr
