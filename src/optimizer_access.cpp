#include "internal.h"

#include <map>
#include <typeinfo>
#include <memory>
#include <mutex>

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

// Entries are never removed, so the pointers handed out stay valid.
struct MomentumRegistry {
  std::mutex mutex;
  std::map<std::type_index, std::unique_ptr<MomentumAccess>> entries;

  MomentumRegistry() {
    entries[typeid(torch::optim::SGDOptions)] = std::make_unique<MomentumAccess>(momentum_field<torch::optim::SGDOptions>());
    entries[typeid(torch::optim::RMSpropOptions)] = std::make_unique<MomentumAccess>(momentum_field<torch::optim::RMSpropOptions>());
    entries[typeid(torch::optim::AdamOptions)] = std::make_unique<MomentumAccess>(beta1_field<torch::optim::AdamOptions>());
    entries[typeid(torch::optim::AdamWOptions)] = std::make_unique<MomentumAccess>(beta1_field<torch::optim::AdamWOptions>());
  }

  static MomentumRegistry& instance() {
    static MomentumRegistry registry;
    return registry;
  }
};

}  // namespace

const MomentumAccess* momentum_access(const torch::optim::OptimizerOptions& options) {
  auto& registry = MomentumRegistry::instance();
  std::lock_guard<std::mutex> lock(registry.mutex);
  auto it = registry.entries.find(std::type_index(typeid(options)));
  return it == registry.entries.end() ? nullptr : it->second.get();
}

void register_momentum(std::type_index options_type, MomentumAccess access) {
  TORCH_CHECK_VALUE(access.get && access.set, "register_momentum: both get and set are required");
  auto& registry = MomentumRegistry::instance();
  std::lock_guard<std::mutex> lock(registry.mutex);
  auto& slot = registry.entries[options_type];
  if (slot) {
    *slot = std::move(access);  // same address: schedulers holding it see the new functions
  } else {
    slot = std::make_unique<MomentumAccess>(std::move(access));
  }
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
