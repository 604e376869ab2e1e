// torchlr's two process-wide registries: the initial lrs remembered beside each optimizer, and
// the momentum accessors. A failed construction leaves no trace in them, a new optimizer at a
// freed one's address inherits nothing, and registering while other threads step is safe.
// (Exit-time behaviour, with schedulers owned by static objects: test/static_holder.cpp.)

#include <atomic>
#include <cmath>
#include <memory>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <torch/optim/sgd.h>

#include <torchlr/torchlr.h>

#include "helpers.h"

namespace {

using torchlr::testing::SgdFixture;

// Options types of the tests' own (one per test, as registrations are process-wide), whose
// momentum `beta` torchlr only reaches once registered.
template <int Tag>
struct BetaOptions : torch::optim::OptimizerCloneableOptions<BetaOptions<Tag>> {
  explicit BetaOptions(double lr) : lr_(lr) {}
  TORCH_ARG(double, lr);
  TORCH_ARG(double, beta) = 0.5;
  double get_lr() const override { return lr_; }
  void set_lr(const double lr) override { lr_ = lr; }
};

template <int Tag>
class BetaOptimizer : public torch::optim::Optimizer {
 public:
  explicit BetaOptimizer(double lr)
      : Optimizer({torch::optim::OptimizerParamGroup(std::vector<torch::Tensor>{torch::zeros({1}).requires_grad_()})},
                  std::make_unique<BetaOptions<Tag>>(lr)) {}
  torch::Tensor step(LossClosure = nullptr) override { return {}; }
  const BetaOptions<Tag>& group_options() const {
    return static_cast<const BetaOptions<Tag>&>(param_groups()[0].options());
  }
};

// ---- initial lrs ----------------------------------------------------------------------------

TEST(InitialLrRegistry, OneCycleLRRefusedBeforeItsBaseWasBuiltLeavesNothing) {
  // The momentum setter refuses, after OneCycleLR has decided its initial lr (max_lr / 25).
  torchlr::register_momentum<BetaOptions<1>>([](const BetaOptions<1>& o) { return o.beta(); },
                                             [](BetaOptions<1>&, double) { throw std::runtime_error("read-only beta"); });
  BetaOptimizer<1> optimizer(0.5);
  EXPECT_THROW(torchlr::OneCycleLR(optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10)), std::runtime_error);
  EXPECT_EQ(optimizer.group_options().lr(), 0.5);
  EXPECT_EQ(optimizer.group_options().beta(), 0.5);
  torchlr::StepLR next(optimizer, torchlr::StepLROptions(1));
  EXPECT_EQ(next.base_lrs()[0], 0.5);
}

TEST(InitialLrRegistry, OneCycleLRRefusedAtItsInitialStepPutsBackWhatItAssigned) {
  SgdFixture f({0.5});
  torchlr::StepLR first(*f.optimizer, torchlr::StepLROptions(1));
  // max_lr / div_factor overflows to infinity: the initial step refuses.
  EXPECT_VALUE_ERROR(torchlr::OneCycleLR(*f.optimizer, torchlr::OneCycleLROptions(1e300).div_factor(1e-10).total_steps(10)),
                     "would become inf");
  EXPECT_EQ(f.lr(), 0.5);
  EXPECT_EQ(torchlr::momentum_access(f.optimizer->param_groups()[0].options())->get(f.optimizer->param_groups()[0].options()), 0.9);
  f.set_lr(0.25);
  torchlr::ExponentialLR second(*f.optimizer, torchlr::ExponentialLROptions(0.5));
  EXPECT_EQ(second.base_lrs()[0], 0.5);  // the first scheduler's initial lr, as before the attempt
}

TEST(InitialLrRegistry, ANewOptimizerAtAFreedOnesAddressInheritsNothing) {
  std::vector<torch::Tensor> old_params{torch::zeros({1}).requires_grad_()};
  std::vector<torch::Tensor> new_params{torch::zeros({1}).requires_grad_()};
  alignas(torch::optim::SGD) unsigned char storage[sizeof(torch::optim::SGD)];

  auto* freed = new (storage) torch::optim::SGD(old_params, torch::optim::SGDOptions(0.1));
  // A scheduler that outlives its optimizer (destroying it later is allowed; using it is not).
  auto outliving = std::make_unique<torchlr::StepLR>(*freed, torchlr::StepLROptions(1));
  freed->~SGD();

  auto* recycled = new (storage) torch::optim::SGD(new_params, torch::optim::SGDOptions(0.5));
  {
    torchlr::StepLR fresh(*recycled, torchlr::StepLROptions(1));
    EXPECT_EQ(fresh.base_lrs()[0], 0.5);
    // The dead optimizer's scheduler releases only its own entry, not the new one's.
    outliving.reset();
    recycled->param_groups()[0].options().set_lr(0.7);
    torchlr::StepLR second(*recycled, torchlr::StepLROptions(1));
    EXPECT_EQ(second.base_lrs()[0], 0.5);
  }
  recycled->~SGD();
}

// ---- momentum accessors ---------------------------------------------------------------------

// Registering again while other threads construct and step schedulers through the accessors they
// found. Each registration's functions hold heap state that a changed-in-place accessor would
// free under a running call (the sanitizer build reports that; any build may crash on it).
TEST(MomentumRegistry, RegisteringWhileOtherThreadsStep) {
  using Options = BetaOptions<2>;
  auto register_once = [] {
    auto live = std::make_shared<const int>(42);
    torchlr::register_momentum<Options>(
        [live](const Options& o) {
          if (*live != 42) throw std::logic_error("a freed accessor was called");
          return o.beta();
        },
        [live](Options& o, double m) {
          if (*live != 42) throw std::logic_error("a freed accessor was called");
          o.beta(m);
        });
  };
  register_once();

  constexpr int kSteppers = 3, kSteps = 30000;
  std::atomic<int> running{kSteppers};
  std::atomic<int> bad_momenta{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kSteppers; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 10; ++round) {  // new schedulers look the accessor up again
        BetaOptimizer<2> optimizer(0.1);
        torchlr::CyclicLR scheduler(optimizer, torchlr::CyclicLROptions(0.01, 0.1).step_size_up(5));
        for (int i = 0; i < kSteps / 10; ++i) {
          scheduler.step();
          const double beta = optimizer.group_options().beta();
          if (!(beta >= 0.8 - 1e-12 && beta <= 0.9 + 1e-12)) ++bad_momenta;
        }
      }
      --running;
    });
  }
  int registrations = 0;
  while (running.load() > 0 || registrations < 100) {
    register_once();
    ++registrations;
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(bad_momenta.load(), 0);
  EXPECT_GE(registrations, 100);
}

TEST(MomentumRegistry, ARegistrationAppliesToSchedulersConstructedAfterIt) {
  using Options = BetaOptions<3>;
  torchlr::register_momentum<Options>([](const Options& o) { return o.beta(); }, [](Options& o, double m) { o.beta(m); });
  BetaOptimizer<3> optimizer(0.1);
  torchlr::CyclicLR before(optimizer, torchlr::CyclicLROptions(0.01, 0.1).step_size_up(5));
  // Writes nothing: an accessor for a scheduler constructed from now on.
  torchlr::register_momentum<Options>([](const Options& o) { return o.beta(); }, [](Options&, double) {});
  before.step();
  EXPECT_DOUBLE_EQ(optimizer.group_options().beta(), 0.88);  // the first accessor still writes
  BetaOptimizer<3> other(0.1);
  torchlr::CyclicLR after(other, torchlr::CyclicLROptions(0.01, 0.1).step_size_up(5));
  after.step();
  EXPECT_EQ(other.group_options().beta(), 0.5);
}

}  // namespace
