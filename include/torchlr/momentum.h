#pragma once

// Reading and writing an optimizer's momentum, for the schedulers that cycle it (CyclicLR,
// OneCycleLR). LibTorch has no virtual accessor for momentum, so torchlr knows the built-in
// options types and lets a user register their own.

#include <functional>
#include <typeindex>
#include <typeinfo>

namespace torch::optim {
class OptimizerOptions;
}  // namespace torch::optim

namespace torchlr {

/// How to read and write one options type's momentum (PyTorch's `momentum`, or `betas[0]` when
/// `use_beta1`).
struct MomentumAccess {
  std::function<double(const torch::optim::OptimizerOptions&)> get;
  std::function<void(torch::optim::OptimizerOptions&, double)> set;
  bool use_beta1 = false;
};

/// The accessor for `options`' type: SGD and RMSprop (`momentum`), Adam and AdamW (`betas[0]`,
/// the second beta untouched), or one registered with `register_momentum`. Null for types with
/// neither (Adagrad, LBFGS). The accessor stays valid for the rest of the program.
const MomentumAccess* momentum_access(const torch::optim::OptimizerOptions& options);

/// Teaches torchlr the momentum of a user's own options type:
///
///     torchlr::register_momentum<MyOptions>(
///         [](const MyOptions& o) { return o.momentum(); },
///         [](MyOptions& o, double m) { o.momentum(m); });
///
/// Concurrency: registering is safe from any thread, also while other threads construct or step
/// schedulers. An accessor, once registered, is never changed or freed: registering the same
/// type again installs a new accessor for lookups made afterwards (schedulers constructed later,
/// or a group whose options object is replaced), while schedulers that already found the old one
/// keep calling it. So register before creating the schedulers that should use it. The `get` and
/// `set` functions themselves are called without any lock, from whichever thread steps the
/// scheduler.
void register_momentum(std::type_index options_type, MomentumAccess access);

template <typename Options, typename Get, typename Set>
void register_momentum(Get get, Set set, bool use_beta1 = false) {
  register_momentum(
      std::type_index(typeid(Options)),
      MomentumAccess{
          [get](const torch::optim::OptimizerOptions& o) { return get(static_cast<const Options&>(o)); },
          [set](torch::optim::OptimizerOptions& o, double m) { set(static_cast<Options&>(o), m); },
          use_beta1});
}

}  // namespace torchlr
