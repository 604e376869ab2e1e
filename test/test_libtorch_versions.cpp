// What changed between the LibTorch versions torchlr supports (Debian 12's 1.13, Debian 13's 2.6),
// checked on whichever version this binary is built against: the compatibility header's claims
// against the real library, and torchlr's behaviour where LibTorch's changed underneath it.

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/schedulers/step_lr.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <torchlr/torchlr.h>

#include "finder_support.h"
#include "helpers.h"
#include "torch_compat.h"

namespace {

namespace compat = torchlr::compat;
using torchlr::testing::Fingerprint;
using torchlr::testing::SgdFixture;

TEST(Version, MacrosAreTheCMakeProjectVersion) {
  const std::string joined = std::to_string(TORCHLR_VERSION_MAJOR) + "." +
                             std::to_string(TORCHLR_VERSION_MINOR) + "." +
                             std::to_string(TORCHLR_VERSION_PATCH);
  EXPECT_EQ(joined, TORCHLR_PROJECT_VERSION);
  EXPECT_STREQ(TORCHLR_VERSION_STRING, TORCHLR_PROJECT_VERSION);
}

// ---- zero_grad: zeroes in place (1.13) or sets to none (2.x) ---------------------------------

TEST(LibTorchVersions, ZeroGradDefaultIsWhatTheCompatHeaderSays) {
  auto p = torch::ones({2}, torch::kDouble).requires_grad_();
  torch::optim::SGD sgd(std::vector<torch::Tensor>{p}, torch::optim::SGDOptions(0.1));
  (p * p).sum().backward();
  ASSERT_TRUE(p.grad().defined());
  sgd.zero_grad();
  EXPECT_EQ(!p.grad().defined(), compat::zero_grad_sets_none);
  if (p.grad().defined()) {
    EXPECT_TRUE(torch::equal(p.grad(), torch::zeros_like(p)));
  }
}

// A linear model whose output `scale` is used on every other batch only, plus a parameter that
// is never used: the batches without `scale` are where the two zero_grad behaviours part. A
// zeroed gradient still lets SGD's momentum and weight decay move `scale`; a gradient set to none
// makes SGD skip it.
struct PartlyUsed : torch::nn::Module {
  PartlyUsed() {
    torch::manual_seed(11);
    fc = register_module("fc", torch::nn::Linear(3, 1));
    scale = register_parameter("scale", torch::full({1}, 0.5));
    unused = register_parameter("unused", torch::ones({2}));
    to(torch::kDouble);
  }
  torch::Tensor loss(bool with_scale) {
    const auto x = torch::linspace(-1, 1, 24, torch::kDouble).reshape({8, 3});
    const auto y = x.sum(1, /*keepdim=*/true) * 2 - 1;
    auto out = fc->forward(x);
    if (with_scale) out = out * scale;
    return torch::mse_loss(out, y);
  }
  torch::nn::Linear fc{nullptr};
  torch::Tensor scale, unused;
};

torch::optim::SGDOptions sgd_options() { return torch::optim::SGDOptions(1e-3).momentum(0.9).weight_decay(0.1); }

// The range test written out by hand, with the gradients cleared one way or the other.
std::vector<double> hand_written_range_test(const std::vector<double>& ladder, bool set_to_none) {
  PartlyUsed model;
  torch::optim::SGD sgd(model.parameters(), sgd_options());
  std::vector<double> losses;
  for (std::size_t i = 0; i < ladder.size(); ++i) {
    sgd.param_groups()[0].options().set_lr(ladder[i]);
    for (auto& p : model.parameters()) {
      if (set_to_none) {
        p.mutable_grad() = torch::Tensor();
      } else if (p.grad().defined()) {
        p.mutable_grad().detach_();
        p.mutable_grad().zero_();
      }
    }
    const auto loss = model.loss(i % 2 == 0);
    losses.push_back(loss.item<double>());
    loss.backward();
    sgd.step();
  }
  return losses;
}

TEST(LibTorchVersions, FinderCurveFollowsThisVersionsZeroGrad) {
  const auto options = torchlr::LRFinderOptions().progress_bar(false).min_lr(1e-2).max_lr(0.3).num_iter(12)
                           .early_stop_threshold(std::nullopt);
  const auto ladder = torchlr::lr_ladder(options.min_lr(), options.max_lr(), options.num_iter(), options.mode());
  const auto as_installed = hand_written_range_test(ladder, compat::zero_grad_sets_none);
  const auto the_other_way = hand_written_range_test(ladder, !compat::zero_grad_sets_none);
  // The model really does tell the two behaviours apart.
  double largest_gap = 0;
  for (std::size_t i = 0; i < ladder.size(); ++i) {
    largest_gap = std::max(largest_gap, std::abs(as_installed[i] - the_other_way[i]));
  }
  EXPECT_GT(largest_gap, 1e-6);

  PartlyUsed model;
  torch::optim::SGD sgd(model.parameters(), sgd_options());
  int64_t calls = 0;
  const auto r = torchlr::lr_find(model, sgd, [&] { return model.loss(calls++ % 2 == 0); }, options);
  ASSERT_EQ(r.raw_losses().size(), as_installed.size());
  for (std::size_t i = 0; i < as_installed.size(); ++i) {
    EXPECT_EQ(r.raw_losses()[i], as_installed[i]) << "step " << i;
  }
}

TEST(LibTorchVersions, FinderPutsBackGradientsOfUnusedAndPartlyUsedParameters) {
  // Gradients a training loop left behind: after the finder's zero_grad they are zeros (1.13) or
  // none (2.x), and backward never brings back the unused parameter's; the restore must.
  PartlyUsed model;
  torch::optim::SGD sgd(model.parameters(), sgd_options());
  model.loss(true).backward();
  sgd.step();
  model.unused.mutable_grad() = torch::full({2}, 0.25, torch::kDouble);
  int64_t calls = 0;
  torch::manual_seed(3);
  const Fingerprint before(model, sgd);
  torch::manual_seed(3);
  torchlr::lr_find(model, sgd, [&] { return model.loss(calls++ % 2 == 1); },
                   torchlr::LRFinderOptions().progress_bar(false).num_iter(9).early_stop_threshold(std::nullopt));
  const Fingerprint after(model, sgd);
  before.ExpectSame(after);
  ASSERT_TRUE(model.unused.grad().defined());
  EXPECT_TRUE(torch::equal(model.unused.grad(), torch::full({2}, 0.25, torch::kDouble)));
}

// ---- torch::load of an optimizer -------------------------------------------------------------

TEST(LibTorchVersions, OptimizerLoadRestoresGroupOptionsAsTheCompatHeaderSays) {
  SgdFixture saved({0.1, 0.03});
  std::stringstream bytes;
  torch::save(*saved.optimizer, bytes);

  SgdFixture target({0.5, 0.2}, /*momentum=*/0.2);
  const auto* options_object = &target.optimizer->param_groups()[0].options();
  torch::load(*target.optimizer, bytes);
  const auto& options = static_cast<const torch::optim::SGDOptions&>(target.optimizer->param_groups()[0].options());
  if (compat::optimizer_load_restores_options) {
    EXPECT_EQ(target.lr(0), 0.1);
    EXPECT_EQ(target.lr(1), 0.03);
    EXPECT_EQ(options.momentum(), 0.9);
  } else {
    EXPECT_EQ(target.lr(0), 0.5);
    EXPECT_EQ(target.lr(1), 0.2);
    EXPECT_EQ(options.momentum(), 0.2);
  }
  // Either way the group keeps its options object: a scheduler bound to it stays valid.
  EXPECT_EQ(&target.optimizer->param_groups()[0].options(), options_object);
}

TEST(LibTorchVersions, SchedulerStepsOnAfterOnlyTheOptimizerWasLoaded) {
  // Loading the optimizer alone under a freshly constructed scheduler is legal on both versions:
  // whatever the load did to lr and momentum, the next step writes the scheduler's own values,
  // the same as a twin that loaded nothing.
  SgdFixture saved({0.4}, /*momentum=*/0.5);
  saved.set_lr(0.123);
  std::stringstream bytes;
  torch::save(*saved.optimizer, bytes);

  SgdFixture f({0.4}), twin({0.4});
  const auto options = torchlr::OneCycleLROptions(1.0).total_steps(10);
  torchlr::OneCycleLR cycle(*f.optimizer, options), twin_cycle(*twin.optimizer, options);
  torch::load(*f.optimizer, bytes);
  EXPECT_EQ(f.lr(), compat::optimizer_load_restores_options ? 0.123 : twin.lr());
  const auto momentum = [](SgdFixture& s) {
    return static_cast<const torch::optim::SGDOptions&>(s.optimizer->param_groups()[0].options()).momentum();
  };
  for (int i = 0; i < 3; ++i) {
    f.optimizer_step();
    cycle.step();
    twin.optimizer_step();
    twin_cycle.step();
    EXPECT_EQ(f.lr(), twin.lr()) << "step " << i;
    EXPECT_EQ(momentum(f), momentum(twin)) << "step " << i;
  }
}

// ---- CUDA stays untouched by a CPU run -------------------------------------------------------

TEST(LibTorchVersions, CpuFinderCreatesNoCudaContext) {
  // The finder snapshots every default generator; on a CUDA machine that must not create a CUDA
  // context for a CPU model (2.x creates the CUDA generator lazily). Without CUDA in this
  // LibTorch the finder must not ask for a CUDA generator at all (that throws).
  if (compat::cuda_context_created()) GTEST_SKIP() << "an earlier test in this process used CUDA";
  PartlyUsed model;
  torch::optim::SGD sgd(model.parameters(), sgd_options());
  EXPECT_NO_THROW(torchlr::lr_find(model, sgd, [&] { return model.loss(true); },
                                   torchlr::LRFinderOptions().progress_bar(false).num_iter(5)));
  EXPECT_FALSE(compat::cuda_context_created());
}

// ---- LibTorch's own schedulers next to torchlr's ---------------------------------------------

TEST(LibTorchVersions, LibTorchStepLRIsADifferentTypeOneStepLate) {
  static_assert(!std::is_same_v<torch::optim::StepLR, torchlr::StepLR>);
  SgdFixture a({0.1}), b({0.1});
  torch::optim::StepLR theirs(*a.optimizer, 3, 0.5);
  torchlr::StepLR ours(*b.optimizer, torchlr::StepLROptions(3).gamma(0.5));
  std::vector<double> their_lrs, our_lrs;
  for (int i = 0; i < 4; ++i) {
    a.optimizer_step();
    theirs.step();
    their_lrs.push_back(a.lr());
    b.optimizer_step();
    ours.step();
    our_lrs.push_back(b.lr());
  }
  // README, "torchlr's StepLR and LibTorch's torch::optim::StepLR".
  EXPECT_EQ(their_lrs, (std::vector<double>{0.1, 0.1, 0.1, 0.05}));
  EXPECT_EQ(our_lrs, (std::vector<double>{0.1, 0.1, 0.05, 0.05}));
}

#if TORCHLR_COMPAT_HAS_TORCH_PLATEAU_SCHEDULER
TEST(LibTorchVersions, LibTorchPlateauStartsMaxModeFromFltMin) {
  // README: LibTorch's ReduceLROnPlateauScheduler starts max mode from FLT_MIN, so a negative
  // metric is never an improvement there; torchlr starts from -inf as PyTorch does.
  SgdFixture a({0.1}), b({0.1});
  torch::optim::ReduceLROnPlateauScheduler theirs(*a.optimizer, torch::optim::ReduceLROnPlateauScheduler::max,
                                                  0.5, /*patience=*/0);
  torchlr::ReduceLROnPlateau ours(*b.optimizer, torchlr::ReduceLROnPlateauOptions().mode(torchlr::PlateauMode::max).factor(0.5).patience(0));
  for (float metric : {-5.0F, -4.0F}) {
    theirs.step(metric);
    ours.step(metric);
  }
  EXPECT_EQ(a.lr(), 0.025);
  EXPECT_EQ(b.lr(), 0.1);
}
#endif

}  // namespace
