// Fault injection for lr_find: random combinations of a fault (the loss throws at a random step,
// LibTorch throws, the loss turns NaN or ±Inf, a loss that is not a scalar, an empty loader, a
// loader that runs dry, a failing validation loss), an optimizer (SGD with momentum, Adam, AdamW,
// RMSprop, Adagrad, LBFGS or a user's own; one or three groups; with or without state; with
// parameters listed twice as tied weights are; with a trained tensor the model does not own), a
// model with BatchNorm in train mode, frozen or in eval mode, and either entry point (the loader
// with or without worker threads). In every case parameters, gradients, buffers, optimizer state,
// every group's params and options, the RNG and every module's train flag are bit-identical
// afterwards, the exception (if any) reaches the caller unchanged, the loader still gives a whole
// epoch, and no file is left in the working or temp directory.

#include "platform.h"

#include <cstdlib>
#include <functional>
#include <map>
#include <random>

#include <gtest/gtest.h>
#include <torch/data.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adamw.h>
#include <torch/optim/lbfgs.h>
#include <torch/optim/rmsprop.h>

#include <torchlr/lr_finder.h>

#include "finder_support.h"
#include "helpers.h"
#include "property_support.h"

namespace {

using torchlr::testing::Fingerprint;
using torchlr::testing::listing;
using torchlr::testing::HeavyBall;
using torchlr::testing::HeavyBallOptions;
using torchlr::testing::Net;

constexpr int kCases = torchlr::testing::kPropertyConfigs / 8;

// (x, y) pairs for the loader entry point; `size` may be 0 (an empty loader).
struct Pairs : torch::data::datasets::Dataset<Pairs> {
  Pairs(torch::Tensor x, torch::Tensor y) : x(std::move(x)), y(std::move(y)) {}
  torch::data::Example<> get(size_t i) override { return {x[static_cast<int64_t>(i)], y[static_cast<int64_t>(i)]}; }
  torch::optional<size_t> size() const override { return static_cast<size_t>(x.size(0)); }
  torch::Tensor x, y;
};

enum class Fault { none, throws, torch_error, nan, inf, minus_inf, not_scalar, empty_loader, runs_dry, validation_throws };
const std::vector<std::string> kFaultNames{"none", "throws", "torch_error", "nan", "inf", "minus_inf",
                                           "not_scalar", "empty_loader", "runs_dry", "validation_throws"};

// What reached the caller.
enum class Outcome { returned, runtime_error, torch_error, value_error };

enum class Kind { sgd, adam, adamw, rmsprop, adagrad, lbfgs, heavy_ball };
const std::vector<std::string> kKindNames{"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LBFGS", "HeavyBall"};

enum class Mode { train, frozen_bn, eval };
const std::vector<std::string> kModeNames{"train", "frozen BatchNorm", "eval"};

struct Case {
  Fault fault;
  int at_step;          // where the fault strikes (1-based call of the loss)
  Kind kind;
  bool three_groups;    // (LBFGS has one group only)
  bool warm;            // optimizer state and gradients from a few real steps
  Mode mode;
  bool loader;          // the data-loader entry point (else the callable one)
  bool workers;         // the loader has two worker threads
  bool duplicated;      // fc2's parameters listed twice, as tied weights are
  bool outside;         // the optimizer also trains a loss scale the model does not own
};

std::unique_ptr<torch::optim::OptimizerOptions> options_for(Kind kind, double lr, double g) {
  namespace optim = torch::optim;
  switch (kind) {
    case Kind::sgd: return std::make_unique<optim::SGDOptions>(optim::SGDOptions(lr).momentum(0.9 - 0.1 * g));
    case Kind::adam: return std::make_unique<optim::AdamOptions>(optim::AdamOptions(lr).betas({0.9 - 0.05 * g, 0.99}));
    case Kind::adamw: return std::make_unique<optim::AdamWOptions>(optim::AdamWOptions(lr).amsgrad(g > 0));
    case Kind::rmsprop: return std::make_unique<optim::RMSpropOptions>(optim::RMSpropOptions(lr).momentum(0.5).centered(g > 0));
    case Kind::adagrad: return std::make_unique<optim::AdagradOptions>(optim::AdagradOptions(lr));
    case Kind::lbfgs: return std::make_unique<optim::LBFGSOptions>(optim::LBFGSOptions(lr).max_iter(2).history_size(3));
    case Kind::heavy_ball: return std::make_unique<HeavyBallOptions>(HeavyBallOptions(lr).beta(0.9 - 0.1 * g));
  }
  return nullptr;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(Net& net, const torch::Tensor& scale, const Case& c) {
  std::vector<std::vector<torch::Tensor>> params;
  if (c.three_groups && c.kind != Kind::lbfgs) {
    params = {net.fc1->parameters(), net.bn->parameters(), net.fc2->parameters()};
  } else {
    params = {net.parameters()};
  }
  if (c.duplicated) {
    for (const auto& p : net.fc2->parameters()) params.back().push_back(p);
  }
  if (c.outside) {
    if (c.kind == Kind::lbfgs) {
      params.back().push_back(scale);
    } else {
      params.push_back({scale});
    }
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  const double lrs[] = {1e-3, 3e-3, 5e-4, 2e-3};
  for (std::size_t g = 0; g < params.size(); ++g) {
    groups.emplace_back(params[g], options_for(c.kind, lrs[g], static_cast<double>(g)));
  }
  namespace optim = torch::optim;
  switch (c.kind) {
    case Kind::sgd: return std::make_unique<optim::SGD>(std::move(groups), optim::SGDOptions(1e-3));
    case Kind::adam: return std::make_unique<optim::Adam>(std::move(groups), optim::AdamOptions(1e-3));
    case Kind::adamw: return std::make_unique<optim::AdamW>(std::move(groups), optim::AdamWOptions(1e-3));
    case Kind::rmsprop: return std::make_unique<optim::RMSprop>(std::move(groups), optim::RMSpropOptions(1e-3));
    case Kind::adagrad: return std::make_unique<optim::Adagrad>(std::move(groups), optim::AdagradOptions(1e-3));
    case Kind::lbfgs: return std::make_unique<optim::LBFGS>(std::move(groups), optim::LBFGSOptions(1e-3));
    case Kind::heavy_ball: return std::make_unique<HeavyBall>(std::move(groups), HeavyBallOptions(1e-3));
  }
  return nullptr;
}

// The loss, scaled by the outside tensor when the case has one.
torch::Tensor scaled(const torch::Tensor& loss, const torch::Tensor& scale, const Case& c) {
  return c.outside ? loss * torch::exp(-scale).sum() + scale.sum() : loss;
}

// Whether the current case's fault was reached: the range test may stop (diverged, non-finite
// loss) before the step the fault was set for.
bool fault_struck = false;

// The loss with the fault applied at call `c.at_step` (and after, for non-finite values).
torch::Tensor faulty(torch::Tensor loss, const Case& c, int call) {
  if (call < c.at_step) return loss;
  fault_struck = true;
  switch (c.fault) {
    case Fault::throws: throw std::runtime_error("injected failure at step " + std::to_string(call));
    case Fault::torch_error: return torch::mm(loss.view({1, 1}), torch::ones({2, 3}));  // shape mismatch
    case Fault::nan: return loss * std::nan("");
    case Fault::inf: return loss + INFINITY;
    case Fault::minus_inf: return loss - INFINITY;
    case Fault::not_scalar: return loss.expand({2});
    default: return loss;
  }
}

// The lr_find call for a case, ready to run, and a count of the batches in one epoch of its
// training loader afterwards (0 for the callable entry point). The loaders are made here, before
// the fingerprint, because a RandomSampler draws from the RNG when it is made (the reshuffles
// when lr_find starts a loader again happen inside lr_find and must be undone by it).
struct Prepared {
  std::function<void()> call;
  std::function<int()> epoch_batches;
};

Prepared prepare(Net& net, torch::optim::Optimizer& optimizer, const Case& c, const torch::Tensor& x,
                 const torch::Tensor& y, const torch::Tensor& scale) {
  auto options = torchlr::LRFinderOptions().progress_bar(false).num_iter(25).min_lr(1e-5).max_lr(10);
  auto calls = std::make_shared<int>(0);
  if (c.loader) {
    const int64_t rows = c.fault == Fault::empty_loader ? 0 : c.fault == Fault::runs_dry ? 6 : x.size(0);
    std::shared_ptr<torch::data::StatelessDataLoader<
        torch::data::datasets::MapDataset<Pairs, torch::data::transforms::Stack<>>, torch::data::samplers::RandomSampler>>
        loader = torch::data::make_data_loader<torch::data::samplers::RandomSampler>(
            Pairs(x.narrow(0, 0, rows), y.narrow(0, 0, rows)).map(torch::data::transforms::Stack<>()),
            torch::data::DataLoaderOptions().batch_size(4).workers(c.workers ? 2 : 0));
    auto epoch_batches = [loader] {
      int batches = 0;
      for (auto& batch : *loader) batches += batch.data.size(0) > 0 ? 1 : 0;
      return batches;
    };
    if (c.fault == Fault::validation_throws) {
      std::shared_ptr<torch::data::StatelessDataLoader<
          torch::data::datasets::MapDataset<Pairs, torch::data::transforms::Stack<>>, torch::data::samplers::SequentialSampler>>
          val_loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
              Pairs(x, y).map(torch::data::transforms::Stack<>()), torch::data::DataLoaderOptions().batch_size(8));
      return {[&net, &optimizer, c, calls, loader, val_loader, options, scale]() mutable {
                auto throwing_loss = [&](const torch::Tensor& output, const torch::Tensor& target) {
                  if (!torch::GradMode::is_enabled() && ++*calls == c.at_step) {
                    fault_struck = true;
                    throw std::runtime_error("validation failed");
                  }
                  return scaled(torch::mse_loss(output, target), scale, c);
                };
                torchlr::lr_find(net, optimizer, *loader, throwing_loss, options.val_batches(1), *val_loader);
              },
              epoch_batches};
    }
    return {[&net, &optimizer, c, calls, loader, options, scale] {
              auto loss_fn = [&](const torch::Tensor& output, const torch::Tensor& target) {
                return faulty(scaled(torch::mse_loss(output, target), scale, c), c, ++*calls);
              };
              torchlr::lr_find(net, optimizer, *loader, loss_fn, options);
            },
            epoch_batches};
  }
  const int64_t rows = c.fault == Fault::runs_dry ? 6 : x.size(0);
  auto loss = [&net, c, calls, x, y, rows, scale] {
    const auto noisy = x.narrow(0, 0, rows) + 0.01 * torch::randn({rows, x.size(1)});  // draws from the RNG
    return faulty(scaled(torch::mse_loss(net.forward(noisy), y.narrow(0, 0, rows)), scale, c), c, ++*calls);
  };
  auto no_loader = [] { return 0; };
  if (c.fault == Fault::validation_throws) {
    return {[&net, &optimizer, c, loss, x, y, options] {
              int val_calls = 0;
              torchlr::lr_find(net, optimizer, loss, options, [&] {
                if (++val_calls == c.at_step) {
                  fault_struck = true;
                  throw std::runtime_error("validation failed");
                }
                return torch::mse_loss(net.forward(x), y);
              });
            },
            no_loader};
  }
  return {[&net, &optimizer, loss, options] { torchlr::lr_find(net, optimizer, loss, options); }, no_loader};
}

Outcome outcome_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const c10::ValueError&) {
    return Outcome::value_error;
  } catch (const c10::Error&) {
    return Outcome::torch_error;
  } catch (const std::runtime_error&) {
    return Outcome::runtime_error;
  }
  return Outcome::returned;
}

Outcome expected(const Case& c) {
  if (!fault_struck && c.fault != Fault::empty_loader) return Outcome::returned;
  switch (c.fault) {
    case Fault::throws:
    case Fault::validation_throws: return Outcome::runtime_error;
    case Fault::torch_error: return Outcome::torch_error;
    case Fault::not_scalar:
    case Fault::empty_loader: return Outcome::value_error;
    default: return Outcome::returned;
  }
}

TEST(FinderFaults, EverythingIsPutBackWhateverFails) {
  std::mt19937 rng(2024);
  auto coin = [&] { return std::bernoulli_distribution(0.5)(rng); };
  std::map<std::string, int> per_fault;
  // A working directory and TMPDIR of this test's own, so that a file left anywhere lr_find
  // could put one shows, whatever the tests running beside this one write.
  const auto home = std::filesystem::path(::testing::TempDir()) / ("finder_faults_" + std::to_string(torchlr::platform::process_id()));
  std::filesystem::create_directories(home / "cwd");
  std::filesystem::create_directories(home / "tmp");
  const auto old_cwd = std::filesystem::current_path();
  const char* old_tmpdir = std::getenv("TMPDIR");
  const std::string saved_tmpdir = old_tmpdir ? old_tmpdir : "";
  std::filesystem::current_path(home / "cwd");
  setenv("TMPDIR", (home / "tmp").c_str(), 1);
  for (int i = 0; i < kCases; ++i) {
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    Case c{static_cast<Fault>(pick(kFaultNames.size())), std::uniform_int_distribution<int>(1, 25)(rng),
           static_cast<Kind>(pick(kKindNames.size())), coin(), coin(), static_cast<Mode>(pick(kModeNames.size())),
           coin(), coin(), coin(), coin()};
    if (c.fault == Fault::empty_loader) c.loader = true;
    const std::string label =
        "case " + std::to_string(i) + ": " + kFaultNames[static_cast<std::size_t>(c.fault)] + " at " +
        std::to_string(c.at_step) + ", " + kKindNames[static_cast<std::size_t>(c.kind)] +
        (c.three_groups ? ", 3 groups" : ", 1 group") + (c.warm ? ", warm" : ", fresh") + ", " +
        kModeNames[static_cast<std::size_t>(c.mode)] +
        (c.loader ? (c.workers ? ", loader with workers" : ", loader") : ", callable") +
        (c.duplicated ? ", duplicated params" : "") + (c.outside ? ", outside tensor" : "");
    SCOPED_TRACE(label);
    torch::manual_seed(static_cast<uint64_t>(i));
    Net net;
    const auto x = torch::randn({32, 4}), y = torch::randn({32, 1});
    const auto scale = torch::zeros({1}).requires_grad_();
    auto optimizer = make_optimizer(net, scale, c);
    if (c.warm) {
      for (int s = 0; s < 3; ++s) {
        optimizer->step([&] {
          optimizer->zero_grad();
          auto loss = scaled(torch::mse_loss(net.forward(x), y), scale, c);
          loss.backward();
          return loss;
        });
      }
    }
    if (c.mode == Mode::eval) net.eval();
    if (c.mode == Mode::frozen_bn) net.bn->eval();
    const auto prepared = prepare(net, *optimizer, c, x, y, scale);
    torch::manual_seed(1000 + static_cast<uint64_t>(i));
    const Fingerprint before(net, *optimizer);
    torch::manual_seed(1000 + static_cast<uint64_t>(i));
    fault_struck = false;
    torchlr::testing::WarningCapture warnings;  // eval-mode cases warn; that is tested elsewhere
    const Outcome outcome = outcome_of(prepared.call);
    const Fingerprint after(net, *optimizer);
    EXPECT_EQ(static_cast<int>(outcome), static_cast<int>(expected(c)));
    before.ExpectSame(after);
    if (c.loader) {
      const int64_t rows = c.fault == Fault::empty_loader ? 0 : c.fault == Fault::runs_dry ? 6 : x.size(0);
      EXPECT_EQ(prepared.epoch_batches(), (rows + 3) / 4);
    }
    if (::testing::Test::HasFailure()) break;
    const bool at_a_step = c.fault != Fault::none && c.fault != Fault::runs_dry && c.fault != Fault::empty_loader;
    ++per_fault[kFaultNames[static_cast<std::size_t>(c.fault)] + (at_a_step && !fault_struck ? " (not reached)" : "")];
  }
  EXPECT_EQ(listing(home / "cwd"), std::set<std::string>());
  EXPECT_EQ(listing(home / "tmp"), std::set<std::string>());
  std::filesystem::current_path(old_cwd);
  if (old_tmpdir) {
    setenv("TMPDIR", saved_tmpdir.c_str(), 1);
  } else {
    unsetenv("TMPDIR");
  }
  std::filesystem::remove_all(home);
  std::cout << "[ faults ] " << kCases << " lr_find runs with injected faults:";
  for (const auto& [fault, count] : per_fault) std::cout << ' ' << fault << '=' << count;
  std::cout << '\n';
}

}  // namespace
