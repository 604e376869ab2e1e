// lr_find in the shapes of real training programs: tied weights, every LibTorch optimizer and
// one written by a user, tensors the optimizer trains that the model does not own, loaders with
// worker threads, frozen submodules, a model in eval mode, LBFGS's closure. In each, the program
// is left exactly as it was: a bitwise fingerprint, and training afterwards that continues bit
// for bit like a twin program that never ran the test.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/data.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/lbfgs.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include <torchlr/lr_finder.h>

#include "finder_support.h"
#include "helpers.h"

namespace {

using torchlr::LRFinderOptions;
using torchlr::testing::Fingerprint;
using torchlr::testing::HeavyBall;
using torchlr::testing::HeavyBallOptions;
using torchlr::testing::HeavyBallState;
using torchlr::testing::Net;
using torchlr::testing::SerializableHeavyBall;
using torchlr::testing::SerializableHeavyBallState;
using torchlr::testing::TiedNet;
using torchlr::testing::WarningCapture;

LRFinderOptions quiet() { return LRFinderOptions().progress_bar(false).min_lr(1e-5).max_lr(10).num_iter(20); }

const std::vector<std::string> kOptimizers{"SGD",   "Adam",      "AdamW",
                                           "RMSprop", "Adagrad", "LBFGS", "HeavyBall", "SerializableHeavyBall"};

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, std::vector<torch::Tensor> params) {
  namespace optim = torch::optim;
  if (name == "SGD") return std::make_unique<optim::SGD>(params, optim::SGDOptions(0.05).momentum(0.9).nesterov(true));
  if (name == "Adam") return std::make_unique<optim::Adam>(params, optim::AdamOptions(1e-3).amsgrad(true));
  if (name == "AdamW") return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(1e-3));
  if (name == "RMSprop") {
    return std::make_unique<optim::RMSprop>(params, optim::RMSpropOptions(1e-3).momentum(0.5).centered(true));
  }
  if (name == "Adagrad") return std::make_unique<optim::Adagrad>(params, optim::AdagradOptions(1e-2));
  if (name == "LBFGS") return std::make_unique<optim::LBFGS>(params, optim::LBFGSOptions(0.5).max_iter(3).history_size(4));
  if (name == "HeavyBall") return std::make_unique<HeavyBall>(params, HeavyBallOptions(1e-2));
  return std::make_unique<SerializableHeavyBall>(params, HeavyBallOptions(1e-2));
}

// `steps` ordinary training steps, through a closure so that every optimizer (LBFGS too) runs.
template <typename Model>
void train(Model& model, torch::optim::Optimizer& optimizer, const torch::Tensor& x, const torch::Tensor& y,
           int steps) {
  for (int i = 0; i < steps; ++i) {
    optimizer.step([&] {
      optimizer.zero_grad();
      auto loss = torch::mse_loss(model.forward(x), y);
      loss.backward();
      return loss;
    });
  }
}

std::vector<torch::Tensor> state_of(torch::nn::Module& model) {
  std::vector<torch::Tensor> values;
  for (const auto& p : model.parameters()) values.push_back(p.detach().clone());
  for (const auto& b : model.buffers()) values.push_back(b.clone());
  return values;
}

void ExpectBitwiseEqual(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
}

// Runs `find` (lr_find on `model` and `optimizer`, which may throw) and expects the fingerprint
// unchanged, then trains both `model` and a `twin` (built and warmed identically, never tested)
// and expects them to stay bitwise equal.
template <typename Model>
void ExpectLeftAsItWas(Model& model, torch::optim::Optimizer& optimizer, Model& twin, torch::optim::Optimizer& twin_opt,
                       const torch::Tensor& x, const torch::Tensor& y, const std::function<void()>& find) {
  torch::manual_seed(99);
  const Fingerprint before(model, optimizer);
  torch::manual_seed(99);
  find();
  const Fingerprint after(model, optimizer);
  before.ExpectSame(after);
  torch::manual_seed(5);
  train(model, optimizer, x, y, 3);
  torch::manual_seed(5);
  train(twin, twin_opt, x, y, 3);
  ExpectBitwiseEqual(state_of(model), state_of(twin));
}

class EveryOptimizer : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryOptimizer, ContinuesBitForBitAfterANormalRunAndAfterAThrow) {
  for (const bool throws : {false, true}) {
    SCOPED_TRACE(throws ? "the loss throws at its 7th call" : "normal run");
    torch::manual_seed(0);
    const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
    torch::manual_seed(1);
    Net net;
    auto optimizer = make_optimizer(GetParam(), net.parameters());
    torch::manual_seed(1);
    Net twin;
    auto twin_opt = make_optimizer(GetParam(), twin.parameters());
    train(net, *optimizer, x, y, 3);
    train(twin, *twin_opt, x, y, 3);
    ASSERT_FALSE(optimizer->state().empty());
    int calls = 0;
    auto loss = [&] {
      if (throws && ++calls == 7) throw std::runtime_error("data error");
      return torch::mse_loss(net.forward(x + 0.1 * torch::randn_like(x)), y);
    };
    ExpectLeftAsItWas(net, *optimizer, twin, *twin_opt, x, y, [&] {
      if (throws) {
        EXPECT_THROW(torchlr::lr_find(net, *optimizer, loss, quiet()), std::runtime_error);
      } else {
        torchlr::lr_find(net, *optimizer, loss, quiet());
      }
    });
  }
}

INSTANTIATE_TEST_SUITE_P(FinderPrograms, EveryOptimizer, ::testing::ValuesIn(kOptimizers));

TEST(FinderPrograms, TiedWeightsWithAdam) {
  torch::manual_seed(0);
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 4});
  torch::manual_seed(1);
  TiedNet net;
  ASSERT_EQ(net.parameters().size(), 6u);  // embed's weight and bias are listed twice
  torch::optim::Adam adam(net.parameters(), torch::optim::AdamOptions(1e-3));
  torch::manual_seed(1);
  TiedNet twin;
  torch::optim::Adam twin_adam(twin.parameters(), torch::optim::AdamOptions(1e-3));
  train(net, adam, x, y, 3);
  train(twin, twin_adam, x, y, 3);
  ExpectLeftAsItWas(net, adam, twin, twin_adam, x, y, [&] {
    torchlr::lr_find(net, adam, [&] { return torch::mse_loss(net.forward(x), y); }, quiet());
  });
  // Every entry of the state map is a real state (LibTorch's load left a null one here).
  for (const auto& [key, state] : adam.state()) EXPECT_NE(state, nullptr);
}

// Runs the range test on a warmed-up user optimizer with a null entry in its state map (as an
// optimizer that makes its slots before it knows whether a parameter has a gradient leaves) and
// returns how many state entries the optimizer had at each loss call; afterwards the same state
// objects must be back, untouched, and the null entry too.
template <typename Optimizer, typename State>
std::vector<int64_t> ExpectUserStateObjectsBack(std::vector<std::string>* warnings_out) {
  torch::manual_seed(0);
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  torch::manual_seed(1);
  Net net;
  Optimizer optimizer(net.parameters(), HeavyBallOptions(1e-2));
  train(net, optimizer, x, y, 2);
  auto frozen = torch::zeros({3}, torch::requires_grad());
  optimizer.state()[torchlr::compat::optimizer_state_key(frozen)] = nullptr;
  std::vector<const State*> objects;
  std::vector<torch::Tensor> velocities;
  const auto params = net.parameters();
  for (const auto& p : params) {
    const auto& state = optimizer.state().at(torchlr::compat::optimizer_state_key(p));
    objects.push_back(static_cast<const State*>(state.get()));
    velocities.push_back(objects.back()->velocity().clone());
  }
  const auto entries = optimizer.state().size();
  std::vector<int64_t> sizes_seen;
  WarningCapture warnings;
  torchlr::lr_find(net, optimizer, [&] {
    sizes_seen.push_back(static_cast<int64_t>(optimizer.state().size()));
    return torch::mse_loss(net.forward(x), y);
  }, quiet().num_iter(5));
  *warnings_out = warnings.messages;
  EXPECT_EQ(optimizer.state().size(), entries);
  EXPECT_EQ(optimizer.state().at(torchlr::compat::optimizer_state_key(frozen)), nullptr);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto& state = optimizer.state().at(torchlr::compat::optimizer_state_key(params[i]));
    EXPECT_EQ(state.get(), objects[i]);
    EXPECT_TRUE(torch::equal(objects[i]->velocity(), velocities[i]));
    EXPECT_EQ(objects[i]->steps(), 2);
  }
  return sizes_seen;
}

TEST(FinderPrograms, UserStateWithSerializeIsTestedWarmAndPutBack) {
  std::vector<std::string> warnings;
  const auto sizes = ExpectUserStateObjectsBack<SerializableHeavyBall, SerializableHeavyBallState>(&warnings);
  // The test ran on the optimizer's own (warm) state: 6 parameters and the null entry.
  EXPECT_EQ(sizes.front(), 7);
  EXPECT_TRUE(warnings.empty());
}

TEST(FinderPrograms, UserStateWithoutSerializeIsSetAsideAndPutBack) {
  std::vector<std::string> warnings;
  const auto sizes = ExpectUserStateObjectsBack<HeavyBall, HeavyBallState>(&warnings);
  // It cannot be put back once changed, so the test started it afresh (only the null entry)...
  EXPECT_EQ(sizes.front(), 1);
  // ...and said so.
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("HeavyBallState has no usable serialize()"), std::string::npos) << warnings[0];
}

TEST(FinderPrograms, WithoutRestoreTheOptimizerKeepsTrainingItsOwnState) {
  torch::manual_seed(0);
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  Net net;
  torch::optim::Adam adam(net.parameters(), torch::optim::AdamOptions(1e-3));
  train(net, adam, x, y, 2);
  const auto key = torchlr::compat::optimizer_state_key(net.fc1->weight);
  const auto* object = adam.state().at(key).get();
  torchlr::lr_find(net, adam, [&] { return torch::mse_loss(net.forward(x), y); }, quiet().num_iter(5).restore(false));
  EXPECT_EQ(adam.state().at(key).get(), object);
  EXPECT_EQ(static_cast<const torch::optim::AdamParamState&>(*object).step(), 7);
}

TEST(FinderPrograms, TensorsTheModelDoesNotOwn) {
  torch::manual_seed(0);
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  torch::manual_seed(1);
  Net net;
  auto log_scale = torch::zeros({1}).requires_grad_();  // a learnable loss scale
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(net.parameters());
  groups.emplace_back(std::vector<torch::Tensor>{log_scale}, std::make_unique<torch::optim::SGDOptions>(0.1));
  torch::optim::SGD sgd(std::move(groups), torch::optim::SGDOptions(0.05).momentum(0.9));
  auto loss = [&] { return torch::mse_loss(net.forward(x), y) * torch::exp(-log_scale).sum() + log_scale.sum(); };
  for (int i = 0; i < 2; ++i) {
    sgd.zero_grad();
    loss().backward();
    sgd.step();
  }
  const auto value = log_scale.detach().clone();
  torch::manual_seed(99);
  const Fingerprint before(net, sgd);
  torch::manual_seed(99);
  torchlr::lr_find(net, sgd, loss, quiet());
  const Fingerprint after(net, sgd);
  before.ExpectSame(after);
  EXPECT_TRUE(torch::equal(log_scale, value));
}

// (x, y) pairs whose x gets noise from the global generator in get(), which runs on the
// loader's worker threads.
struct NoisyPairs : torch::data::datasets::Dataset<NoisyPairs> {
  NoisyPairs(torch::Tensor x, torch::Tensor y) : x(std::move(x)), y(std::move(y)) {}
  torch::data::Example<> get(size_t i) override {
    const auto row = static_cast<int64_t>(i);
    return {x[row] + 0.01 * torch::randn({x.size(1)}), y[row]};
  }
  torch::optional<size_t> size() const override { return static_cast<size_t>(x.size(0)); }
  torch::Tensor x, y;
};

auto make_worker_loader(const torch::Tensor& x, const torch::Tensor& y) {
  return torch::data::make_data_loader<torch::data::samplers::RandomSampler>(
      NoisyPairs(x, y).map(torch::data::transforms::Stack<>()),
      torch::data::DataLoaderOptions().batch_size(4).workers(2));
}

template <typename Loader>
int batches_in_an_epoch(Loader& loader) {
  int batches = 0;
  for (auto& batch : loader) batches += batch.data.size(0) > 0 ? 1 : 0;
  return batches;
}

TEST(FinderPrograms, LoaderWithWorkersStaysUsable) {
  torch::manual_seed(0);
  const auto x = torch::randn({64, 4}), y = torch::randn({64, 1});  // 16 batches an epoch
  Net net;
  torch::optim::SGD sgd(net.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  auto loader = make_worker_loader(x, y);
  auto val_loader = make_worker_loader(x, y);
  auto mse = [](const torch::Tensor& output, const torch::Tensor& target) { return torch::mse_loss(output, target); };
  int calls = 0;
  auto throwing = [&](const torch::Tensor& output, const torch::Tensor& target) {
    if (++calls == 3) throw std::runtime_error("bad batch");
    return torch::mse_loss(output, target);
  };
  for (int run = 0; run < 3; ++run) {
    SCOPED_TRACE(run == 0 ? "normal" : run == 1 ? "the loss throws" : "with a validation loader");
    torch::manual_seed(99);
    const Fingerprint before(net, sgd);
    torch::manual_seed(99);
    if (run == 0) {
      torchlr::lr_find(net, sgd, *loader, mse, quiet().num_iter(5));
    } else if (run == 1) {
      EXPECT_THROW(torchlr::lr_find(net, sgd, *loader, throwing, quiet().num_iter(5)), std::runtime_error);
    } else {
      torchlr::lr_find(net, sgd, *loader, mse, quiet().num_iter(5), *val_loader);
    }
    const Fingerprint after(net, sgd);
    before.ExpectSame(after);
    // The program's own next epochs: LibTorch threw "another iterator is not yet exhausted" here.
    EXPECT_EQ(batches_in_an_epoch(*loader), 16);
    EXPECT_EQ(batches_in_an_epoch(*val_loader), 16);
  }
}

TEST(FinderPrograms, FrozenSubmoduleStaysFrozenAcrossValidationPasses) {
  torch::manual_seed(0);
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  Net net;
  net.train();
  net.bn->eval();  // frozen BatchNorm
  torch::optim::SGD sgd(net.parameters(), torch::optim::SGDOptions(0.05));
  std::vector<bool> bn_while_training, anything_training_while_validating;
  auto loss = [&] {
    bn_while_training.push_back(net.bn->is_training());
    return torch::mse_loss(net.forward(x), y);
  };
  auto val_loss = [&] {
    anything_training_while_validating.push_back(net.is_training() || net.fc1->is_training() || net.bn->is_training());
    return torch::mse_loss(net.forward(x), y);
  };
  const auto running_mean = net.bn->running_mean.clone();
  torchlr::lr_find(net, sgd, loss, quiet().num_iter(6).early_stop_threshold(std::nullopt), val_loss);
  EXPECT_EQ(bn_while_training, std::vector<bool>(6, false));
  EXPECT_EQ(anything_training_while_validating, std::vector<bool>(6, false));
  EXPECT_TRUE(net.is_training());
  EXPECT_TRUE(net.fc1->is_training());
  EXPECT_FALSE(net.bn->is_training());
  EXPECT_TRUE(torch::equal(net.bn->running_mean, running_mean));
}

TEST(FinderPrograms, ModelInEvalModeTrainsInEvalModeWithAWarning) {
  torch::manual_seed(0);
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  Net net;
  torch::optim::Adam adam(net.parameters(), torch::optim::AdamOptions(1e-3));
  train(net, adam, x, y, 2);
  net.eval();
  const auto running_mean = net.bn->running_mean.clone();
  bool running_stats_moved = false;
  std::vector<bool> modes;
  auto loss = [&] {
    modes.push_back(net.is_training() || net.bn->is_training());
    running_stats_moved = running_stats_moved || !torch::equal(net.bn->running_mean, running_mean);
    return torch::mse_loss(net.forward(x), y);
  };
  torch::manual_seed(99);
  const Fingerprint before(net, adam);
  torch::manual_seed(99);
  WarningCapture warnings;
  torchlr::lr_find(net, adam, loss, quiet().num_iter(5));
  const Fingerprint after(net, adam);
  before.ExpectSame(after);
  EXPECT_EQ(modes, std::vector<bool>(5, false));
  EXPECT_FALSE(running_stats_moved);
  ASSERT_EQ(warnings.messages.size(), 1u);
  EXPECT_NE(warnings.messages[0].find("the model is in eval mode"), std::string::npos) << warnings.messages[0];
}

// Numbers 1..n as inputs, their index as the target, so a loss can tell which batch it saw.
struct Indexed : torch::data::datasets::Dataset<Indexed> {
  explicit Indexed(int64_t n) : n(n) {}
  torch::data::Example<> get(size_t i) override {
    return {torch::full({1}, static_cast<double>(i + 1), torch::kDouble), torch::full({1}, static_cast<double>(i), torch::kDouble)};
  }
  torch::optional<size_t> size() const override { return static_cast<size_t>(n); }
  int64_t n;
};

struct Scale : torch::nn::Module {
  Scale() { weight = register_parameter("weight", torch::full({1}, 0.5, torch::kDouble)); }
  torch::Tensor forward(const torch::Tensor& x) { return x * weight; }
  torch::Tensor weight;
};

TEST(FinderPrograms, LbfgsReEvaluatesTheSameBatch) {
  auto loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
      Indexed(50).map(torch::data::transforms::Stack<>()), torch::data::DataLoaderOptions().batch_size(1));
  Scale model;
  torch::optim::LBFGS lbfgs(model.parameters(), torch::optim::LBFGSOptions(1).max_iter(4));
  std::vector<int> seen;
  auto loss_fn = [&](const torch::Tensor& output, const torch::Tensor& target) {
    seen.push_back(static_cast<int>(target.item<double>()));
    return torch::mse_loss(output, torch::ones_like(output));
  };
  const auto r = torchlr::lr_find(model, lbfgs, *loader, loss_fn, quiet().min_lr(1e-4).max_lr(1e-1).num_iter(8).early_stop_threshold(std::nullopt).trial_budget(0));
  ASSERT_EQ(r.lrs().size(), 8u);
  // Step k evaluates batch k one or more times, and never another batch.
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), 0);
  for (std::size_t i = 1; i < seen.size(); ++i) {
    EXPECT_TRUE(seen[i] == seen[i - 1] || seen[i] == seen[i - 1] + 1) << "evaluation " << i;
  }
  EXPECT_EQ(seen.back(), 7);
  EXPECT_GT(seen.size(), 8u);  // LBFGS did evaluate again
  EXPECT_EQ(model.weight.item<double>(), 0.5);
}

// A model with a buffer the forward pass never reads, which a loss function can reshape: the
// restore then cannot put it back.
struct WithSpareBuffer : Net {
  WithSpareBuffer() { spare = register_buffer("spare", torch::zeros({4})); }
  torch::Tensor spare;
};

TEST(FinderPrograms, AFailedRestoreOnANormalReturnThrows) {
  torch::manual_seed(0);
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  WithSpareBuffer net;
  torch::optim::SGD sgd(net.parameters(), torch::optim::SGDOptions(0.05));
  const double lr = sgd.param_groups()[0].options().get_lr();
  int calls = 0;
  auto loss = [&] {
    if (++calls == 2) net.spare.resize_({2});
    return torch::mse_loss(net.forward(x), y);
  };
  EXPECT_THROW(torchlr::lr_find(net, sgd, loss, quiet().num_iter(5)), c10::Error);
  // Everything else was still put back.
  EXPECT_EQ(sgd.param_groups()[0].options().get_lr(), lr);
}

}  // namespace
