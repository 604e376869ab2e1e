// timm's schedulers beyond the recorded cases (test_extra_schedules.cpp replays those): the two
// step calls, the quirks kept from timm, refusals naming the argument, construction that changes
// nothing when refused, noise, lr_scale, create_scheduler_v2's epoch count, checkpoints, and the
// trace format's timm keys.

#include <cmath>
#include <limits>
#include <sstream>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <torchlr/torchlr.h>

#include "helpers.h"
#include "platform.h"
#include "reference_cases.h"
#include "trace.h"
#include "trace_subject.h"

namespace {

using json = nlohmann::json;
using torchlr::testing::SgdFixture;
namespace timm = torchlr::timm;

// The shared reference has no plateau with noise, where the order "take back the last noise, step
// the rule, apply this epoch's noise" decides the numbers: cases recorded from timm's own
// plateau_lr.py (tools/reference/make_timm_plateau_cases.py), with lr_scale, warmup, cooldown,
// normal and uniform noise, and create_scheduler_v2's plateau.
TEST(TimmReference, PlateauWithNoiseMatchesTimm) {
  const auto cases = torchlr::testing::load_cases("timm_plateau_noise.jsonl");
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c["id"]));
    EXPECT_FALSE(torchlr::testing::replay_case(c, {}));
  }
}

TEST(Timm, OnlyTheCallMatchingTInEpochsActs) {
  SgdFixture f({0.1});
  timm::CosineLRScheduler per_update(*f.optimizer, timm::CosineLRSchedulerOptions(10).t_in_epochs(false));
  per_update.step(5);  // an epoch-end call: nothing for a per-update scheduler
  EXPECT_EQ(f.lr(), 0.1);
  EXPECT_EQ(per_update.last_epoch(), 0);
  per_update.step_update(5);
  EXPECT_EQ(f.lr(), 0.5 * 0.1 * (1 + std::cos(torchlr::platform::kPi * 5 / 10)));
  EXPECT_EQ(per_update.last_epoch(), 5);

  SgdFixture g({0.1});
  timm::StepLRScheduler per_epoch(*g.optimizer, timm::StepLRSchedulerOptions(2).decay_rate(0.5));
  per_epoch.step_update(7);
  EXPECT_EQ(g.lr(), 0.1);
  per_epoch.step(7);
  EXPECT_EQ(g.lr(), 0.1 * std::pow(0.5, 3.0));
  // The generic step moves t on by one in the scheduler's own unit.
  per_epoch.step_with(std::nullopt);
  EXPECT_EQ(per_epoch.last_epoch(), 8);
  EXPECT_EQ(g.lr(), 0.1 * std::pow(0.5, 4.0));
}

TEST(Timm, MultiStepDecaysOneStepBeforeTorchsMultiStepLR) {
  SgdFixture f({1.0});
  SgdFixture g({1.0});
  timm::MultiStepLRScheduler ours(*f.optimizer, timm::MultiStepLRSchedulerOptions({3, 5}).decay_rate(0.5));
  torchlr::MultiStepLR torchs(*g.optimizer, torchlr::MultiStepLROptions({3, 5}).gamma(0.5));
  std::vector<double> timm_lrs;
  std::vector<double> torch_lrs;
  for (int64_t t = 1; t <= 6; ++t) {
    ours.step(t);
    torchs.step();
    timm_lrs.push_back(f.lr());
    torch_lrs.push_back(g.lr());
  }
  EXPECT_EQ(timm_lrs, (std::vector<double>{1.0, 0.5, 0.5, 0.25, 0.25, 0.25}));
  EXPECT_EQ(torch_lrs, (std::vector<double>{1.0, 1.0, 0.5, 0.5, 0.25, 0.25}));
}

TEST(Timm, CosineWithoutPrefixJumpsAtTheEndOfWarmup) {
  // timm #1242: without warmup_prefix the cosine runs underneath the warmup, so the lr jumps from
  // almost the base lr to an already decayed value.
  SgdFixture f({1.0});
  timm::CosineLRScheduler s(*f.optimizer, timm::CosineLRSchedulerOptions(10).warmup_t(5).warmup_lr_init(0.0));
  s.step(4);
  EXPECT_EQ(f.lr(), 0.8);
  s.step(5);
  EXPECT_EQ(f.lr(), 0.5 * 1.0 * (1 + std::cos(torchlr::platform::kPi * 5 / 10)));
}

TEST(Timm, StepTakesAFractionalDecayTWithPythonsFloorDivision) {
  SgdFixture f({1.0});
  timm::StepLRScheduler s(*f.optimizer, timm::StepLRSchedulerOptions(2.5).decay_rate(0.5));
  std::vector<double> lrs;
  for (int64_t t = 0; t <= 7; ++t) {
    s.step(t);
    lrs.push_back(f.lr());
  }
  // 7 // 2.5 == 2.0 in Python.
  EXPECT_EQ(lrs, (std::vector<double>{1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25}));
}

TEST(Timm, ShrinkingCyclesAreRefusedAtTheStepWhereTheyRunOut) {
  SgdFixture f({1.0});
  // cycle_mul 0.5: the cycles add up to 10 / (1 - 0.5) = 20 steps; timm fails with a math domain
  // error at t = 20. torchlr refuses that step and writes nothing.
  timm::CosineLRScheduler s(*f.optimizer, timm::CosineLRSchedulerOptions(10).cycle_mul(0.5).cycle_limit(100));
  s.step(19);
  const double before = f.lr();
  EXPECT_VALUE_ERROR(s.step(20), "cycle_mul 0.5 < 1 the cycles end at t_initial / (1 - cycle_mul) = 20");
  EXPECT_EQ(f.lr(), before);
  EXPECT_EQ(s.last_epoch(), 19);
}

TEST(Timm, RefusalsNameTheArgument) {
  SgdFixture f({0.1, 0.2});
  using timm::CosineLRSchedulerOptions;
  EXPECT_VALUE_ERROR(timm::CosineLRScheduler(*f.optimizer, CosineLRSchedulerOptions(0)),
                     "timm.CosineLRScheduler: t_initial must be positive (timm asserts t_initial > 0), but got 0");
  EXPECT_VALUE_ERROR(timm::CosineLRScheduler(*f.optimizer, CosineLRSchedulerOptions(5).lr_min(-1e-3)),
                     "lr_min must be non-negative");
  EXPECT_VALUE_ERROR(timm::CosineLRScheduler(*f.optimizer, CosineLRSchedulerOptions(5).cycle_mul(0.0)),
                     "cycle_mul must be positive (timm takes its logarithm), but got 0");
  EXPECT_VALUE_ERROR(timm::CosineLRScheduler(*f.optimizer, CosineLRSchedulerOptions(5).k_decay(-0.5)),
                     "k_decay must be non-negative (timm raises 0 to it), but got -0.5");
  EXPECT_VALUE_ERROR(timm::CosineLRScheduler(*f.optimizer, CosineLRSchedulerOptions(5).lr_scale({1.0})),
                     "lr_scale must hold one value per param group (2), but it holds 1");
  EXPECT_VALUE_ERROR(timm::CosineLRScheduler(*f.optimizer, CosineLRSchedulerOptions(5).lr_scale({1.0, -2.0})),
                     "lr_scale must be non-negative, but got -2");
  EXPECT_VALUE_ERROR(
      timm::CosineLRScheduler(*f.optimizer, CosineLRSchedulerOptions(5).noise_range_t({2}).noise_pct(0.0)),
      "noise_pct must be positive for normal noise (timm redraws until |noise| < noise_pct), but got 0");
  EXPECT_VALUE_ERROR(timm::CosineLRScheduler(*f.optimizer, CosineLRSchedulerOptions(5).noise_range_t({1, 2, 3})),
                     "noise_range_t must be empty (no noise), one number (the start) or two (start, end)");
  EXPECT_VALUE_ERROR(timm::CosineLRScheduler(*f.optimizer, CosineLRSchedulerOptions(5).noise_seed(int64_t{1} << 60)),
                     "noise_seed must be within ±2^53");
  EXPECT_VALUE_ERROR(timm::CosineLRScheduler(*f.optimizer, CosineLRSchedulerOptions(5).warmup_t(-1)),
                     "warmup_t must be non-negative, but got -1");
  EXPECT_VALUE_ERROR(timm::TanhLRScheduler(*f.optimizer, timm::TanhLRSchedulerOptions(5).cycle_limit(-1)),
                     "cycle_limit must be non-negative (timm asserts cycle_limit >= 0), but got -1");
  EXPECT_VALUE_ERROR(timm::TanhLRScheduler(*f.optimizer, timm::TanhLRSchedulerOptions(5).lb(3.0)),
                     "lb must be smaller than ub (timm asserts lb < ub), but got lb 3 and ub 3");
  EXPECT_VALUE_ERROR(timm::StepLRScheduler(*f.optimizer, timm::StepLRSchedulerOptions(0.0)),
                     "timm.StepLRScheduler: decay_t must be positive (timm divides by it), but got 0");
  EXPECT_VALUE_ERROR(timm::PolyLRScheduler(*f.optimizer, timm::PolyLRSchedulerOptions(5).power(NAN)),
                     "timm.PolyLRScheduler: power must be a finite number");
  EXPECT_VALUE_ERROR(timm::PlateauLRScheduler(*f.optimizer, timm::PlateauLRSchedulerOptions().decay_rate(1.0)),
                     "timm.PlateauLRScheduler: Factor should be < 1.0. (decay_rate = 1)");
  EXPECT_VALUE_ERROR(timm::create_scheduler_v2(*f.optimizer, timm::CreateSchedulerV2Options().sched("cosine_annealing")),
                     "sched must be one of 'cosine', 'tanh', 'step', 'multistep', 'plateau' or 'poly', but got "
                     "'cosine_annealing'");
  EXPECT_VALUE_ERROR(timm::create_scheduler_v2(*f.optimizer, timm::CreateSchedulerV2Options().step_on_epochs(false)),
                     "updates_per_epoch must be set to number of dataloader batches");
  EXPECT_VALUE_ERROR(timm::create_scheduler_v2(*f.optimizer, timm::CreateSchedulerV2Options()
                                                                 .sched("plateau")
                                                                 .step_on_epochs(false)
                                                                 .updates_per_epoch(5)),
                     "Plateau LR only supports step per epoch");
  timm::StepLRScheduler s(*f.optimizer, timm::StepLRSchedulerOptions(2));
  EXPECT_VALUE_ERROR(s.step(-1), "timm.StepLRScheduler: epoch must be in [0, 2^53], but got -1");
}

TEST(Timm, ARefusedConstructionChangesNothing) {
  SgdFixture f({0.1, 0.2});
  // A plateau whose rule refuses: nothing was written, and no initial lr stays remembered.
  EXPECT_VALUE_ERROR(timm::PlateauLRScheduler(*f.optimizer, timm::PlateauLRSchedulerOptions()
                                                                .warmup_t(3)
                                                                .warmup_lr_init(1e-4)
                                                                .lr_scale({0.5, 0.5})
                                                                .decay_rate(2.0)),
                     "Factor should be < 1.0.");
  EXPECT_EQ(f.lr(0), 0.1);
  EXPECT_EQ(f.lr(1), 0.2);
  f.set_lr(0.3, 0);
  timm::StepLRScheduler s(*f.optimizer, timm::StepLRSchedulerOptions(2));
  EXPECT_EQ(s.base_values(), (std::vector<double>{0.3, 0.2}));
}

TEST(Timm, ANonFiniteOptimizerLrIsRefusedEvenWithAWarmup) {
  // With a warmup construction writes only warmup_lr_init, so the base value must be checked itself.
  SgdFixture f({1.0});
  f.set_lr(std::numeric_limits<double>::infinity());
  EXPECT_VALUE_ERROR(timm::CosineLRScheduler(*f.optimizer, timm::CosineLRSchedulerOptions(10).warmup_t(5).warmup_lr_init(1e-4)),
                     "the optimizer's lr (a base value) must be a finite number, but got inf");
}

TEST(Timm, AGroupAddedLaterIsRefusedNotLeftUnscheduled) {
  // timm would leave the new group's lr alone (its zip stops at the old groups), or, for the
  // plateau's noise, index past its list; torchlr refuses the step and changes nothing.
  SgdFixture f({1.0});
  timm::PlateauLRScheduler plateau(*f.optimizer, timm::PlateauLRSchedulerOptions()
                                                     .mode(torchlr::PlateauMode::min)
                                                     .noise_range_t({1})
                                                     .noise_type(timm::NoiseType::uniform));
  plateau.step(1, 1.0);
  SgdFixture g({1.0});
  timm::CosineLRScheduler cosine(*g.optimizer, timm::CosineLRSchedulerOptions(10));
  for (auto* o : {f.optimizer.get(), g.optimizer.get()}) {
    o->add_param_group(torch::optim::OptimizerParamGroup({torch::zeros({1}, torch::kDouble).requires_grad_()},
                                                         std::make_unique<torch::optim::SGDOptions>(0.5)));
  }
  const double before = f.lr(0);
  EXPECT_VALUE_ERROR(plateau.step(2, 1.0), "the optimizer has 2 param groups, but the scheduler was built for 1");
  EXPECT_EQ(f.lr(0), before);
  EXPECT_EQ(plateau.last_epoch(), 1);
  EXPECT_VALUE_ERROR(cosine.step(3), "the optimizer has 2 param groups, but the scheduler was built for 1");
  EXPECT_EQ(g.lr(0), 1.0);
  EXPECT_EQ(g.lr(1), 0.5);
}

TEST(Timm, ANegativeNoiseSeedWrapsAsTorchsManualSeed) {
  // torch's Generator.manual_seed(-5) seeds with the 64 bits of -5, as does noise_seed -5 + t.
  SgdFixture f({1.0});
  timm::CosineLRScheduler s(*f.optimizer, timm::CosineLRSchedulerOptions(10).noise_range_t({0}).noise_seed(-5));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(int64_t{-3}));
  double expected = 0;
  do {
    expected = torch::randn({1}, generator, torch::kFloat).item<float>();
  } while (std::abs(expected) >= timm::kDefaultNoisePct);
  EXPECT_EQ(s.noise_at(2), expected);
}

TEST(Timm, BaseValuesAreTheInitialLrsOfAnEarlierScheduler) {
  // timm uses group.setdefault("initial_lr", lr), shared with torch's schedulers on the optimizer.
  SgdFixture f({0.1});
  torchlr::StepLR first(*f.optimizer, torchlr::StepLROptions(1).gamma(0.5));
  f.optimizer_step();
  first.step();
  ASSERT_EQ(f.lr(), 0.05);
  timm::StepLRScheduler second(*f.optimizer, timm::StepLRSchedulerOptions(10));
  EXPECT_EQ(second.base_values(), std::vector<double>{0.1});
  EXPECT_EQ(f.lr(), 0.1);  // construction writes the base values
}

TEST(Timm, LrScaleMultipliesEveryWriteIncludingWarmupAndNoise) {
  SgdFixture f({1.0, 2.0});
  timm::CosineLRScheduler s(*f.optimizer, timm::CosineLRSchedulerOptions(10)
                                              .warmup_t(2)
                                              .warmup_lr_init(0.1)
                                              .warmup_prefix(true)
                                              .noise_range_t({4})
                                              .lr_scale({0.5, 0.25}));
  EXPECT_EQ(f.lr(0), 0.1 * 0.5);
  EXPECT_EQ(f.lr(1), 0.1 * 0.25);
  s.step(1);
  EXPECT_EQ(f.lr(0), (0.1 + 1 * ((1.0 - 0.1) / 2)) * 0.5);
  EXPECT_EQ(f.lr(1), (0.1 + 1 * ((2.0 - 0.1) / 2)) * 0.25);
  s.step(6);
  const double noise = s.noise_at(6);
  EXPECT_NE(noise, 0.0);
  EXPECT_LT(std::abs(noise), timm::kDefaultNoisePct);
  const double cosine = 0.5 * 1.0 * (1 + std::cos(torchlr::platform::kPi * 4 / 10));
  EXPECT_EQ(f.lr(0), (cosine + cosine * noise) * 0.5);
  EXPECT_EQ(s.get_last_lr()[0], f.lr(0));
}

TEST(Timm, NoiseDependsOnlyOnTheSeedAndT) {
  SgdFixture f({1.0});
  timm::CosineLRScheduler a(*f.optimizer, timm::CosineLRSchedulerOptions(50).noise_range_t({10, 20}).noise_seed(7));
  SgdFixture g({1.0});
  timm::CosineLRScheduler b(*g.optimizer, timm::CosineLRSchedulerOptions(50).noise_range_t({10, 20}).noise_seed(7));
  SgdFixture h({1.0});
  timm::CosineLRScheduler c(*h.optimizer, timm::CosineLRSchedulerOptions(50).noise_range_t({10, 20}).noise_seed(8));
  EXPECT_EQ(a.noise_at(9), 0.0);
  EXPECT_EQ(a.noise_at(20), 0.0);
  for (int64_t t = 10; t < 20; ++t) {
    EXPECT_EQ(a.noise_at(t), b.noise_at(t));
    EXPECT_NE(a.noise_at(t), c.noise_at(t));
    EXPECT_EQ(a.noise_at(t), a.noise_at(t));  // a fresh generator every time
  }
  // timm's seed for step t is noise_seed + t: seed 7 at t = 11 draws what seed 8 draws at t = 10.
  EXPECT_EQ(a.noise_at(11), c.noise_at(10));
}

TEST(Timm, PlateauTakesBackItsNoiseBeforeTheRuleLooksAtTheLr) {
  SgdFixture f({1.0});
  timm::PlateauLRScheduler s(*f.optimizer, timm::PlateauLRSchedulerOptions()
                                               .patience_t(0)
                                               .decay_rate(0.5)
                                               .mode(torchlr::PlateauMode::min)
                                               .noise_range_t({1})
                                               .noise_type(timm::NoiseType::uniform)
                                               .noise_pct(0.1));
  s.step(1, 1.0);  // the first metric is an improvement: no reduction, noise on 1.0
  const double n1 = s.noise_at(1);
  EXPECT_LT(std::abs(n1), 0.1);
  EXPECT_EQ(f.lr(), 1.0 + 1.0 * n1);
  s.step(2, 2.0);  // worse: the rule halves the noise-free lr, then this epoch's noise
  const double n2 = s.noise_at(2);
  EXPECT_EQ(f.lr(), 0.5 + 0.5 * n2);
  EXPECT_EQ(s.plateau().num_bad_epochs(), 0);
  EXPECT_VALUE_ERROR(s.step_with(std::nullopt), "needs a metric");
  // Without a metric timm's step only moves the noise.
  s.step(3);
  EXPECT_EQ(f.lr(), 0.5 + 0.5 * s.noise_at(3));
}

TEST(Timm, PlateauWarmupIncludesEpochWarmupT) {
  SgdFixture f({1.0});
  timm::PlateauLRScheduler s(*f.optimizer, timm::PlateauLRSchedulerOptions().warmup_t(4).warmup_lr_init(0.2));
  EXPECT_EQ(f.lr(), 0.2);
  s.step(4, 123.0);  // still warmup (timm: epoch <= warmup_t); the metric is ignored
  EXPECT_EQ(f.lr(), 0.2 + 4 * ((1.0 - 0.2) / 4));
  EXPECT_EQ(s.plateau().last_epoch(), 0);
  // Without warmup, step(0) writes warmup_lr_init (timm's quirk).
  SgdFixture g({1.0});
  timm::PlateauLRScheduler t(*g.optimizer, timm::PlateauLRSchedulerOptions().warmup_lr_init(0.3));
  EXPECT_EQ(g.lr(), 1.0);
  t.step(0);
  EXPECT_EQ(g.lr(), 0.3);
}

TEST(Timm, CreateSchedulerV2CountsTheEpochsToTrain) {
  auto epochs = [](const timm::CreateSchedulerV2Options& o) {
    SgdFixture f({0.1});
    return timm::create_scheduler_v2(*f.optimizer, o).num_epochs;
  };
  using O = timm::CreateSchedulerV2Options;
  EXPECT_EQ(epochs(O()), 300);
  // Two cycles of 10 and 20 epochs, the 5 warmup epochs before them, 3 cooldown epochs.
  EXPECT_EQ(epochs(O().num_epochs(10).cycle_mul(2).cycle_limit(2).warmup_epochs(5).warmup_prefix(true).cooldown_epochs(3)),
            38);
  // Without prefix the warmup is inside the cycles.
  EXPECT_EQ(epochs(O().num_epochs(10).cycle_limit(3).warmup_epochs(5)), 30);
  // Per update: counted in updates, reported in epochs.
  EXPECT_EQ(epochs(O().num_epochs(10).step_on_epochs(false).updates_per_epoch(7).cooldown_epochs(2)), 12);
  EXPECT_EQ(epochs(O().sched("step").num_epochs(40).warmup_epochs(4).warmup_prefix(true)), 44);
  EXPECT_EQ(epochs(O().sched("plateau").num_epochs(40).warmup_epochs(4)), 40);

  SgdFixture f({0.1});
  auto created = timm::create_scheduler_v2(
      *f.optimizer, O().sched("multistep").decay_milestones({2, 4}).step_on_epochs(false).updates_per_epoch(3).noise({0.5}));
  auto* multistep = dynamic_cast<timm::MultiStepLRScheduler*>(created.scheduler.get());
  ASSERT_NE(multistep, nullptr);
  EXPECT_EQ(multistep->options().decay_t(), (std::vector<int64_t>{6, 12}));
  EXPECT_FALSE(multistep->t_in_epochs());
  EXPECT_EQ(multistep->options().noise_range_t(), std::vector<double>{0.5 * 300 * 3});
  EXPECT_EQ(multistep->options().warmup_lr_init(), 1e-5);
}

// Resuming: a checkpoint continues exactly in a scheduler built with other options on an
// optimizer at other lrs (everything must come from the checkpoint), noise and plateau included.
TEST(Timm, CheckpointsContinueExactly) {
  const json optimizer{{"name", "SGD"}, {"lr", 0.1}, {"param_groups", json::array({json{{"lr", 0.2}}, json::object()})}};
  const json other_optimizer{{"name", "SGD"}, {"lr", 0.05}, {"param_groups", json::array({json{{"lr", 0.3}}, json::object()})}};
  const std::vector<std::pair<json, json>> pairs{
      {{{"name", "timm.CosineLRScheduler"}, {"t_initial", 9}, {"cycle_mul", 1.5}, {"cycle_limit", 3},
        {"cycle_decay", 0.7}, {"warmup_t", 2}, {"warmup_lr_init", 1e-3}, {"noise_range_t", {5, 30}},
        {"k_decay", 1.3}, {"lr_scale", {0.5, 2.0}}, {"t_in_epochs", false}},
       {{"name", "timm.CosineLRScheduler"}, {"t_initial", 4}}},  // t_in_epochs too must come from the checkpoint
      {{{"name", "timm.TanhLRScheduler"}, {"t_initial", 12}, {"lb", -5.0}, {"ub", 4.0}, {"warmup_t", 3},
        {"warmup_lr_init", 1e-2}, {"noise_range_t", 4}, {"noise_seed", 3}},
       {{"name", "timm.TanhLRScheduler"}, {"t_initial", 30}, {"warmup_prefix", true}}},
      {{{"name", "timm.PolyLRScheduler"}, {"t_initial", 11}, {"power", 2.0}, {"cycle_limit", 4}, {"lr_min", 1e-3}},
       {{"name", "timm.PolyLRScheduler"}, {"t_initial", 50}}},
      {{{"name", "timm.StepLRScheduler"}, {"decay_t", 2.5}, {"decay_rate", 0.8}, {"warmup_t", 2}},
       {{"name", "timm.StepLRScheduler"}, {"decay_t", 7}}},
      {{{"name", "timm.MultiStepLRScheduler"}, {"decay_t", {3, 8, 20}}, {"decay_rate", 0.5}, {"noise_range_t", {2, 9}}},
       {{"name", "timm.MultiStepLRScheduler"}, {"decay_t", {1}}}},
      {{{"name", "timm.PlateauLRScheduler"}, {"patience_t", 1}, {"cooldown_t", 1}, {"decay_rate", 0.5}, {"mode", "min"},
        {"warmup_t", 2}, {"warmup_lr_init", 1e-3}, {"noise_range_t", 3}, {"noise_type", "uniform"}, {"noise_pct", 0.2},
        {"lr_min", 1e-3}},
       {{"name", "timm.PlateauLRScheduler"}, {"patience_t", 20}}},
  };
  // Metrics that stall and improve, for the plateau.
  auto metric = [](int i) { return 1.0 / (1 + (i % 7 == 0 ? i : i / 3)); };
  auto run = [&](torchlr::testing::TraceSubject& subject, int from, int to) {
    std::vector<std::vector<double>> lrs;
    for (int i = from; i < to; ++i) {
      subject.scheduler->step_with(metric(i));
      std::vector<double> now;
      for (const auto& g : subject.optimizer->param_groups()) now.push_back(g.options().get_lr());
      lrs.push_back(now);
    }
    return lrs;
  };
  for (const auto& [config, other] : pairs) {
    {
      SCOPED_TRACE(config.dump() + " against " + other.dump());
      torchlr::testing::TraceSubject a(optimizer, config);
      torchlr::testing::TraceSubject b(other_optimizer, other);
      EXPECT_NE(run(a, 0, 40), run(b, 0, 40));
    }
    for (int k : {0, 4, 13}) {
      SCOPED_TRACE(config.dump() + " saved after " + std::to_string(k) + " steps");
      torchlr::testing::TraceSubject original(optimizer, config);
      run(original, 0, k);
      const std::string checkpoint = original.save_bytes();
      torchlr::testing::TraceSubject resumed(other_optimizer, other);
      resumed.load_bytes(checkpoint);
      EXPECT_EQ(resumed.last_epoch(), original.last_epoch());
      EXPECT_EQ(resumed.last_lr(), original.last_lr());
      EXPECT_EQ(run(resumed, k, k + 40), run(original, k, k + 40));
    }
  }
}

// Found by fuzz_checkpoint: a checkpoint whose base_values had 3 entries for a 1-group scheduler
// was refused, but the group count was then read from the half-loaded list, so putting the old
// state back failed too and the scheduler kept the damaged values.
TEST(Timm, ACheckpointWithListsOfAnotherLengthIsRefusedAndChangesNothing) {
  const json optimizer{{"name", "SGD"}, {"lr", 0.1}};
  const json three_groups{{"name", "SGD"}, {"lr", 0.1}, {"param_groups", json::array({json::object(), json::object(), json::object()})}};
  const json config{{"name", "timm.CosineLRScheduler"}, {"t_initial", 8}, {"warmup_t", 2}, {"warmup_lr_init", 1e-3}};
  torchlr::testing::TraceSubject target(optimizer, config);
  target.scheduler->step_with(std::nullopt);
  torchlr::testing::TraceSubject source(three_groups, config);
  // The source's checkpoint, with num_groups made 1 (the damage the fuzzer made).
  torch::serialize::OutputArchive damaged;
  {
    std::istringstream in(source.save_bytes());
    torch::serialize::InputArchive original;
    original.load_from(in);
    for (const auto& key : original.keys()) {
      c10::IValue value;
      original.try_read(key, value);
      damaged.write(key, key == "num_groups" ? c10::IValue(int64_t{1}) : value);
    }
  }
  std::ostringstream bytes;
  damaged.save_to(bytes);
  const std::string before = target.save_bytes();
  const double lr = target.optimizer->param_groups()[0].options().get_lr();
  EXPECT_VALUE_ERROR(target.load_bytes(bytes.str()), "do not have one value per group");
  EXPECT_EQ(target.save_bytes(), before);
  EXPECT_EQ(target.optimizer->param_groups()[0].options().get_lr(), lr);
}

TEST(Timm, ACheckpointOfOneKindDoesNotLoadIntoAnother) {
  const json optimizer{{"name", "SGD"}, {"lr", 0.1}};
  torchlr::testing::TraceSubject cosine(optimizer, json{{"name", "timm.CosineLRScheduler"}, {"t_initial", 5}});
  torchlr::testing::TraceSubject tanh(optimizer, json{{"name", "timm.TanhLRScheduler"}, {"t_initial", 5}});
  const std::vector<double> before = tanh.last_lr();
  EXPECT_VALUE_ERROR(tanh.load_bytes(cosine.save_bytes()),
                     "cannot load a checkpoint of a timm.CosineLRScheduler into a timm.TanhLRScheduler");
  EXPECT_EQ(tanh.last_lr(), before);
}

TEST(TimmTrace, LrScaleInParamGroupsIsOnlyForTimm) {
  json config{{"optimizer", {{"name", "SGD"}, {"lr", 0.1}, {"param_groups", {{{"lr", 0.2}, {"lr_scale", 0.5}}, json::object()}}}},
              {"scheduler", {{"name", "timm.StepLRScheduler"}, {"decay_t", 1}, {"decay_rate", 0.5}}},
              {"steps", 2}};
  const auto rows = torchlr::trace::TraceRun(config).run();
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0].lr, 0.2 * 0.5);
  EXPECT_EQ(rows[1].lr, 0.1);
  EXPECT_EQ(rows[4].lr, 0.2 * 0.25 * 0.5);

  config["scheduler"] = {{"name", "StepLR"}, {"step_size", 1}};
  EXPECT_VALUE_ERROR(torchlr::trace::TraceRun{config},
                     "optimizer.param_groups[0].lr_scale is only accepted for timm's schedulers (timm.*)");
  config["scheduler"] = {{"name", "timm.StepLRScheduler"}, {"decay_t", 1}, {"lr_scale", {1.0, 1.0}}};
  EXPECT_VALUE_ERROR(torchlr::trace::TraceRun{config},
                     "scheduler.lr_scale and optimizer.param_groups[].lr_scale cannot both be given");
}

TEST(TimmTrace, CallForcesOneOfTheTwoCalls) {
  json config{{"optimizer", {{"name", "SGD"}, {"lr", 1.0}}},
              {"scheduler", {{"name", "timm.StepLRScheduler"}, {"decay_t", 1}, {"decay_rate", 0.5}, {"call", "step_update"}}},
              {"steps", 3}};
  // A per-epoch scheduler called per update: nothing happens, as in timm.
  for (const auto& row : torchlr::trace::TraceRun(config).run()) EXPECT_EQ(row.lr, 1.0);
  config["scheduler"]["call"] = "step";
  EXPECT_EQ(torchlr::trace::TraceRun(config).run().back().lr, 0.125);
  config["scheduler"]["call"] = "epoch";
  EXPECT_VALUE_ERROR(torchlr::trace::TraceRun{config}, "scheduler.call must be \"step\" or \"step_update\"");
  // `call` is a trace key for timm's schedulers only.
  config["scheduler"] = {{"name", "StepLR"}, {"step_size", 1}, {"call", "step"}};
  EXPECT_VALUE_ERROR(torchlr::trace::TraceRun{config}, "unknown key 'call'");
}

TEST(TimmTrace, AOneElementNoiseRangeListIsRefused) {
  json config{{"optimizer", {{"name", "SGD"}, {"lr", 1.0}}},
              {"scheduler", {{"name", "timm.CosineLRScheduler"}, {"t_initial", 5}, {"noise_range_t", {3}}}},
              {"steps", 3}};
  EXPECT_VALUE_ERROR(torchlr::trace::TraceRun{config},
                     "scheduler.noise_range_t must be a number or a list of 2 numbers [start, end), but it has 1");
}

}  // namespace
