#pragma once

// Fast reading and writing of param groups' lrs (used inside the schedulers' step()).

#include <cstddef>
#include <vector>

#include <torch/optim/optimizer.h>

#include <torchlr/momentum.h>

namespace torchlr::detail {

/// Reads and writes each group's lr. For LibTorch's own options types (SGD, Adam, AdamW, RMSprop,
/// Adagrad, LBFGS) that is a plain double member, reached directly instead of through two
/// out-of-line virtual calls per group and step; any other options type goes through
/// get_lr()/set_lr(). `sync` runs at the start of every step and rebinds a group whose options
/// object was replaced (set_options, torch::load), so no pointer outlives what it points to.
class LrAccess {
 public:
  /// Checks that every group still holds the options object it was bound to, and binds the new
  /// or changed ones. `get` and `set` are valid for these groups until the groups change.
  void sync(std::vector<torch::optim::OptimizerParamGroup>& groups) {
    if (slots_.size() < groups.size()) slots_.resize(groups.size());
    for (std::size_t g = 0; g < groups.size(); ++g) {
      torch::optim::OptimizerOptions& options = groups[g].options();
      if (slots_[g].options != &options) bind(slots_[g], options);
    }
  }

  double get(std::size_t group) const {
    const Slot& s = slots_[group];
    return s.lr ? *s.lr : s.options->get_lr();
  }

  void set(std::size_t group, double lr) const {
    const Slot& s = slots_[group];
    if (s.lr) {
      *s.lr = lr;
    } else {
      s.options->set_lr(lr);
    }
  }

  /// Whether the group has a momentum (or Adam's beta1) torchlr can reach.
  bool has_momentum(std::size_t group) const {
    const Slot& s = slots_[group];
    return s.momentum != nullptr || s.momentum_access != nullptr;
  }

  double get_momentum(std::size_t group) const {
    const Slot& s = slots_[group];
    return s.momentum ? *s.momentum : s.momentum_access->get(*s.options);
  }

  /// Writes the group's momentum (or Adam's beta1); the group must have one.
  void set_momentum(std::size_t group, double momentum) const {
    const Slot& s = slots_[group];
    if (s.momentum) {
      *s.momentum = momentum;
    } else {
      s.momentum_access->set(*s.options, momentum);
    }
  }

 private:
  struct Slot {
    torch::optim::OptimizerOptions* options = nullptr;
    double* lr = nullptr;        // the options' own lr member, when its type is known
    double* momentum = nullptr;  // its momentum or beta1 member, likewise
    const MomentumAccess* momentum_access = nullptr;  // otherwise, a registered accessor
  };
  static void bind(Slot& slot, torch::optim::OptimizerOptions& options);

  std::vector<Slot> slots_;
};

}  // namespace torchlr::detail
