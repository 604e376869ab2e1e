// Every bad argument: c10::ValueError at construction, naming the argument and its value, and
// the optimizer left as it was.

#include <limits>

#include <gtest/gtest.h>

#include <torchlr/torchlr.h>

#include "helpers.h"

namespace {

using torchlr::testing::SgdFixture;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

class Validation : public ::testing::Test {
 protected:
  void TearDown() override {
    // No refused construction may touch the optimizer, or leave an initial_lr behind.
    EXPECT_EQ(f.lr(), 0.1);
    torchlr::ExponentialLR probe(*f.optimizer, torchlr::ExponentialLROptions(0.5));
    EXPECT_EQ(probe.base_lrs(), std::vector<double>{0.1});
  }
  SgdFixture f{{0.1}};
};

TEST_F(Validation, StepLR) {
  EXPECT_VALUE_ERROR(torchlr::StepLR(*f.optimizer, torchlr::StepLROptions(0)), "step_size", "0");
  EXPECT_VALUE_ERROR(torchlr::StepLR(*f.optimizer, torchlr::StepLROptions(-2)), "step_size", "-2");
  EXPECT_VALUE_ERROR(torchlr::StepLR(*f.optimizer, torchlr::StepLROptions(2).gamma(kNaN)), "gamma",
                     "nan");
}

TEST_F(Validation, MultiStepLR) {
  EXPECT_VALUE_ERROR(
      torchlr::MultiStepLR(*f.optimizer, torchlr::MultiStepLROptions({1}).gamma(kInf)), "gamma",
      "inf");
}

TEST_F(Validation, ConstantLR) {
  using O = torchlr::ConstantLROptions;
  EXPECT_VALUE_ERROR(torchlr::ConstantLR(*f.optimizer, O().factor(1.5)), "factor", "1.5",
                     "Constant multiplicative factor expected to be between 0 and 1.");
  EXPECT_VALUE_ERROR(torchlr::ConstantLR(*f.optimizer, O().factor(-0.1)), "factor", "-0.1");
  EXPECT_VALUE_ERROR(torchlr::ConstantLR(*f.optimizer, O().factor(0.0)), "factor", "0");
  EXPECT_VALUE_ERROR(torchlr::ConstantLR(*f.optimizer, O().factor(kNaN)), "factor", "nan");
  EXPECT_VALUE_ERROR(torchlr::ConstantLR(*f.optimizer, O().total_iters(-1)), "total_iters", "-1");
}

TEST_F(Validation, LinearLR) {
  using O = torchlr::LinearLROptions;
  EXPECT_VALUE_ERROR(torchlr::LinearLR(*f.optimizer, O().start_factor(0.0)), "start_factor", "0",
                     "Starting multiplicative factor expected to be greater than 0");
  EXPECT_VALUE_ERROR(torchlr::LinearLR(*f.optimizer, O().start_factor(1.5)), "start_factor", "1.5");
  EXPECT_VALUE_ERROR(torchlr::LinearLR(*f.optimizer, O().end_factor(-0.1)), "end_factor", "-0.1",
                     "Ending multiplicative factor expected to be between 0 and 1.");
  EXPECT_VALUE_ERROR(torchlr::LinearLR(*f.optimizer, O().end_factor(kNaN)), "end_factor", "nan");
  EXPECT_VALUE_ERROR(torchlr::LinearLR(*f.optimizer, O().total_iters(-3)), "total_iters", "-3");
}

TEST_F(Validation, ExponentialLR) {
  EXPECT_VALUE_ERROR(torchlr::ExponentialLR(*f.optimizer, torchlr::ExponentialLROptions(kNaN)),
                     "gamma", "nan");
}

TEST_F(Validation, PolynomialLR) {
  using O = torchlr::PolynomialLROptions;
  EXPECT_VALUE_ERROR(torchlr::PolynomialLR(*f.optimizer, O().total_iters(0)), "total_iters", "0");
  EXPECT_VALUE_ERROR(torchlr::PolynomialLR(*f.optimizer, O().power(-1.0)), "power", "-1");
  EXPECT_VALUE_ERROR(torchlr::PolynomialLR(*f.optimizer, O().power(kInf)), "power", "inf");
}

TEST_F(Validation, CosineAnnealingLR) {
  using O = torchlr::CosineAnnealingLROptions;
  EXPECT_VALUE_ERROR(torchlr::CosineAnnealingLR(*f.optimizer, O(0)), "T_max", "0");
  EXPECT_VALUE_ERROR(torchlr::CosineAnnealingLR(*f.optimizer, O(-4)), "T_max", "-4");
  EXPECT_VALUE_ERROR(torchlr::CosineAnnealingLR(*f.optimizer, O(4).eta_min(kNaN)), "eta_min", "nan");
}

TEST_F(Validation, CosineAnnealingWarmRestarts) {
  using O = torchlr::CosineAnnealingWarmRestartsOptions;
  EXPECT_VALUE_ERROR(torchlr::CosineAnnealingWarmRestarts(*f.optimizer, O(0)),
                     "Expected positive integer T_0, but got 0");
  EXPECT_VALUE_ERROR(torchlr::CosineAnnealingWarmRestarts(*f.optimizer, O(-3)),
                     "Expected positive integer T_0, but got -3");
  EXPECT_VALUE_ERROR(torchlr::CosineAnnealingWarmRestarts(*f.optimizer, O(3).T_mult(0)),
                     "Expected integer T_mult >= 1, but got 0");
  EXPECT_VALUE_ERROR(torchlr::CosineAnnealingWarmRestarts(*f.optimizer, O(3).eta_min(kInf)),
                     "eta_min", "inf");
}

TEST_F(Validation, CosineAnnealingWarmRestartsStepEpoch) {
  SgdFixture g({0.1});
  torchlr::CosineAnnealingWarmRestarts s(*g.optimizer,
                                         torchlr::CosineAnnealingWarmRestartsOptions(3));
  EXPECT_VALUE_ERROR(s.step(-1), "Expected non-negative epoch, but got -1");
  EXPECT_VALUE_ERROR(s.step(kNaN), "epoch", "nan");
  EXPECT_EQ(s.last_epoch(), 0);
  EXPECT_EQ(s.T_cur(), 0.0);
}

TEST_F(Validation, LambdaLists) {
  SgdFixture two({0.1, 0.2});
  const std::vector<torchlr::LrLambda> one{[](int64_t) { return 1.0; }};
  EXPECT_VALUE_ERROR(torchlr::LambdaLR(*two.optimizer, torchlr::LambdaLROptions(one)),
                     "Expected 2 lr_lambdas, but got 1");
  EXPECT_VALUE_ERROR(torchlr::MultiplicativeLR(*two.optimizer, torchlr::MultiplicativeLROptions(one)),
                     "Expected 2 lr_lambdas, but got 1");
  EXPECT_VALUE_ERROR(torchlr::LambdaLR(*f.optimizer, torchlr::LambdaLROptions(torchlr::LrLambda())),
                     "lr_lambda should be a function");
  EXPECT_VALUE_ERROR(
      torchlr::MultiplicativeLR(*f.optimizer, torchlr::MultiplicativeLROptions(torchlr::LrLambda())),
      "lr_lambda should be a function");
}

TEST_F(Validation, SequentialLR) {
  SgdFixture g({0.5});
  auto a = std::make_shared<torchlr::StepLR>(*g.optimizer, torchlr::StepLROptions(2));
  auto b = std::make_shared<torchlr::ExponentialLR>(*g.optimizer, 0.9);
  EXPECT_VALUE_ERROR(torchlr::SequentialLR(*g.optimizer, torchlr::SequentialLROptions({}, {})),
                     "expects at least one scheduler");
  EXPECT_VALUE_ERROR(torchlr::SequentialLR(*g.optimizer, torchlr::SequentialLROptions({a, b}, {})),
                     "number of schedulers 2", "number of milestones to be equal to 0");
  EXPECT_VALUE_ERROR(
      torchlr::SequentialLR(*g.optimizer, torchlr::SequentialLROptions({a, nullptr}, {3})),
      "schedulers[1] is null");
  // A child on another optimizer.
  EXPECT_VALUE_ERROR(torchlr::SequentialLR(*f.optimizer, torchlr::SequentialLROptions({a, b}, {3})),
                     "same optimizer", "StepLR", "index 0");
  EXPECT_VALUE_ERROR(a->step(0.5), "epoch", "0.5");
}

TEST_F(Validation, ChainedScheduler) {
  SgdFixture g({0.5});
  auto a = std::make_shared<torchlr::StepLR>(*g.optimizer, torchlr::StepLROptions(2));
  EXPECT_VALUE_ERROR(torchlr::ChainedScheduler(torchlr::SchedulerList{}),
                     "expects at least one scheduler");
  EXPECT_VALUE_ERROR(torchlr::ChainedScheduler(*f.optimizer, {a}), "same optimizer");
  torchlr::ChainedScheduler chain({a});
  EXPECT_VALUE_ERROR(chain.step(3), "step(epoch) is not supported");
}

}  // namespace
