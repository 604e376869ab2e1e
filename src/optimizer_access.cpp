#include "internal.h"

#include <map>
#include <typeinfo>
#include <memory>
#include <mutex>
#include <vector>

#include "lr_access.h"
#include <torchlr/momentum.h>

#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/lbfgs.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

namespace torchlr {
namespace {

template <typename Options>
MomentumAccess momentum_field() {
  return {[](const torch::optim::OptimizerOptions& o) { return static_cast<const Options&>(o).momentum(); },
          [](torch::optim::OptimizerOptions& o, double m) { static_cast<Options&>(o).momentum(m); },
          false};
}

template <typename Options>
MomentumAccess beta1_field() {
  return {[](const torch::optim::OptimizerOptions& o) {
            return std::get<0>(static_cast<const Options&>(o).betas());
          },
          [](torch::optim::OptimizerOptions& o, double m) {
            auto& options = static_cast<Options&>(o);
            options.betas(std::make_tuple(m, std::get<1>(options.betas())));
          },
          true};
}

// Accessors are immutable and never freed: schedulers keep pointers to them and call them
// without a lock, so registering again adds a new accessor for the type instead of changing the
// one in use. The registry itself is never destroyed either, so schedulers owned by static
// objects may still look types up while the program exits.
class MomentumRegistry {
 public:
  static MomentumRegistry& instance() {
    static auto* registry = new MomentumRegistry;  // deliberately immortal, see above
    return *registry;
  }

  const MomentumAccess* find(std::type_index type) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = current_.find(type);
    return it == current_.end() ? nullptr : it->second;
  }

  void add(std::type_index type, MomentumAccess access) {
    auto owned = std::make_unique<const MomentumAccess>(std::move(access));
    std::lock_guard<std::mutex> lock(mutex_);
    current_[type] = owned.get();
    all_.push_back(std::move(owned));
  }

 private:
  MomentumRegistry() {
    add(typeid(torch::optim::SGDOptions), momentum_field<torch::optim::SGDOptions>());
    add(typeid(torch::optim::RMSpropOptions), momentum_field<torch::optim::RMSpropOptions>());
    add(typeid(torch::optim::AdamOptions), beta1_field<torch::optim::AdamOptions>());
    add(typeid(torch::optim::AdamWOptions), beta1_field<torch::optim::AdamWOptions>());
  }

  std::mutex mutex_;
  std::map<std::type_index, const MomentumAccess*> current_;
  std::vector<std::unique_ptr<const MomentumAccess>> all_;  // every accessor ever registered
};

}  // namespace

const MomentumAccess* momentum_access(const torch::optim::OptimizerOptions& options) {
  return MomentumRegistry::instance().find(std::type_index(typeid(options)));
}

void register_momentum(std::type_index options_type, MomentumAccess access) {
  TORCH_CHECK_VALUE(access.get && access.set, "register_momentum: both get and set are required");
  MomentumRegistry::instance().add(options_type, std::move(access));
}

}  // namespace torchlr

namespace torchlr::detail {

namespace {
// The exact type only: a subclass may give get_lr/set_lr a meaning of its own.
template <typename Options>
bool bind_field(torch::optim::OptimizerOptions& options, double*& field) {
  if (typeid(options) != typeid(Options)) return false;
  field = &static_cast<Options&>(options).lr();
  return true;
}
}  // namespace

void LrAccess::bind(Slot& slot, torch::optim::OptimizerOptions& options) {
  using namespace torch::optim;
  slot = Slot{&options, nullptr, nullptr, momentum_access(options)};
  bind_field<SGDOptions>(options, slot.lr) || bind_field<AdamOptions>(options, slot.lr) ||
      bind_field<AdamWOptions>(options, slot.lr) || bind_field<RMSpropOptions>(options, slot.lr) ||
      bind_field<AdagradOptions>(options, slot.lr) || bind_field<LBFGSOptions>(options, slot.lr);
  const std::type_info& type = typeid(options);
  if (type == typeid(SGDOptions)) slot.momentum = &static_cast<SGDOptions&>(options).momentum();
  if (type == typeid(RMSpropOptions)) slot.momentum = &static_cast<RMSpropOptions&>(options).momentum();
  if (type == typeid(AdamOptions)) slot.momentum = &std::get<0>(static_cast<AdamOptions&>(options).betas());
  if (type == typeid(AdamWOptions)) slot.momentum = &std::get<0>(static_cast<AdamWOptions&>(options).betas());
}

bool optimizer_creates_state_on_step(const torch::optim::Optimizer& optimizer) {
  // Adagrad fills its state at construction, so an empty state says nothing about it; SGD only
  // keeps a momentum buffer when momentum is on.
  for (const auto& group : optimizer.param_groups()) {
    const auto& options = group.options();
    if (const auto* sgd = dynamic_cast<const torch::optim::SGDOptions*>(&options)) {
      if (sgd->momentum() != 0) return true;
      continue;
    }
    if (dynamic_cast<const torch::optim::AdamOptions*>(&options) ||
        dynamic_cast<const torch::optim::AdamWOptions*>(&options) ||
        dynamic_cast<const torch::optim::RMSpropOptions*>(&options) ||
        dynamic_cast<const torch::optim::LBFGSOptions*>(&options)) {
      return true;
    }
  }
  return false;
}

}  // namespace torchlr::detail
