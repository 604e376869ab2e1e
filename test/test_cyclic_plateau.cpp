// CyclicLR, OneCycleLR and ReduceLROnPlateau against current PyTorch (semantics doc, cases
// 23-39 and 47), momentum written into the optimizer, and mid-cycle checkpoints.

#include <limits>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <torchlr/torchlr.h>

#include "helpers.h"

namespace {

using torchlr::testing::ExpectSequence;
using torchlr::testing::RelClose;
using torchlr::testing::SgdFixture;
using torchlr::testing::trajectory;

double momentum_of(const torch::optim::Optimizer& o, std::size_t g = 0) {
  return torchlr::momentum_access(o.param_groups()[g].options())->get(o.param_groups()[g].options());
}

// ---- CyclicLR (base 0.1, max 1.0, step_size_up 2) -------------------------------------------

torchlr::CyclicLROptions cyclic(torchlr::CyclicMode mode = torchlr::CyclicMode::triangular) {
  return torchlr::CyclicLROptions(0.1, 1.0).step_size_up(2).mode(mode);
}

TEST(CyclicLR, Triangular2HalvesTheAmplitude) {  // case 23
  SgdFixture f({0.1});
  torchlr::CyclicLR s(*f.optimizer, cyclic(torchlr::CyclicMode::triangular2));
  ExpectSequence(trajectory(f, s, 12),
                 {0.1, 0.55, 1.0, 0.55, 0.1, 0.325, 0.55, 0.325, 0.1, 0.2125, 0.325, 0.2125, 0.1});
}

TEST(CyclicLR, ExpRange) {  // case 24
  SgdFixture f({0.1});
  torchlr::CyclicLR s(*f.optimizer, cyclic(torchlr::CyclicMode::exp_range).gamma(0.9));
  ExpectSequence(trajectory(f, s, 8),
                 {0.1, 0.505, 0.829, 0.42805, 0.1, 0.3657205, 0.5782969, 0.315233605, 0.1});
}

TEST(CyclicLR, Asymmetric) {  // case 25
  SgdFixture f({0.1});
  torchlr::CyclicLR s(*f.optimizer, cyclic(torchlr::CyclicMode::triangular).step_size_down(1));
  ExpectSequence(trajectory(f, s, 7), {0.1, 0.55, 1.0, 0.1, 0.55, 1.0, 0.1, 0.55});
}

TEST(CyclicLR, CustomScaleFnOverIterations) {  // case 26
  SgdFixture f({0.1});
  torchlr::CyclicLR s(*f.optimizer, cyclic().scale_fn([](double) { return 0.5; }).scale_mode(torchlr::ScaleMode::iterations));
  ExpectSequence(trajectory(f, s, 4), {0.1, 0.325, 0.55, 0.325, 0.1});
}

TEST(CyclicLR, MomentumRunsInversely) {  // case 27
  SgdFixture f({0.1}, /*momentum=*/0.0);
  torchlr::CyclicLR s(*f.optimizer, cyclic(torchlr::CyclicMode::triangular));
  std::vector<double> momenta{momentum_of(*f.optimizer)};
  for (int i = 0; i < 5; ++i) {
    f.optimizer_step();
    s.step();
    momenta.push_back(momentum_of(*f.optimizer));
  }
  ExpectSequence(momenta, {0.9, 0.85, 0.8, 0.85, 0.9, 0.85});
}

TEST(CyclicLR, AdamCyclesBeta1AndKeepsBeta2) {  // case 27
  std::vector<torch::Tensor> params{torch::zeros({1}, torch::kDouble).requires_grad_()};
  torch::optim::Adam adam(params, torch::optim::AdamOptions(0.1).betas(std::make_tuple(0.5, 0.777)));
  torchlr::CyclicLR s(adam, cyclic(torchlr::CyclicMode::triangular));
  const auto& options = static_cast<const torch::optim::AdamOptions&>(adam.param_groups()[0].options());
  EXPECT_EQ(std::get<0>(options.betas()), 0.9);
  adam.step();
  s.step();
  EXPECT_TRUE(RelClose(std::get<0>(options.betas()), 0.85));
  EXPECT_EQ(std::get<1>(options.betas()), 0.777);
}

TEST(CyclicLR, OptimizerWithoutMomentumIsRefused) {  // case 27
  std::vector<torch::Tensor> params{torch::zeros({1}, torch::kDouble).requires_grad_()};
  torch::optim::Adagrad adagrad(params, torch::optim::AdagradOptions(0.5));
  EXPECT_VALUE_ERROR(torchlr::CyclicLR(adagrad, cyclic(torchlr::CyclicMode::triangular)),
                     "optimizer must support momentum or beta1 with `cycle_momentum` option enabled");
  EXPECT_EQ(adagrad.param_groups()[0].options().get_lr(), 0.5);  // untouched
  torchlr::CyclicLR without(adagrad, cyclic(torchlr::CyclicMode::triangular).cycle_momentum(false));
  EXPECT_EQ(adagrad.param_groups()[0].options().get_lr(), 0.1);
}

TEST(CyclicLR, ConstructionOverwritesLrWithBaseLr) {  // case 28
  SgdFixture f({5.0});
  torchlr::CyclicLR s(*f.optimizer, cyclic(torchlr::CyclicMode::triangular));
  EXPECT_EQ(f.lr(), 0.1);
  EXPECT_EQ(s.base_lrs(), std::vector<double>{0.1});
}

TEST(CyclicLR, BadInput) {  // case 28
  SgdFixture f({0.3, 0.4});
  EXPECT_VALUE_ERROR(torchlr::CyclicLR(*f.optimizer, torchlr::CyclicLROptions({0.1}, 1.0)),
                     "base_lr must have the same length as optimizer.param_groups. base_lr has 1 "
                     "values, param_groups has 2.");
  EXPECT_VALUE_ERROR(torchlr::CyclicLR(*f.optimizer, torchlr::CyclicLROptions(0.1, {1.0, 2.0, 3.0})),
                     "max_lr has 3 values");
  // Modes are enums; a config's string is read with PyTorch's message.
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(*f.optimizer, "CyclicLR", {{"base_lr", 0.1}, {"max_lr", 1.0}, {"mode", "sawtooth"}}),
                     "CyclicLR.mode: mode is invalid and scale_fn is None", "sawtooth");
  EXPECT_VALUE_ERROR(torchlr::CyclicLR(*f.optimizer, cyclic(torchlr::CyclicMode::triangular).step_size_up(0)),
                     "step_size_up", "0");
  EXPECT_VALUE_ERROR(torchlr::CyclicLR(*f.optimizer, cyclic(torchlr::CyclicMode::triangular).step_size_down(-1)),
                     "step_size_down", "-1");
  EXPECT_VALUE_ERROR(torchlr::CyclicLR(*f.optimizer, cyclic(torchlr::CyclicMode::triangular).max_momentum({0.9})),
                     "max_momentum has 1 values");
  EXPECT_VALUE_ERROR(
      torchlr::make_scheduler(*f.optimizer, "CyclicLR", {{"base_lr", 0.1}, {"max_lr", 1.0}, {"scale_mode", "epochs"}}),
      "scale_mode", "epochs");
  // Nothing was written by any refused construction.
  EXPECT_EQ(f.lr(0), 0.3);
  EXPECT_EQ(f.lr(1), 0.4);
  EXPECT_EQ(momentum_of(*f.optimizer), 0.9);
}

// A user's own optimizer, with its own options type, taught to torchlr.
struct HeavyBallOptions : torch::optim::OptimizerCloneableOptions<HeavyBallOptions> {
  explicit HeavyBallOptions(double lr) : lr_(lr) {}
  TORCH_ARG(double, lr);
  TORCH_ARG(double, beta) = 0.0;
  double get_lr() const override { return lr_; }
  void set_lr(const double lr) override { lr_ = lr; }
};

class HeavyBall : public torch::optim::Optimizer {
 public:
  HeavyBall(std::vector<torch::Tensor> params, HeavyBallOptions defaults)
      : Optimizer({torch::optim::OptimizerParamGroup(std::move(params))},
                  std::make_unique<HeavyBallOptions>(defaults)) {}
  torch::Tensor step(LossClosure = nullptr) override { return {}; }
};

TEST(CyclicLR, CustomOptimizerRegisteredForMomentum) {
  std::vector<torch::Tensor> params{torch::zeros({1}).requires_grad_()};
  HeavyBall optimizer(params, HeavyBallOptions(0.5));
  EXPECT_VALUE_ERROR(torchlr::CyclicLR(optimizer, cyclic(torchlr::CyclicMode::triangular)), "register_momentum");
  torchlr::register_momentum<HeavyBallOptions>([](const HeavyBallOptions& o) { return o.beta(); },
                                               [](HeavyBallOptions& o, double m) { o.beta(m); });
  torchlr::CyclicLR s(optimizer, cyclic(torchlr::CyclicMode::triangular));
  const auto& options = static_cast<const HeavyBallOptions&>(optimizer.param_groups()[0].options());
  EXPECT_EQ(options.beta(), 0.9);
  s.step();
  EXPECT_TRUE(RelClose(options.beta(), 0.85));
  EXPECT_TRUE(RelClose(options.lr(), 0.55));
}

// ---- OneCycleLR (max_lr 1.0, total_steps 10) ------------------------------------------------

TEST(OneCycleLR, Cosine) {  // case 29
  SgdFixture f({0.1});
  torchlr::OneCycleLR s(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10));
  ExpectSequence(trajectory(f, s, 10), {0.04, 0.52, 1.0, 0.950484632, 0.8117456539, 0.6112620219,
                                        0.3887419781, 0.1882583461, 0.049519368, 4e-06, 0.049519368});
  EXPECT_VALUE_ERROR(s.step(), "Tried to step 11 times. The specified number of total steps is 10");
  EXPECT_EQ(s.last_epoch(), 10);  // the refused step changed nothing
  EXPECT_TRUE(RelClose(f.lr(), 0.049519368, 1e-8));
}

TEST(OneCycleLR, LinearGoesNegativeAtTheExtraStep) {  // case 30
  SgdFixture f({0.1});
  torchlr::OneCycleLR s(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10).anneal_strategy(torchlr::AnnealStrategy::linear));
  const auto lrs = trajectory(f, s, 10);
  EXPECT_TRUE(RelClose(lrs[8], 0.1428605714, 1e-8));
  EXPECT_TRUE(RelClose(lrs[9], 4e-06, 1e-8));
  EXPECT_TRUE(RelClose(lrs[10], -0.1428525714, 1e-8));
}

TEST(OneCycleLR, ThreePhase) {  // case 31
  SgdFixture f({0.1});
  torchlr::OneCycleLR s(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10).three_phase(true));
  ExpectSequence(trajectory(f, s, 9), {0.04, 0.52, 1.0, 0.52, 0.04, 0.0361807219, 0.0261817219,
                                       0.0138222781, 0.0038232781, 4e-06},
                 /*rel=*/1e-7);  // the doc quotes 8 significant digits here
}

TEST(OneCycleLR, MomentumAndBeta1) {  // case 32
  const std::vector<double> expected{0.95, 0.9, 0.85, 0.8549515566, 0.8688255099, 0.8888739533,
                                     0.9111260467, 0.9311744901, 0.9450484434, 0.95};
  SgdFixture f({0.1});
  torchlr::OneCycleLR s(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10));
  std::vector<double> momenta{momentum_of(*f.optimizer)};
  std::vector<torch::Tensor> params{torch::zeros({1}, torch::kDouble).requires_grad_()};
  torch::optim::Adam adam(params, torch::optim::AdamOptions(0.1));
  torchlr::OneCycleLR a(adam, torchlr::OneCycleLROptions(1.0).total_steps(10));
  std::vector<double> betas{momentum_of(adam)};
  for (int i = 0; i < 9; ++i) {
    f.optimizer_step();
    s.step();
    momenta.push_back(momentum_of(*f.optimizer));
    adam.step();
    a.step();
    betas.push_back(momentum_of(adam));
  }
  ExpectSequence(momenta, expected);
  ExpectSequence(betas, expected);
}

TEST(OneCycleLR, FinalLrIsInitialOverFinalDivFactor) {  // case 33
  SgdFixture f({0.1});
  torchlr::OneCycleLR s(*f.optimizer,
                        torchlr::OneCycleLROptions(0.5).total_steps(100).div_factor(10).final_div_factor(100));
  EXPECT_EQ(s.base_lrs(), std::vector<double>{0.05});
  trajectory(f, s, 99);
  EXPECT_TRUE(RelClose(f.lr(), 0.0005));
}

TEST(OneCycleLR, DegenerateArguments) {  // case 34
  SgdFixture f({0.1});
  EXPECT_VALUE_ERROR(torchlr::OneCycleLR(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10).pct_start(0.1)),
                     "phase 1 of 2 would be zero steps long", "pct_start = 0.1", "total_steps = 10");
  EXPECT_VALUE_ERROR(
      torchlr::OneCycleLR(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10).pct_start(0.1).three_phase(true)),
      "zero steps long");
  EXPECT_VALUE_ERROR(torchlr::OneCycleLR(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10).pct_start(1.0)),
                     "phase 2 of 2 would be zero steps long");
  EXPECT_VALUE_ERROR(torchlr::OneCycleLR(*f.optimizer, torchlr::OneCycleLROptions(1.0).epochs(5)),
                     "You must define either total_steps OR (epochs AND steps_per_epoch)");
  EXPECT_VALUE_ERROR(torchlr::OneCycleLR(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(0)),
                     "Expected positive integer total_steps, but got 0");
  EXPECT_VALUE_ERROR(torchlr::OneCycleLR(*f.optimizer, torchlr::OneCycleLROptions(1.0).epochs(2).steps_per_epoch(-1)),
                     "Expected positive integer steps_per_epoch, but got -1");
  EXPECT_VALUE_ERROR(torchlr::OneCycleLR(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10).pct_start(-0.2)),
                     "Expected float between 0 and 1 pct_start, but got -0.2");
  EXPECT_VALUE_ERROR(
      torchlr::make_scheduler(*f.optimizer, "OneCycleLR", {{"max_lr", 1.0}, {"total_steps", 10}, {"anneal_strategy", "quadratic"}}),
      "anneal_strategy must be one of 'cos' or 'linear', instead got quadratic");
  EXPECT_VALUE_ERROR(torchlr::OneCycleLR(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10).div_factor(0)),
                     "div_factor");
  EXPECT_EQ(f.lr(), 0.1);
  EXPECT_EQ(momentum_of(*f.optimizer), 0.9);

  torchlr::OneCycleLR zero(*f.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(10).pct_start(0.0));
  ExpectSequence(trajectory(f, zero, 1), {0.975528356, 0.9045088792});
  SgdFixture g({0.1});
  torchlr::OneCycleLR one(*g.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(1));
  EXPECT_TRUE(RelClose(g.lr(), 4e-06));
  torchlr::OneCycleLR by_epochs(*g.optimizer, torchlr::OneCycleLROptions(1.0).epochs(4).steps_per_epoch(5));
  EXPECT_EQ(by_epochs.total_steps(), 20);
}

// ---- ReduceLROnPlateau -----------------------------------------------------------------------

TEST(ReduceLROnPlateau, PatienceCooldownAndMinLr) {  // case 35
  SgdFixture f({1.0});
  torchlr::ReduceLROnPlateau s(*f.optimizer,
                               torchlr::ReduceLROnPlateauOptions().patience(2).factor(0.5).cooldown(1).min_lr(0.2));
  EXPECT_EQ(s.get_last_lr(), std::vector<double>{1.0});  // case 39: valid before any step
  const std::vector<std::tuple<double, int64_t, int64_t>> expected{
      {1, 0, 0}, {1, 1, 0}, {1, 2, 0}, {0.5, 0, 1}, {0.5, 0, 0}, {0.5, 1, 0}, {0.5, 2, 0}, {0.25, 0, 1}};
  s.step(10);
  EXPECT_EQ(s.best(), 10);
  for (const auto& [lr, bad, cooldown] : expected) {
    s.step(9.0);
    EXPECT_EQ(f.lr(), lr);
    EXPECT_EQ(s.num_bad_epochs(), bad);
    EXPECT_EQ(s.cooldown_counter(), cooldown);
  }
  for (int i = 0; i < 4; ++i) s.step(9.0);
  EXPECT_EQ(f.lr(), 0.2);  // clamped at min_lr
}

TEST(ReduceLROnPlateau, RelativeAndAbsoluteThresholds) {  // case 36, 47
  SgdFixture f({1.0});
  torchlr::ReduceLROnPlateau rel(*f.optimizer, torchlr::ReduceLROnPlateauOptions().patience(100));
  rel.step(10);
  rel.step(9.9995);  // must be < 9.999
  EXPECT_EQ(rel.best(), 10);
  rel.step(9.99);
  EXPECT_EQ(rel.best(), 9.99);

  torchlr::ReduceLROnPlateau max_abs(
      *f.optimizer, torchlr::ReduceLROnPlateauOptions().mode(torchlr::PlateauMode::max).threshold_mode(torchlr::ThresholdMode::abs).threshold(0.5).patience(100));
  max_abs.step(1.0);
  max_abs.step(1.4);
  EXPECT_EQ(max_abs.best(), 1.0);
  // LibTorch's ReduceLROnPlateauScheduler compares against best·threshold here and says "better".
  torchlr::ReduceLROnPlateau libtorch_bug(
      *f.optimizer, torchlr::ReduceLROnPlateauOptions().mode(torchlr::PlateauMode::max).threshold_mode(torchlr::ThresholdMode::abs).threshold(0.1).patience(100));
  libtorch_bug.step(2.0);
  libtorch_bug.step(0.5);
  EXPECT_EQ(libtorch_bug.best(), 2.0);
  // Max mode starts from -inf, so a negative first metric is an improvement.
  torchlr::ReduceLROnPlateau negative(*f.optimizer, torchlr::ReduceLROnPlateauOptions().mode(torchlr::PlateauMode::max));
  negative.step(-3.0);
  EXPECT_EQ(negative.best(), -3.0);
}

TEST(ReduceLROnPlateau, EpsSkipsTinyReductions) {  // case 37
  SgdFixture f({1e-8});
  torchlr::ReduceLROnPlateau s(*f.optimizer, torchlr::ReduceLROnPlateauOptions().patience(0));
  s.step(1.0);
  s.step(2.0);
  EXPECT_EQ(f.lr(), 1e-8);
}

TEST(ReduceLROnPlateau, PerGroupMinLrAndAddedGroups) {  // case 38
  SgdFixture f({1.0, 1.0});
  torchlr::ReduceLROnPlateau s(*f.optimizer, torchlr::ReduceLROnPlateauOptions().patience(0).factor(0.1).min_lr({0.5, 0.05}));
  s.step(1.0);
  s.step(2.0);
  EXPECT_EQ(f.lr(0), 0.5);
  EXPECT_TRUE(RelClose(f.lr(1), 0.1));
  EXPECT_VALUE_ERROR(torchlr::ReduceLROnPlateau(*f.optimizer, torchlr::ReduceLROnPlateauOptions().min_lr({0.1})),
                     "expected 2 min_lrs, got 1");

  auto extra = torch::zeros({1}, torch::kDouble).requires_grad_();
  f.optimizer->add_param_group(torch::optim::OptimizerParamGroup({extra}, std::make_unique<torch::optim::SGDOptions>(1.0)));
  // The next reduction refuses, and the refused step changes nothing.
  const int64_t epoch = s.last_epoch();
  const int64_t bad = s.num_bad_epochs();
  EXPECT_VALUE_ERROR(s.step(3.0), "differs from when `ReduceLROnPlateau` was initialized");
  EXPECT_EQ(s.last_epoch(), epoch);
  EXPECT_EQ(s.num_bad_epochs(), bad);
  EXPECT_EQ(s.best(), 1.0);

  SgdFixture g({1.0});
  torchlr::ReduceLROnPlateau scalar(*g.optimizer, torchlr::ReduceLROnPlateauOptions().patience(0).factor(0.5));
  auto more = torch::zeros({1}, torch::kDouble).requires_grad_();
  g.optimizer->add_param_group(torch::optim::OptimizerParamGroup({more}, std::make_unique<torch::optim::SGDOptions>(1.0)));
  scalar.step(1.0);
  scalar.step(2.0);
  EXPECT_EQ(g.lr(0), 0.5);
  EXPECT_EQ(g.lr(1), 0.5);
  EXPECT_EQ(scalar.get_last_lr().size(), 2u);
}

TEST(ReduceLROnPlateau, BadInput) {  // case 38
  SgdFixture f({1.0});
  using O = torchlr::ReduceLROnPlateauOptions;
  EXPECT_VALUE_ERROR(torchlr::ReduceLROnPlateau(*f.optimizer, O().factor(1.0)), "Factor should be < 1.0.");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(*f.optimizer, "ReduceLROnPlateau", {{"mode", "avg"}}), "mode avg is unknown!");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(*f.optimizer, "ReduceLROnPlateau", {{"threshold_mode", "pct"}}),
                     "threshold mode pct is unknown!");
  EXPECT_VALUE_ERROR(torchlr::ReduceLROnPlateau(*f.optimizer, O().factor(std::nan(""))), "factor", "nan");
}

TEST(ReduceLROnPlateau, NonFiniteMetricsNeverImproveNorCorruptBest) {
  SgdFixture f({1.0});
  torchlr::ReduceLROnPlateau s(*f.optimizer, torchlr::ReduceLROnPlateauOptions().patience(1));
  s.step(5.0);
  for (double bad : {std::nan(""), -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()}) {
    s.step(bad);
    EXPECT_EQ(s.best(), 5.0);
  }
  EXPECT_TRUE(RelClose(f.lr(), 0.1));  // two bad epochs past patience 1: reduced once, then cooldown 0
  s.step(4.0);
  EXPECT_EQ(s.best(), 4.0);
}

// ---- checkpoints mid-cycle ------------------------------------------------------------------

template <typename Make, typename Step>
void RoundTripMidCycle(Make make, Step step_fn, int saved_after) {
  std::vector<torch::Tensor> p1{torch::zeros({1}, torch::kDouble).requires_grad_()};
  torch::optim::Adam a1(p1, torch::optim::AdamOptions(0.1));
  auto s1 = make(a1);
  for (int i = 0; i < saved_after; ++i) step_fn(*s1, i);
  std::stringstream opt_bytes, sched_bytes;
  torch::save(a1, opt_bytes);
  torch::save(*s1, sched_bytes);

  std::vector<torch::Tensor> p2{torch::zeros({1}, torch::kDouble).requires_grad_()};
  torch::optim::Adam a2(p2, torch::optim::AdamOptions(0.1));
  auto s2 = make(a2);
  torch::load(a2, opt_bytes);
  torch::load(*s2, sched_bytes);
  EXPECT_EQ(a2.param_groups()[0].options().get_lr(), a1.param_groups()[0].options().get_lr());
  EXPECT_EQ(momentum_of(a2), momentum_of(a1));
  for (int i = saved_after; i < saved_after + 12; ++i) {
    step_fn(*s1, i);
    step_fn(*s2, i);
    ASSERT_EQ(a2.param_groups()[0].options().get_lr(), a1.param_groups()[0].options().get_lr());
    ASSERT_EQ(momentum_of(a2), momentum_of(a1));
  }
}

TEST(Checkpoint, CyclicOneCycleAndPlateauContinueExactly) {
  auto step = [](auto& s, int) { s.step(); };
  for (int k : {0, 3, 5, 8}) {
    SCOPED_TRACE(k);
    RoundTripMidCycle(
        [](torch::optim::Optimizer& o) {
          return std::make_unique<torchlr::CyclicLR>(o, torchlr::CyclicLROptions(0.01, 0.3).step_size_up(3).mode(torchlr::CyclicMode::triangular2));
        },
        step, k);
    RoundTripMidCycle(
        [](torch::optim::Optimizer& o) {
          return std::make_unique<torchlr::OneCycleLR>(o, torchlr::OneCycleLROptions(0.4).total_steps(30).three_phase(true));
        },
        step, k);
    RoundTripMidCycle(
        [](torch::optim::Optimizer& o) {
          return std::make_unique<torchlr::ReduceLROnPlateau>(o, torchlr::ReduceLROnPlateauOptions().patience(1).cooldown(1));
        },
        [](torchlr::ReduceLROnPlateau& s, int i) { s.step(i % 3 == 0 ? 1.0 : 2.0 + i); }, k);
  }
}

TEST(Checkpoint, PlateauRefusesAnotherTypeAndChangesNothing) {
  SgdFixture f({1.0});
  torchlr::StepLR step(*f.optimizer, torchlr::StepLROptions(2));
  std::stringstream bytes;
  torch::save(step, bytes);
  SgdFixture g({1.0});
  torchlr::ReduceLROnPlateau plateau(*g.optimizer);
  plateau.step(3.0);
  EXPECT_VALUE_ERROR(torch::load(plateau, bytes), "cannot load a checkpoint of a StepLR into a ReduceLROnPlateau");
  EXPECT_EQ(plateau.best(), 3.0);
  EXPECT_EQ(plateau.last_epoch(), 1);
}

// A group added after construction, with a scalar min_lr: the checkpoint holds one min_lr per
// group, so it loads into a fresh plateau on the grown optimizer and back into the same object.
TEST(Checkpoint, PlateauWithAnAddedGroupRoundTrips) {
  using O = torchlr::ReduceLROnPlateauOptions;
  const O options = O().patience(0).factor(0.5).min_lr(0.2);
  SgdFixture f({1.0});
  torchlr::ReduceLROnPlateau s(*f.optimizer, options);
  auto extra = torch::zeros({1}, torch::kDouble).requires_grad_();
  f.optimizer->add_param_group(torch::optim::OptimizerParamGroup({extra}, std::make_unique<torch::optim::SGDOptions>(1.0)));
  s.step(1.0);  // an improvement: no reduction yet, so nothing has extended min_lrs
  std::stringstream bytes;
  torch::save(s, bytes);

  SgdFixture g({1.0, 1.0});
  torchlr::ReduceLROnPlateau fresh(*g.optimizer, options);
  ASSERT_NO_THROW(torch::load(fresh, bytes));
  EXPECT_EQ(fresh.last_epoch(), 1);
  EXPECT_EQ(fresh.best(), 1.0);
  for (int i = 0; i < 4; ++i) {
    s.step(2.0);
    fresh.step(2.0);
    for (std::size_t group = 0; group < 2; ++group) EXPECT_EQ(g.lr(group), f.lr(group)) << "step " << i;
  }
  EXPECT_EQ(f.lr(1), 0.2);  // floored at the scalar min_lr in the added group too

  bytes.clear();
  bytes.seekg(0);
  ASSERT_NO_THROW(torch::load(s, bytes));
  EXPECT_EQ(s.last_epoch(), 1);
  EXPECT_EQ(f.lr(0), 1.0);
  EXPECT_EQ(f.lr(1), 1.0);
}

// A per-group min_lr that no longer fits the groups cannot make a loadable checkpoint: saving
// refuses with the message the next reduction would give.
TEST(Checkpoint, PlateauWithAPerGroupMinLrThatNoLongerFitsRefusesToSave) {
  SgdFixture f({1.0});
  torchlr::ReduceLROnPlateau s(*f.optimizer, torchlr::ReduceLROnPlateauOptions().min_lr({0.1}));
  auto extra = torch::zeros({1}, torch::kDouble).requires_grad_();
  f.optimizer->add_param_group(torch::optim::OptimizerParamGroup({extra}, std::make_unique<torch::optim::SGDOptions>(1.0)));
  std::stringstream bytes;
  EXPECT_VALUE_ERROR(torch::save(s, bytes), "Please modify the `min_lrs` field");
}

}  // namespace
