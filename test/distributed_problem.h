#pragma once

// The data-parallel tests' training problem (threads in test_distributed.cpp, processes in
// dist_worker.cpp): a small regression whose data every rank makes alike from a fixed seed and
// splits into one shard per rank.

#include <cstdint>
#include <utility>
#include <vector>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

namespace torchlr::testing {

// A regression problem whose data is split into one shard per rank; batch i of the global batch
// is the ranks' batches i, one after the other.
struct Problem {
  static constexpr int64_t kBatch = 8;

  explicit Problem(int ranks) : ranks(ranks) {
    torch::manual_seed(3);
    const int64_t n = 64 * ranks;
    x = torch::randn({n, 4}, torch::kDouble);
    y = torch::sin(x.sum(1, true)) + 0.1 * torch::randn({n, 1}, torch::kDouble);
    initial = make();
  }

  torch::nn::Sequential make() const {
    return torch::nn::Sequential(torch::nn::Linear(4, 16), torch::nn::Tanh(), torch::nn::Linear(16, 1));
  }

  // A model with the initial weights (as a program that loads one checkpoint on every rank).
  torch::nn::Sequential replica() const {
    auto model = make();
    torch::NoGradGuard no_grad;
    auto from = initial->parameters();
    auto to = model->parameters();
    for (std::size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
    model->to(torch::kDouble);
    return model;
  }

  // Rank r's batch i: rows r, r + ranks, ... of the data, cycling.
  std::pair<torch::Tensor, torch::Tensor> batch(int rank, int64_t i) const {
    const int64_t per_rank = x.size(0) / ranks;
    const int64_t start = (i * kBatch) % per_rank;
    auto rows = torch::arange(start, start + kBatch, torch::kLong) * ranks + rank;
    return {x.index_select(0, rows), y.index_select(0, rows)};
  }

  std::pair<torch::Tensor, torch::Tensor> global_batch(int64_t i) const {
    std::vector<torch::Tensor> xs, ys;
    for (int r = 0; r < ranks; ++r) {
      auto [bx, by] = batch(r, i);
      xs.push_back(bx);
      ys.push_back(by);
    }
    return {torch::cat(xs), torch::cat(ys)};
  }

  int ranks;
  torch::Tensor x, y;
  torch::nn::Sequential initial{nullptr};
};

}  // namespace torchlr::testing
