#pragma once

// What the LR finder's restore tests share: a small network with BatchNorm, and a fingerprint of
// everything lr_find must put back (parameters, gradients, buffers, optimizer state and options,
// the RNG, the train flag) as exact values.

#include <filesystem>
#include <set>
#include <sstream>
#include <string>
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

// Everything the finder must put back, as bytes.
struct Fingerprint {
  std::vector<torch::Tensor> tensors;
  std::vector<double> lrs, momenta, betas;
  std::vector<std::string> optimizer_state;
  torch::Tensor rng;
  bool training;

  Fingerprint(torch::nn::Module& net, torch::optim::Optimizer& optimizer) {
    for (const auto& p : net.parameters()) {
      tensors.push_back(p.detach().clone());
      tensors.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
    }
    for (const auto& b : net.buffers()) tensors.push_back(b.clone());
    for (auto& g : optimizer.param_groups()) {
      lrs.push_back(g.options().get_lr());
      if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&g.options())) momenta.push_back(sgd->momentum());
      if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&g.options())) {
        betas.push_back(std::get<0>(adam->betas()));
        betas.push_back(std::get<1>(adam->betas()));
      }
    }
    // Each parameter's state on its own, in parameter order: LibTorch keeps the states in a hash
    // map whose iteration order (and so optimizer.save's byte order) can change when the same
    // states are inserted again.
    for (const auto& group : optimizer.param_groups()) {
      for (const auto& p : group.params()) {
        const auto it = optimizer.state().find(compat::optimizer_state_key(p));
        if (it == optimizer.state().end()) {
          optimizer_state.push_back("(none)");
          continue;
        }
        torch::serialize::OutputArchive archive;
        it->second->serialize(archive);
        std::ostringstream bytes;
        archive.save_to(bytes);
        optimizer_state.push_back(bytes.str());
      }
    }
    optimizer_state.push_back("size " + std::to_string(optimizer.state().size()));
    rng = torch::rand({8});  // the next random numbers the process would draw
    training = net.is_training();
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
    EXPECT_EQ(lrs, o.lrs);
    EXPECT_EQ(momenta, o.momenta);
    EXPECT_EQ(betas, o.betas);
    EXPECT_EQ(optimizer_state, o.optimizer_state);
    EXPECT_TRUE(torch::equal(rng, o.rng));
    EXPECT_EQ(training, o.training);
  }
};

inline std::set<std::string> listing(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.insert(entry.path().string());
  return names;
}

}  // namespace torchlr::testing
