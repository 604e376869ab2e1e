// Fault injection for lr_find: random combinations of a fault (the loss throws at a random step,
// LibTorch throws, the loss turns NaN or ±Inf, a loss that is not a scalar, an empty loader, a
// loader that runs dry, a failing validation loss), an optimizer (SGD with momentum, Adam, one
// or three groups, with or without state), a model with BatchNorm in train or eval mode, and
// either entry point. In every case parameters, gradients, buffers, optimizer state, every
// group's options, the RNG and the train flag are bit-identical afterwards, the exception (if
// any) reaches the caller unchanged, and no file is left in the working or temp directory.

#include "platform.h"

#include <cstdlib>
#include <functional>
#include <map>
#include <random>

#include <gtest/gtest.h>
#include <torch/data.h>
#include <torch/nn/functional/loss.h>

#include <torchlr/lr_finder.h>

#include "finder_support.h"
#include "property_support.h"

namespace {

using torchlr::testing::Fingerprint;
using torchlr::testing::listing;
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

struct Case {
  Fault fault;
  int at_step;          // where the fault strikes (1-based call of the loss)
  bool adam;
  bool three_groups;
  bool warm;            // optimizer state and gradients from a few real steps
  bool eval_mode;
  bool loader;          // the data-loader entry point (else the callable one)
};

std::unique_ptr<torch::optim::Optimizer> make_optimizer(Net& net, const Case& c) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto params_of = [](torch::nn::Module& m) { return m.parameters(); };
  if (c.three_groups) {
    groups.emplace_back(params_of(*net.fc1));
    groups.emplace_back(params_of(*net.bn));
    groups.emplace_back(params_of(*net.fc2));
  } else {
    groups.emplace_back(net.parameters());
  }
  const double lrs[] = {1e-3, 3e-3, 5e-4};
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (c.adam) {
      groups[g].set_options(std::make_unique<torch::optim::AdamOptions>(
          torch::optim::AdamOptions(lrs[g]).betas({0.9 - 0.05 * static_cast<double>(g), 0.99})));
    } else {
      groups[g].set_options(std::make_unique<torch::optim::SGDOptions>(
          torch::optim::SGDOptions(lrs[g]).momentum(0.9 - 0.1 * static_cast<double>(g))));
    }
  }
  if (c.adam) return std::make_unique<torch::optim::Adam>(std::move(groups), torch::optim::AdamOptions(1e-3));
  return std::make_unique<torch::optim::SGD>(std::move(groups), torch::optim::SGDOptions(1e-3));
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

// The lr_find call for a case, ready to run: the loaders are made here, before the fingerprint,
// because a RandomSampler draws from the RNG when it is made (the reshuffles when lr_find
// starts a loader again happen inside lr_find and must be undone by it).
std::function<void()> prepare(Net& net, torch::optim::Optimizer& optimizer, const Case& c, const torch::Tensor& x,
                              const torch::Tensor& y) {
  auto options = torchlr::LRFinderOptions().progress_bar(false).num_iter(25).min_lr(1e-5).max_lr(10);
  auto calls = std::make_shared<int>(0);
  if (c.loader) {
    const int64_t rows = c.fault == Fault::empty_loader ? 0 : c.fault == Fault::runs_dry ? 6 : x.size(0);
    std::shared_ptr<torch::data::StatelessDataLoader<
        torch::data::datasets::MapDataset<Pairs, torch::data::transforms::Stack<>>, torch::data::samplers::RandomSampler>>
        loader = torch::data::make_data_loader<torch::data::samplers::RandomSampler>(
            Pairs(x.narrow(0, 0, rows), y.narrow(0, 0, rows)).map(torch::data::transforms::Stack<>()),
            torch::data::DataLoaderOptions().batch_size(4));
    if (c.fault == Fault::validation_throws) {
      std::shared_ptr<torch::data::StatelessDataLoader<
          torch::data::datasets::MapDataset<Pairs, torch::data::transforms::Stack<>>, torch::data::samplers::SequentialSampler>>
          val_loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
              Pairs(x, y).map(torch::data::transforms::Stack<>()), torch::data::DataLoaderOptions().batch_size(8));
      return [&net, &optimizer, c, calls, loader, val_loader, options]() mutable {
        auto throwing_loss = [&](const torch::Tensor& output, const torch::Tensor& target) {
          if (!torch::GradMode::is_enabled() && ++*calls == c.at_step) {
            fault_struck = true;
            throw std::runtime_error("validation failed");
          }
          return torch::mse_loss(output, target);
        };
        torchlr::lr_find(net, optimizer, *loader, throwing_loss, options.val_batches(1), *val_loader);
      };
    }
    return [&net, &optimizer, c, calls, loader, options] {
      auto loss_fn = [&](const torch::Tensor& output, const torch::Tensor& target) {
        return faulty(torch::mse_loss(output, target), c, ++*calls);
      };
      torchlr::lr_find(net, optimizer, *loader, loss_fn, options);
    };
  }
  const int64_t rows = c.fault == Fault::runs_dry ? 6 : x.size(0);
  auto loss = [&net, c, calls, x, y, rows] {
    const auto noisy = x.narrow(0, 0, rows) + 0.01 * torch::randn({rows, x.size(1)});  // draws from the RNG
    return faulty(torch::mse_loss(net.forward(noisy), y.narrow(0, 0, rows)), c, ++*calls);
  };
  if (c.fault == Fault::validation_throws) {
    return [&net, &optimizer, c, loss, x, y, options] {
      int val_calls = 0;
      torchlr::lr_find(net, optimizer, loss, options, [&] {
        if (++val_calls == c.at_step) {
          fault_struck = true;
          throw std::runtime_error("validation failed");
        }
        return torch::mse_loss(net.forward(x), y);
      });
    };
  }
  return [&net, &optimizer, loss, options] { torchlr::lr_find(net, optimizer, loss, options); };
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
    Case c{static_cast<Fault>(std::uniform_int_distribution<int>(0, static_cast<int>(kFaultNames.size()) - 1)(rng)),
           std::uniform_int_distribution<int>(1, 25)(rng), coin(), coin(), coin(), coin(), coin()};
    if (c.fault == Fault::empty_loader) c.loader = true;
    const std::string label = "case " + std::to_string(i) + ": " + kFaultNames[static_cast<std::size_t>(c.fault)] +
                              " at " + std::to_string(c.at_step) + (c.adam ? ", Adam" : ", SGD") +
                              (c.three_groups ? ", 3 groups" : ", 1 group") + (c.warm ? ", warm" : ", fresh") +
                              (c.eval_mode ? ", eval" : ", train") + (c.loader ? ", loader" : ", callable");
    SCOPED_TRACE(label);
    torch::manual_seed(static_cast<uint64_t>(i));
    Net net;
    const auto x = torch::randn({32, 4}), y = torch::randn({32, 1});
    auto optimizer = make_optimizer(net, c);
    if (c.warm) {
      for (int s = 0; s < 3; ++s) {
        optimizer->zero_grad();
        torch::mse_loss(net.forward(x), y).backward();
        optimizer->step();
      }
    }
    if (c.eval_mode) net.eval();
    const auto call = prepare(net, *optimizer, c, x, y);
    torch::manual_seed(1000 + static_cast<uint64_t>(i));
    const Fingerprint before(net, *optimizer);
    torch::manual_seed(1000 + static_cast<uint64_t>(i));
    fault_struck = false;
    const Outcome outcome = outcome_of(call);
    const Fingerprint after(net, *optimizer);
    EXPECT_EQ(static_cast<int>(outcome), static_cast<int>(expected(c)));
    before.ExpectSame(after);
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
