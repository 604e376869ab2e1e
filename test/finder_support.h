#pragma once

// What the LR finder's restore tests share: a small network with BatchNorm, and a fingerprint of
// everything lr_find must put back (parameters, gradients, buffers, optimizer state and options,
// the RNG, every module's train flag) as exact values.

#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <typeinfo>
#include <vector>

#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>
#include <torch/types.h>

#include "torch_compat.h"

namespace torchlr::testing {

struct Net : torch::nn::Module {
  Net() {
    fc1 = register_module("fc1", torch::nn::Linear(4, 8));
    bn = register_module("bn", torch::nn::BatchNorm1d(8));
    fc2 = register_module("fc2", torch::nn::Linear(8, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc2->forward(torch::relu(bn->forward(fc1->forward(x))));
  }
  torch::nn::Linear fc1{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  torch::nn::Linear fc2{nullptr};
};

// An optimizer written by a user: heavy-ball momentum with per-parameter state of its own type
// (the optimizer overrides neither save nor load), and a closure it calls once, as LibTorch's
// first-order optimizers do. HeavyBallState has no serialize(); SerializableHeavyBallState has one
// that reads the velocity into the tensor it holds, as InputArchive does.
struct HeavyBallState : torch::optim::OptimizerCloneableParamState<HeavyBallState> {
  TORCH_ARG(torch::Tensor, velocity);
  TORCH_ARG(int64_t, steps) = 0;
};

struct SerializableHeavyBallState : torch::optim::OptimizerCloneableParamState<SerializableHeavyBallState> {
  TORCH_ARG(torch::Tensor, velocity);
  TORCH_ARG(int64_t, steps) = 0;
  void serialize(torch::serialize::OutputArchive& archive) const override {
    archive.write("velocity", velocity());
    archive.write("steps", c10::IValue(steps()));
  }
  void serialize(torch::serialize::InputArchive& archive) override {
    archive.read("velocity", velocity());
    c10::IValue value;
    archive.read("steps", value);
    steps(value.toInt());
  }
};

struct HeavyBallOptions : torch::optim::OptimizerCloneableOptions<HeavyBallOptions> {
  explicit HeavyBallOptions(double lr) : lr_(lr) {}
  TORCH_ARG(double, lr);
  TORCH_ARG(double, beta) = 0.9;
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

template <typename State>
class HeavyBallOf : public torch::optim::Optimizer {
 public:
  HeavyBallOf(std::vector<torch::optim::OptimizerParamGroup> groups, const HeavyBallOptions& defaults)
      : Optimizer(std::move(groups), std::make_unique<HeavyBallOptions>(defaults)) {}
  HeavyBallOf(std::vector<torch::Tensor> params, const HeavyBallOptions& defaults)
      : HeavyBallOf({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

  torch::Tensor step(LossClosure closure = nullptr) override {
    torch::Tensor loss;
    if (closure) {
      torch::AutoGradMode enable_grad(true);
      loss = closure();
    }
    torch::NoGradGuard no_grad;
    for (auto& group : param_groups()) {
      const auto& options = static_cast<const HeavyBallOptions&>(group.options());
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        auto& slot = state_[compat::optimizer_state_key(p)];
        if (!slot) {
          auto fresh = std::make_unique<State>();
          fresh->velocity(torch::zeros_like(p));
          slot = std::move(fresh);
        }
        auto& state = static_cast<State&>(*slot);
        state.velocity().mul_(options.beta()).add_(p.grad());
        state.steps(state.steps() + 1);
        p.add_(state.velocity(), -options.lr());
      }
    }
    return loss;
  }
};
using HeavyBall = HeavyBallOf<HeavyBallState>;
using SerializableHeavyBall = HeavyBallOf<SerializableHeavyBallState>;

// A model whose output layer is its input layer again (tied weights): parameters() lists that
// weight and bias twice, and so does an optimizer built from it.
struct TiedNet : torch::nn::Module {
  TiedNet() {
    embed = register_module("embed", torch::nn::Linear(4, 4));
    hidden = register_module("hidden", torch::nn::Linear(4, 4));
    register_module("unembed", embed);
  }
  torch::Tensor forward(const torch::Tensor& x) { return embed->forward(torch::tanh(hidden->forward(embed->forward(x)))); }
  torch::nn::Linear embed{nullptr};
  torch::nn::Linear hidden{nullptr};
};

// The bytes of what `serialize` writes; a type that does not implement it (LibTorch's base
// classes throw) gives a fixed string.
template <typename Serializable>
std::string archive_bytes(const Serializable& object) {
  torch::serialize::OutputArchive archive;
  try {
    object.serialize(archive);
  } catch (const c10::Error&) {
    return "(no serialize)";
  }
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

// Everything the finder must put back, as bytes, for any model and optimizer: every tensor of
// every param group and every parameter and buffer of the model, once each, with its gradient
// (values and which object it is); every group's params and options; each parameter's optimizer
// state (bytes, and which object holds it); the train flag of the model and each submodule; the
// RNG.
struct Fingerprint {
  std::vector<torch::Tensor> tensors;
  std::vector<const void*> objects;  // gradient and state objects: the same ones must come back
  std::vector<double> lrs, momenta, betas;
  std::vector<std::string> group_options;
  std::vector<std::string> optimizer_state;
  std::vector<bool> modes;
  torch::Tensor rng;

  Fingerprint(torch::nn::Module& net, torch::optim::Optimizer& optimizer) {
    std::vector<torch::Tensor> changeable;
    std::set<const void*> seen;
    auto add = [&](const torch::Tensor& t) {
      if (seen.insert(t.unsafeGetTensorImpl()).second) changeable.push_back(t);
    };
    for (const auto& group : optimizer.param_groups()) {
      for (const auto& p : group.params()) add(p);
    }
    for (const auto& p : net.parameters()) add(p);
    for (const auto& b : net.buffers()) add(b);
    for (const auto& t : changeable) {
      tensors.push_back(t.detach().clone());
      tensors.push_back(t.grad().defined() ? t.grad().clone() : torch::Tensor());
      objects.push_back(t.grad().defined() ? t.grad().unsafeGetTensorImpl() : nullptr);
    }
    for (auto& g : optimizer.param_groups()) {
      lrs.push_back(g.options().get_lr());
      if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&g.options())) momenta.push_back(sgd->momentum());
      if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&g.options())) {
        betas.push_back(std::get<0>(adam->betas()));
        betas.push_back(std::get<1>(adam->betas()));
      }
      group_options.push_back(typeid(g.options()).name() + (" " + archive_bytes(g.options())));
      group_options.push_back("params " + std::to_string(g.params().size()));
      for (const auto& p : g.params()) objects.push_back(p.unsafeGetTensorImpl());
    }
    // Each parameter's state on its own, in parameter order: LibTorch keeps the states in a hash
    // map whose iteration order (and so optimizer.save's byte order) can change when the same
    // states are inserted again.
    for (const auto& t : changeable) {
      const auto it = optimizer.state().find(compat::optimizer_state_key(t));
      if (it == optimizer.state().end()) {
        optimizer_state.push_back("(none)");
        continue;
      }
      if (!it->second) {
        optimizer_state.push_back("(null)");
        continue;
      }
      optimizer_state.push_back(typeid(*it->second).name() + (" " + archive_bytes(*it->second)));
      objects.push_back(it->second.get());
      // A state without serialize(): its fields one by one.
      if (const auto* hb = dynamic_cast<const HeavyBallState*>(it->second.get())) {
        tensors.push_back(hb->velocity().clone());
        objects.push_back(hb->velocity().unsafeGetTensorImpl());
        optimizer_state.back() += " steps " + std::to_string(hb->steps());
      }
    }
    optimizer_state.push_back("size " + std::to_string(optimizer.state().size()));
    modes.push_back(net.is_training());
    for (const auto& m : net.modules(/*include_self=*/false)) modes.push_back(m->is_training());
    rng = torch::rand({8});  // the next random numbers the process would draw
  }

  // Drawing `rng` advanced the generator: callers compare fingerprints taken at the same point.
  void ExpectSame(const Fingerprint& o) const {
    ASSERT_EQ(tensors.size(), o.tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      ASSERT_EQ(tensors[i].defined(), o.tensors[i].defined()) << "tensor " << i;
      if (tensors[i].defined()) {
        EXPECT_TRUE(torch::equal(tensors[i], o.tensors[i])) << "tensor " << i;
      }
    }
    EXPECT_EQ(objects, o.objects);
    EXPECT_EQ(lrs, o.lrs);
    EXPECT_EQ(momenta, o.momenta);
    EXPECT_EQ(betas, o.betas);
    EXPECT_EQ(group_options, o.group_options);
    EXPECT_EQ(optimizer_state, o.optimizer_state);
    EXPECT_EQ(modes, o.modes);
    EXPECT_TRUE(torch::equal(rng, o.rng));
  }
};

inline std::set<std::string> listing(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.insert(entry.path().string());
  return names;
}

}  // namespace torchlr::testing
