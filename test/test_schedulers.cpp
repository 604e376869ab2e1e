// Each scheduler against the values current PyTorch gives (semantics doc, section 4).

#include <gtest/gtest.h>

#include <torchlr/torchlr.h>

#include "helpers.h"
#include "platform.h"

namespace {

using torchlr::testing::ExpectSequence;
using torchlr::testing::RelClose;
using torchlr::testing::SgdFixture;
using torchlr::testing::trajectory;

TEST(StepLR, DecaysEveryStepSize) {  // case 9
  SgdFixture f({0.1});
  torchlr::StepLR s(*f.optimizer, torchlr::StepLROptions(3).gamma(0.5));
  ExpectSequence(trajectory(f, s, 8), {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025});
}

TEST(MultiStepLR, RepeatedAndUnsortedMilestones) {  // case 10
  SgdFixture f({0.1});
  torchlr::MultiStepLR s(*f.optimizer, torchlr::MultiStepLROptions({2, 2, 5}).gamma(0.1));
  ExpectSequence(trajectory(f, s, 6), {0.1, 0.1, 0.001, 0.001, 0.001, 0.0001, 0.0001});
  SgdFixture g({0.1});
  torchlr::MultiStepLR unsorted(*g.optimizer, torchlr::MultiStepLROptions({5, 2}));
  ExpectSequence(trajectory(g, unsorted, 6), {0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001});
  EXPECT_EQ(unsorted.options().milestones(), (std::vector<int64_t>{5, 2}));  // kept as given
}

TEST(ConstantLR, ConstantPhaseThenBase) {  // case 11
  SgdFixture f({0.1});
  torchlr::ConstantLR s(*f.optimizer, torchlr::ConstantLROptions().factor(0.5).total_iters(3));
  ExpectSequence(trajectory(f, s, 5), {0.05, 0.05, 0.05, 0.1, 0.1, 0.1});
}

TEST(ConstantLR, ZeroTotalItersStaysAtFactorButClosedFormDoesNot) {  // case 11
  SgdFixture f({0.1});
  torchlr::ConstantLR s(*f.optimizer, torchlr::ConstantLROptions().factor(0.5).total_iters(0));
  ExpectSequence(trajectory(f, s, 4), {0.05, 0.05, 0.05, 0.05, 0.05});
  s.step(2);
  EXPECT_TRUE(RelClose(f.lr(), 0.1));
}

TEST(LinearLR, Warmup) {  // case 12
  SgdFixture f({0.1});
  torchlr::LinearLR s(*f.optimizer,
                      torchlr::LinearLROptions().start_factor(0.25).end_factor(1.0).total_iters(4));
  ExpectSequence(trajectory(f, s, 5), {0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1});
}

TEST(LinearLR, DecayToZero) {  // case 12
  SgdFixture f({0.1});
  torchlr::LinearLR s(*f.optimizer,
                      torchlr::LinearLROptions().start_factor(1.0).end_factor(0.0).total_iters(4));
  ExpectSequence(trajectory(f, s, 6), {0.1, 0.075, 0.05, 0.025, 0.0, 0.0, 0.0});
}

TEST(LinearLR, ZeroTotalItersStaysAtStartFactor) {  // case 12
  SgdFixture f({0.1});
  torchlr::LinearLR s(*f.optimizer, torchlr::LinearLROptions().start_factor(0.5).total_iters(0));
  ExpectSequence(trajectory(f, s, 3), {0.05, 0.05, 0.05, 0.05});
  // Only the closed form divides by total_iters: step(epoch) is refused, nothing changes.
  EXPECT_VALUE_ERROR(s.step(2), "LinearLR", "total_iters");
  EXPECT_EQ(f.lr(), 0.05);
  EXPECT_EQ(s.last_epoch(), 3);
}

TEST(ExponentialLR, Decays) {  // case 13
  SgdFixture f({0.1});
  torchlr::ExponentialLR s(*f.optimizer, torchlr::ExponentialLROptions(0.5));
  ExpectSequence(trajectory(f, s, 3), {0.1, 0.05, 0.025, 0.0125});
}

TEST(PolynomialLR, ReachesZeroAndStays) {  // case 14
  SgdFixture f({0.1});
  torchlr::PolynomialLR s(*f.optimizer, torchlr::PolynomialLROptions().total_iters(4).power(2));
  const auto lrs = trajectory(f, s, 6);
  ExpectSequence(lrs, {0.1, 0.05625, 0.025, 0.00625});
  EXPECT_EQ(lrs[4], 0.0);
  EXPECT_EQ(lrs[6], 0.0);
}

TEST(CosineAnnealingLR, PeriodicWithoutClamp) {  // case 15
  SgdFixture f({0.1});
  torchlr::CosineAnnealingLR s(*f.optimizer, torchlr::CosineAnnealingLROptions(4).eta_min(0.01));
  ExpectSequence(trajectory(f, s, 8), {0.1, 0.0868198052, 0.055, 0.0231801948, 0.01, 0.0231801948,
                                       0.055, 0.0868198052, 0.1});
}

TEST(CosineAnnealingLR, RecursionStaysWithinTolerance) {  // case 16
  SgdFixture f({0.1});
  torchlr::CosineAnnealingLR s(*f.optimizer, torchlr::CosineAnnealingLROptions(7));
  const auto lrs = trajectory(f, s, 50);
  for (int e = 0; e <= 50; ++e) {
    if (e % 14 == 7) continue;  // the closed form is 0 there
    const double closed = 0.1 * (1 + std::cos(torchlr::platform::kPi * e / 7)) / 2;
    EXPECT_TRUE(RelClose(lrs[static_cast<std::size_t>(e)], closed, 1e-12)) << "epoch " << e;
  }
}

TEST(CosineAnnealingWarmRestarts, TMult2) {  // case 17
  SgdFixture f({0.1});
  torchlr::CosineAnnealingWarmRestarts s(*f.optimizer,
                                         torchlr::CosineAnnealingWarmRestartsOptions(3).T_mult(2));
  ExpectSequence(trajectory(f, s, 10), {0.1, 0.075, 0.025, 0.1, 0.0933012702, 0.075, 0.05, 0.025,
                                        0.0066987298, 0.1, 0.0982962913});
}

TEST(CosineAnnealingWarmRestarts, FractionalEpochs) {  // case 18
  SgdFixture f({0.1});
  torchlr::CosineAnnealingWarmRestarts s(*f.optimizer,
                                         torchlr::CosineAnnealingWarmRestartsOptions(2).T_mult(2));
  s.step(0.5);
  EXPECT_EQ(s.T_cur(), 0.5);
  EXPECT_EQ(s.last_epoch(), 0);
  EXPECT_TRUE(RelClose(f.lr(), 0.0853553391, 1e-9));
  s.step(2.0);
  EXPECT_EQ(s.T_cur(), 0.0);
  EXPECT_EQ(s.T_i(), 4.0);
  EXPECT_TRUE(RelClose(f.lr(), 0.1));
  s.step(5.9);
  EXPECT_TRUE(RelClose(s.T_cur(), 3.9));
  EXPECT_TRUE(RelClose(f.lr(), 0.0001541333, 1e-7));
  s.step(6.0);
  EXPECT_EQ(s.T_i(), 8.0);
  s.step(6.5);
  s.step();
  EXPECT_TRUE(RelClose(s.T_cur(), 1.5));
  EXPECT_EQ(s.last_epoch(), 7);
  EXPECT_TRUE(RelClose(f.lr(), 0.0915734806, 1e-9));
}

TEST(CosineAnnealingWarmRestarts, InterleavedStepAndEpoch) {  // case 19
  SgdFixture f({0.1});
  torchlr::CosineAnnealingWarmRestarts s(*f.optimizer,
                                         torchlr::CosineAnnealingWarmRestartsOptions(10));
  trajectory(f, s, 20);
  s.step(26);
  EXPECT_EQ(s.T_cur(), 6.0);
  EXPECT_EQ(s.last_epoch(), 26);
  EXPECT_TRUE(RelClose(f.lr(), 0.0345491503, 1e-9));
  s.step();
  EXPECT_EQ(s.T_cur(), 7.0);
  EXPECT_EQ(s.last_epoch(), 27);
  EXPECT_TRUE(RelClose(f.lr(), 0.0206107374, 1e-9));
}

TEST(CosineAnnealingWarmRestarts, LogRoundingMatchesPython) {  // case 20
  SgdFixture f({0.1});
  torchlr::CosineAnnealingWarmRestarts s(*f.optimizer,
                                         torchlr::CosineAnnealingWarmRestartsOptions(1).T_mult(10));
  s.step(111);  // log(1000)/log(10) = 2.9999999999999996, so n = 2 and T_cur = T_i = 100
  EXPECT_EQ(s.T_cur(), 100.0);
  EXPECT_EQ(s.T_i(), 100.0);
  EXPECT_EQ(f.lr(), 0.0);
  s.step(1111);
  EXPECT_EQ(s.T_cur(), 0.0);
}

TEST(SequentialLR, ConstantThenExponential) {  // case 40
  SgdFixture f({1.0});
  auto constant = std::make_shared<torchlr::ConstantLR>(
      *f.optimizer, torchlr::ConstantLROptions().factor(0.1).total_iters(2));
  auto exponential = std::make_shared<torchlr::ExponentialLR>(*f.optimizer, 0.9);
  torchlr::SequentialLR s(*f.optimizer, torchlr::SequentialLROptions({constant, exponential}, {3}));
  ExpectSequence(trajectory(f, s, 6), {0.1, 0.1, 1.0, 1.0, 0.9, 0.81, 0.729});
  EXPECT_EQ(constant->last_epoch(), 2);
  EXPECT_EQ(exponential->last_epoch(), 3);
  EXPECT_EQ(s.last_epoch(), 6);
}

TEST(SequentialLR, WarmupThenCosine) {  // case 41
  SgdFixture f({1.0});
  auto warmup = std::make_shared<torchlr::LinearLR>(
      *f.optimizer, torchlr::LinearLROptions().start_factor(0.1).total_iters(3));
  auto cosine = std::make_shared<torchlr::CosineAnnealingLR>(*f.optimizer, 4);
  torchlr::SequentialLR s(*f.optimizer, torchlr::SequentialLROptions({warmup, cosine}, {3}));
  ExpectSequence(trajectory(f, s, 8), {0.1, 0.4, 0.7, 1.0, 0.8535533906, 0.5, 0.1464466094, 0.0,
                                       0.1464466094});
}

TEST(SequentialLR, MultiplicativeAtMilestone) {  // case 42
  SgdFixture f({1.0});
  auto warmup = std::make_shared<torchlr::LinearLR>(
      *f.optimizer, torchlr::LinearLROptions().start_factor(0.5).total_iters(2));
  auto mult = std::make_shared<torchlr::MultiplicativeLR>(
      *f.optimizer, torchlr::MultiplicativeLROptions([](int64_t) { return 0.5; }));
  torchlr::SequentialLR s(*f.optimizer, torchlr::SequentialLROptions({warmup, mult}, {2}));
  ExpectSequence(trajectory(f, s, 4), {0.5, 0.75, 0.375, 0.1875, 0.09375});
}

TEST(SequentialLR, MilestoneZero) {  // case 43
  SgdFixture f({1.0});
  auto constant = std::make_shared<torchlr::ConstantLR>(
      *f.optimizer, torchlr::ConstantLROptions().factor(0.1).total_iters(100));
  auto exponential = std::make_shared<torchlr::ExponentialLR>(*f.optimizer, 0.5);
  torchlr::SequentialLR s(*f.optimizer, torchlr::SequentialLROptions({constant, exponential}, {0}));
  ExpectSequence(trajectory(f, s, 3), {0.1, 0.05, 0.025, 0.0125});
}

TEST(ChainedScheduler, ConstantTimesExponential) {  // case 44
  SgdFixture f({1.0});
  auto constant = std::make_shared<torchlr::ConstantLR>(
      *f.optimizer, torchlr::ConstantLROptions().factor(0.1).total_iters(3));
  auto exponential = std::make_shared<torchlr::ExponentialLR>(*f.optimizer, 0.9);
  torchlr::ChainedScheduler s({constant, exponential});
  ExpectSequence(trajectory(f, s, 5), {0.1, 0.09, 0.081, 0.729, 0.6561, 0.59049});
  EXPECT_TRUE(RelClose(s.get_last_lr()[0], 0.59049));
}

TEST(ChainedScheduler, LambdaOverwrites) {  // case 44
  SgdFixture f({1.0});
  auto exponential = std::make_shared<torchlr::ExponentialLR>(*f.optimizer, 0.5);
  auto lambda = std::make_shared<torchlr::LambdaLR>(
      *f.optimizer, torchlr::LambdaLROptions([](int64_t) { return 1.0; }));
  torchlr::ChainedScheduler s(*f.optimizer, {exponential, lambda});
  ExpectSequence(trajectory(f, s, 3), {1.0, 1.0, 1.0, 1.0});
}

TEST(Composites, NestChainedInsideSequential) {
  // Warmup, then a chain of cosine and a decay: the nesting PyTorch supports since
  // recursive_undo. At the milestone the chain's children restart at epoch 0.
  SgdFixture f({1.0});
  auto warmup = std::make_shared<torchlr::LinearLR>(
      *f.optimizer, torchlr::LinearLROptions().start_factor(0.5).total_iters(2));
  auto step = std::make_shared<torchlr::StepLR>(*f.optimizer, torchlr::StepLROptions(2).gamma(0.5));
  auto exponential = std::make_shared<torchlr::ExponentialLR>(*f.optimizer, 0.9);
  auto chain = std::make_shared<torchlr::ChainedScheduler>(
      torchlr::SchedulerList{step, exponential});
  torchlr::SequentialLR s(*f.optimizer, torchlr::SequentialLROptions({warmup, chain}, {2}));
  const auto lrs = trajectory(f, s, 5);
  // Epoch 2: both children restart at epoch 0 (closed forms): 1.0 · 0.5^0 · 0.9^0.
  ExpectSequence(lrs, {0.5, 0.75, 1.0, 1.0 * 0.9, 1.0 * 0.9 * 0.5 * 0.9, 0.9 * 0.5 * 0.9 * 0.9});
  EXPECT_EQ(s.last_epoch(), 5);
}

TEST(Composites, NestSequentialInsideChained) {
  SgdFixture f({1.0});
  auto constant = std::make_shared<torchlr::ConstantLR>(
      *f.optimizer, torchlr::ConstantLROptions().factor(0.5).total_iters(2));
  auto exponential = std::make_shared<torchlr::ExponentialLR>(*f.optimizer, 0.5);
  auto sequential = std::make_shared<torchlr::SequentialLR>(
      *f.optimizer, torchlr::SequentialLROptions({constant, exponential}, {2}));
  auto step = std::make_shared<torchlr::StepLR>(*f.optimizer, torchlr::StepLROptions(3).gamma(0.1));
  torchlr::ChainedScheduler chain({sequential, step});
  const auto lrs = trajectory(f, chain, 4);
  ExpectSequence(lrs, {0.5, 0.5, 1.0, 0.05, 0.025});
}

}  // namespace
