// The schedules of other libraries: Hugging Face transformers', timm's and fairseq's. Every recorded
// upstream case (test/data/extra_cases.jsonl, from ../shared/reference) replayed through the
// factory: the lrs at 1e-12, upstream's refusals refused; the refusals and their messages; the
// quirks kept from upstream; exact values for what the recorded cases do not cover; checkpoints.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <torchlr/torchlr.h>

#include "helpers.h"
#include "platform.h"
#include "reference_cases.h"
#include "trace_subject.h"

namespace {

using json = nlohmann::json;
using torchlr::Config;
using torchlr::testing::RelClose;
using torchlr::testing::SgdFixture;
using torchlr::platform::kPi;
namespace tf = torchlr::transformers;
namespace fs = torchlr::fairseq;

// Where upstream raised something other than a ValueError, torchlr refuses at construction
// with its own message.
const torchlr::testing::Refusals kOtherRefusals = {
    {{"ZeroDivisionError: division by zero", "transformers.inverse_sqrt"},
     "transformers.inverse_sqrt: timescale must be positive (transformers divides by it once warmup ends), but got 0"},
    {{"TypeError: get_cosine_schedule_with_warmup() got an unexpected keyword argument 'num_warmup_step'. Did you "
      "mean 'num_warmup_steps'?",
      "transformers.cosine"},
     "scheduler: unknown key 'num_warmup_step' for transformers.cosine"},
    {{"ZeroDivisionError: float division by zero", "fairseq.tri_stage"},
     "fairseq.tri_stage: decay_steps must not be 0 (fairseq divides by it)"},
    {{"AssertionError: phase ratios must add up to 1", "fairseq.tri_stage"},
     "fairseq.tri_stage: phase ratios must add up to 1"},
    {{"AssertionError: ", "timm.CosineLRScheduler"},
     "timm.CosineLRScheduler: t_initial must be positive (timm asserts t_initial > 0), but got 0"},
    {{"AssertionError: ", "timm.PolyLRScheduler"},
     "timm.PolyLRScheduler: t_initial must be positive (timm asserts t_initial > 0), but got -3"},
    {{"AssertionError: ", "timm.TanhLRScheduler"},
     "timm.TanhLRScheduler: lb must be smaller than ub (timm asserts lb < ub), but got lb 2 and ub 1"},
    {{"ZeroDivisionError: integer division or modulo by zero", "timm.StepLRScheduler"},
     "timm.StepLRScheduler: decay_t must be positive (timm divides by it), but got 0"},
};

bool is_implemented_family(const std::string& name) {
  return name.rfind("transformers.", 0) == 0 || name.rfind("fairseq.", 0) == 0;
}

// Every case of test/data/extra_cases.jsonl (the shared reference's transformers, fairseq and
// SWALR cases, SWALR inside SequentialLR included) is replayed; none is skipped.
TEST(ExtraReference, EveryCaseMatchesUpstream) {
  const auto cases = torchlr::testing::load_cases("extra_cases.jsonl");
  int compared = 0;
  int refused = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c["id"]));
    if (torchlr::testing::replay_case(c, kOtherRefusals)) {
      ++refused;
    } else {
      ++compared;
    }
  }
  // 38 transformers and 9 fairseq cases (40 lr sequences and 7 refusals: 3 ValueErrors, whose
  // message torchlr gives, and 4 other errors, see kOtherRefusals), 4 SWALR cases, 2 SequentialLR
  // cases with SWALR, and 25 timm cases (20 lr sequences; 5 refusals: 1 ValueError, 4 others).
  EXPECT_EQ(cases.size(), 78u);
  EXPECT_EQ(compared, 66);
  EXPECT_EQ(refused, 12);
}

// ---- refusals -----------------------------------------------------------------------------------

struct Refusal {
  Config config;
  std::string fragment;
};

TEST(ExtraSchedules, BadArgumentsAreRefusedNamingThem) {
  const std::vector<Refusal> refusals{
      // transformers
      {{{"name", "transformers.cosine_annealing"}, {"num_warmup_steps", 1}, {"num_training_steps", 9}},
       "cosine_annealing is not a valid SchedulerType, please select one of ['linear', 'cosine', "
       "'cosine_with_restarts', 'polynomial', 'constant', 'constant_with_warmup', 'inverse_sqrt', "
       "'reduce_lr_on_plateau', 'cosine_with_min_lr', 'cosine_warmup_with_min_lr', 'warmup_stable_decay', "
       "'greedy']"},
      {{{"name", "transformers.linear"}, {"num_training_steps", 9}}, "missing required key 'num_warmup_steps'"},
      {{{"name", "transformers.linear"}, {"num_warmup_steps", 1}}, "missing required key 'num_training_steps'"},
      {{{"name", "transformers.constant"}, {"num_warmup_steps", 1}}, "unknown key 'num_warmup_steps'"},
      {{{"name", "transformers.polynomial"}, {"num_warmup_steps", 1}, {"num_training_steps", 9}, {"lr_end", 0.1}},
       "transformers.polynomial: lr_end (0.1) must be smaller than initial lr (0.1)"},
      {{{"name", "transformers.polynomial"}, {"num_warmup_steps", 4}, {"num_training_steps", 4}},
       "num_training_steps must differ from num_warmup_steps"},
      {{{"name", "transformers.polynomial"}, {"num_warmup_steps", 1}, {"num_training_steps", 9}, {"power", -0.5}},
       "power must be non-negative"},
      {{{"name", "transformers.inverse_sqrt"}, {"num_warmup_steps", 2}, {"timescale", -3}},
       "timescale must be positive (transformers divides by it once warmup ends), but got -3"},
      {{{"name", "transformers.inverse_sqrt"}, {"num_warmup_steps", -2}}, "num_warmup_steps must be non-negative"},
      {{{"name", "transformers.cosine_with_min_lr"},
        {"num_warmup_steps", 1},
        {"num_training_steps", 9},
        {"min_lr", 0.01},
        {"min_lr_rate", 0.1}},
       "Only one of min_lr or min_lr_rate should be set"},
      {{{"name", "transformers.cosine_warmup_with_min_lr"}, {"num_warmup_steps", 1}, {"num_training_steps", 9}},
       "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"},
      {{{"name", "transformers.warmup_stable_decay"}, {"num_warmup_steps", 1}, {"num_decay_steps", 3}},
       "Either num_training_steps or num_stable_steps must be specified."},
      {{{"name", "transformers.warmup_stable_decay"},
        {"num_warmup_steps", 1},
        {"num_decay_steps", 3},
        {"num_stable_steps", 3},
        {"warmup_type", "exp"}},
       "scheduler.warmup_type: Unknown warmup type: exp, expected 'linear', 'cosine' or '1-sqrt'"},
      {{{"name", "transformers.warmup_stable_decay"},
        {"num_warmup_steps", 1},
        {"num_decay_steps", 3},
        {"num_stable_steps", 3},
        {"decay_type", "sqrt"}},
       "scheduler.decay_type: Unknown decay type: sqrt, expected 'linear', 'cosine' or '1-sqrt'"},
      {{{"name", "transformers.greedy"}, {"factor", 1.0}}, "transformers.greedy: Factor should be < 1.0."},
      {{{"name", "transformers.greedy"}, {"factor", 0.0}}, "factor must not be 0"},
      {{{"name", "transformers.greedy"}, {"mode", "lowest"}}, "scheduler.mode: mode lowest is unknown!"},
      {{{"name", "transformers.greedy"}, {"threshold_mode", "ABS"}}, "threshold mode ABS is unknown!"},
      {{{"name", "transformers.greedy"}, {"min_lr", {0.1, 0.2, 0.3}}}, "transformers.greedy: expected 2 min_lrs, got 3"},
      {{{"name", "transformers.greedy"}, {"max_lr", {0.1}}}, "transformers.greedy: expected 2 max_lrs, got 1"},
      {{{"name", "transformers.greedy"}, {"smooth", true}, {"window_size", 0}},
       "window_size must be at least 1 when smooth is set, but got 0"},
      {{{"name", "transformers.reduce_lr_on_plateau"}, {"factor", 1.5}}, "Factor should be < 1.0."},
      // π · num_cycles · 2 · progress must stay finite at every step (else std::cos gives NaN
      // and max(0, NaN) a silent lr of 0; Python's math.cos raises).
      {{{"name", "transformers.cosine"}, {"num_warmup_steps", 1}, {"num_training_steps", 9}, {"num_cycles", 1e308}},
       "transformers.cosine: num_cycles (1e+308) is too large"},
      {{{"name", "transformers.cosine"}, {"num_warmup_steps", 1}, {"num_training_steps", 9}, {"num_cycles", -1e292}},
       "transformers.cosine: num_cycles (-1e+292) is too large"},
      {{{"name", "transformers.cosine_with_min_lr"},
        {"num_warmup_steps", 1},
        {"num_training_steps", 9},
        {"num_cycles", 1e300},
        {"min_lr_rate", 0.1}},
       "transformers.cosine_with_min_lr: num_cycles (1e+300) is too large"},
      {{{"name", "transformers.cosine_warmup_with_min_lr"},
        {"num_warmup_steps", 1},
        {"num_training_steps", 9},
        {"num_cycles", 1e300},
        {"min_lr_rate", 0.1}},
       "transformers.cosine_warmup_with_min_lr: num_cycles (1e+300) is too large"},
      {{{"name", "transformers.warmup_stable_decay"},
        {"num_warmup_steps", 1},
        {"num_decay_steps", 3},
        {"num_stable_steps", 3},
        {"num_cycles", 1e308}},
       "transformers.warmup_stable_decay: num_cycles (1e+308) is too large"},
      // fairseq
      {{{"name", "fairseq.inverse_sqrt"}, {"warmup_updates", 0}},
       "fairseq.inverse_sqrt: warmup_updates must be positive (fairseq divides by it), but got 0"},
      {{{"name", "fairseq.inverse_sqrt"}, {"lr", {0.1, 0.2}}},
       "Cannot use a fixed learning rate schedule with inverse_sqrt. Consider --lr-scheduler=fixed instead."},
      {{{"name", "fairseq.tri_stage"}, {"decay_steps", 5}, {"lr", {0.1, 0.2}}},
       "Cannot use a fixed learning rate schedule with tri-stage lr."},
      {{{"name", "fairseq.tri_stage"}}, "fairseq.tri_stage: please specify steps or phase_ratio"},
      {{{"name", "fairseq.tri_stage"}, {"warmup_steps", 3}}, "decay_steps must not be 0 (fairseq divides by it)"},
      {{{"name", "fairseq.tri_stage"}, {"decay_steps", 5}, {"final_lr_scale", 0.0}},
       "final_lr_scale must be positive (fairseq takes its logarithm), but got 0"},
      {{{"name", "fairseq.tri_stage"}, {"phase_ratio", {0.5, 0.3, 0.3}}, {"max_update", 50}},
       "phase ratios must add up to 1"},
      {{{"name", "fairseq.tri_stage"}, {"phase_ratio", {0.5, 0.5, 0.0}}, {"max_update", 50}},
       "decay_steps must not be 0 (fairseq divides by it) (from phase_ratio and max_update)"},
      {{{"name", "fairseq.tri_stage"}, {"phase_ratio", {0.1, 0.4, 0.5}}}, "max_update must be positive with phase_ratio"},
      {{{"name", "fairseq.tri_stage"}, {"phase_ratio", {0.5, 0.5}}, {"max_update", 50}},
       "phase_ratio must hold 3 numbers"},
      // Products that overflow, refused at construction rather than at the step that reaches them.
      {{{"name", "fairseq.tri_stage"}, {"decay_steps", 5}, {"lr", 1e300}, {"final_lr_scale", 1e10}},
       "fairseq.tri_stage: final_lr_scale × lr must be a finite number, but it is inf"},
      {{{"name", "fairseq.tri_stage"}, {"decay_steps", 5}, {"lr", 1e300}, {"init_lr_scale", 1e10}},
       "fairseq.tri_stage: init_lr_scale × lr must be a finite number, but it is inf"},
      {{{"name", "fairseq.tri_stage"}, {"warmup_steps", 1}, {"decay_steps", 5}, {"lr", 1.5e308}, {"init_lr_scale", -1.0}},
       "fairseq.tri_stage: (lr - init_lr_scale × lr) / warmup_steps must be a finite number, but it is inf"},
      {{{"name", "fairseq.tri_stage"}, {"decay_steps", int64_t{1} << 54}},
       "fairseq.tri_stage: decay_steps must be within ±2^53, but got 18014398509481984"},
      {{{"name", "fairseq.inverse_sqrt"}, {"warmup_updates", 4}, {"lr", 1e308}},
       "fairseq.inverse_sqrt: lr × sqrt(warmup_updates) must be a finite number, but it is inf"},
      {{{"name", "fairseq.inverse_sqrt"}, {"warmup_updates", (int64_t{1} << 53) + 1}},
       "fairseq.inverse_sqrt: warmup_updates must be within ±2^53, but got 9007199254740993"},
  };
  for (const auto& r : refusals) {
    SCOPED_TRACE(r.config.dump());
    SgdFixture f({0.1, 0.05});
    EXPECT_VALUE_ERROR(torchlr::make_scheduler(*f.optimizer, r.config), r.fragment);
    // Nothing was written.
    EXPECT_EQ(f.lr(0), 0.1);
    EXPECT_EQ(f.lr(1), 0.05);
  }
}

TEST(ExtraSchedules, TheOptimizersConstructorLrMustAllowTheDivisions) {
  // polynomial and min_lr divide by the optimizer's constructor lr; with lr 0 that is refused.
  SgdFixture f({0.0, 0.1});
  EXPECT_VALUE_ERROR((tf::PolynomialSchedule{*f.optimizer, tf::PolynomialScheduleOptions(1, 9).lr_end(-1e-3)}),
                     "the optimizer's constructor lr (initial lr) is 0");
  EXPECT_VALUE_ERROR((tf::CosineWithMinLrSchedule{*f.optimizer, tf::CosineWithMinLrScheduleOptions(1, 9).min_lr(1e-3)}),
                     "min_lr is divided by the optimizer's constructor lr, which is 0");
  // min_lr_rate needs no division.
  tf::CosineWithMinLrSchedule ok(*f.optimizer, tf::CosineWithMinLrScheduleOptions(1, 9).min_lr_rate(0.1));
  EXPECT_EQ(ok.min_lr_rate(), 0.1);
}

TEST(ExtraSchedules, TheOptimizersConstructorLrMustKeepTheDerivedNumbersFinite) {
  const double inf = std::numeric_limits<double>::infinity();
  {
    // min_lr / L overflows: the rate would make every lr after warmup NaN, which max(0, NaN)
    // turned into a silent 0.
    SgdFixture f({1e-300});
    EXPECT_VALUE_ERROR((tf::CosineWithMinLrSchedule{*f.optimizer, tf::CosineWithMinLrScheduleOptions(1, 9).min_lr(1e10)}),
                       "transformers.cosine_with_min_lr: min_lr (1e+10) divided by the optimizer's constructor lr "
                       "(1e-300) must be a finite number");
    EXPECT_VALUE_ERROR((tf::CosineWarmupWithMinLrSchedule{
                           *f.optimizer, tf::CosineWarmupWithMinLrScheduleOptions(1, 9).min_lr(1e10)}),
                       "transformers.cosine_warmup_with_min_lr: min_lr (1e+10) divided by the optimizer's "
                       "constructor lr (1e-300) must be a finite number");
    EXPECT_EQ(f.lr(), 1e-300);
  }
  {
    // polynomial divides by L: an infinite one is refused at construction, as on load.
    SgdFixture f({0.1});
    f.optimizer->defaults().set_lr(inf);
    EXPECT_VALUE_ERROR((tf::PolynomialSchedule{*f.optimizer, tf::PolynomialScheduleOptions(1, 9)}),
                       "transformers.polynomial: the optimizer's constructor lr (initial lr, lr_init) must be a "
                       "finite number, but got inf");
    // fairseq's lr is L when not given.
    EXPECT_VALUE_ERROR((fs::InverseSquareRootSchedule{*f.optimizer, fs::InverseSquareRootScheduleOptions()}),
                       "fairseq.inverse_sqrt: the optimizer's constructor lr (the lr when lr is not given) must be "
                       "a finite number, but got inf");
    EXPECT_VALUE_ERROR((fs::TriStageLRSchedule{*f.optimizer, fs::TriStageLRScheduleOptions().decay_steps(5)}),
                       "fairseq.tri_stage: the optimizer's constructor lr (the lr when lr is not given) must be a "
                       "finite number, but got inf");
    EXPECT_EQ(f.lr(), 0.1);
    // Given an lr of their own, they do not use L.
    fs::TriStageLRSchedule tri(*f.optimizer, fs::TriStageLRScheduleOptions().decay_steps(5).lr(std::vector<double>{0.2}));
    EXPECT_EQ(f.lr(), 0.2);  // step_update(0): no warmup or hold, the decay starts at lr
  }
  {
    // polynomial's lr_range = L - lr_end overflows.
    SgdFixture f({1e308});
    EXPECT_VALUE_ERROR((tf::PolynomialSchedule{*f.optimizer, tf::PolynomialScheduleOptions(1, 9).lr_end(-1e308)}),
                       "transformers.polynomial: initial lr (1e+308) - lr_end (-1e+308) must be a finite number");
  }
}

TEST(ExtraSchedules, ANumCyclesIsRefusedOnlyWhereTheCosineCouldOverflow) {
  // The cosines' progress reaches 2^54 (steps within ±2^53): π · 1e291 · 2 · 2^54 is finite.
  SgdFixture f({0.1});
  tf::CosineSchedule cosine(*f.optimizer, tf::CosineScheduleOptions(0, 10).num_cycles(1e291));
  const int64_t top = int64_t{1} << 53;
  EXPECT_GE(cosine.multiplier(top), 0.0);
  EXPECT_VALUE_ERROR((tf::CosineSchedule{*f.optimizer, tf::CosineScheduleOptions(0, 10).num_cycles(1e293)}),
                     "transformers.cosine: num_cycles (1e+293) is too large");
  // warmup_stable_decay takes the cosine only within its decay, where the progress is below 1.
  tf::WarmupStableDecaySchedule wsd(*f.optimizer, tf::WarmupStableDecayScheduleOptions(0, 4).num_stable_steps(0).num_cycles(1e300));
  for (int64_t step = 0; step < 6; ++step) EXPECT_TRUE(std::isfinite(wsd.multiplier(step))) << step;
  // cosine_with_restarts takes (num_cycles · progress) mod 1 with progress below 1: any finite
  // num_cycles is fine.
  tf::CosineWithRestartsSchedule restarts(*f.optimizer, tf::CosineWithRestartsScheduleOptions(0, 10).num_cycles(1e308));
  EXPECT_TRUE(std::isfinite(restarts.multiplier(5)));
}

TEST(ExtraSchedules, AMultiplierForAStepBeyondTwoToThe53IsRefused) {
  // multiplier() is public: a step of INT64_MIN once overflowed `t - step` (undefined behaviour).
  const int64_t top = int64_t{1} << 53;
  int checked = 0;
  for (const auto& entry : torchlr::registered_schedulers()) {
    if (entry.name.rfind("transformers.", 0) != 0 || entry.takes_metric) continue;
    SCOPED_TRACE(entry.name);
    SgdFixture f({0.1});
    auto s = torchlr::make_scheduler(*f.optimizer, entry.example);
    const auto& lambda = dynamic_cast<const tf::LambdaSchedule&>(*s);
    for (int64_t step : {std::numeric_limits<int64_t>::min(), -top - 1, top + 1, std::numeric_limits<int64_t>::max()}) {
      EXPECT_VALUE_ERROR(lambda.multiplier(step), entry.name + ": step must be within ±2^53, but got " +
                                                      std::to_string(step));
    }
    for (int64_t step : {-top, int64_t{0}, top}) EXPECT_TRUE(std::isfinite(lambda.multiplier(step))) << step;
    ++checked;
  }
  EXPECT_EQ(checked, 10);
}

TEST(ExtraSchedules, GreedyNeedsItsMetric) {
  SgdFixture f({0.1});
  auto s = torchlr::make_scheduler(*f.optimizer, Config{{"name", "transformers.greedy"}});
  EXPECT_TRUE(s->takes_metric());
  EXPECT_VALUE_ERROR(s->step_with(std::nullopt), "missing 1 required positional argument: 'metrics'");
  EXPECT_EQ(s->last_epoch(), 0);
}

TEST(ExtraSchedules, GreedyResetsWhenItsCountdownRunsOutEvenFromTheLowestInteger) {
  for (int64_t reset_start : {int64_t{1}, std::numeric_limits<int64_t>::min()}) {
    SCOPED_TRACE(reset_start);
    SgdFixture f({0.1});
    tf::GreedyLR s(*f.optimizer, tf::GreedyLROptions().patience(0).factor(0.5).min_lr(0.04).reset_start(reset_start));
    std::vector<double> lrs;
    for (double metric : {1.0, 2.0, 3.0, 4.0}) {
      f.optimizer_step();
      s.step(metric);
      lrs.push_back(f.lr());
    }
    // The first metric is an improvement (÷ 0.5); then halvings down to min_lr, where the
    // countdown runs out and everything starts over from the initial lr.
    EXPECT_EQ(lrs, (std::vector<double>{0.2, 0.1, 0.05, 0.1}));
    EXPECT_EQ(s.best(), std::numeric_limits<double>::infinity());
    EXPECT_EQ(s.reset_start(), reset_start);
  }
}

// ---- exact values the recorded cases do not cover ----------------------------------------------
//
// The expected numbers come from a small Python 3 program (no torch) implementing the formulas of
// ../shared/docs/extra-schedulers.md (section 2.2 for inverse_sqrt, 2.3 for GreedyLR), printed
// with repr(); the operations are the same, so they are compared exactly.

TEST(ExtraSchedules, GreedySmoothedMaxModeWithARelativeThresholdAndPerGroupBounds) {
  // GreedyLR(opt, mode="max", factor=0.5, patience=1, threshold=0.25, threshold_mode="rel",
  //          min_lr=[0.02, 0.01], max_lr=[0.3, 0.12], smooth=True, window_size=3)
  // Every metric and every window sum is exact in binary, so the means are Python's.
  SgdFixture f({0.1, 0.05});
  tf::GreedyLR s(*f.optimizer, tf::GreedyLROptions()
                                   .mode(torchlr::PlateauMode::max)
                                   .factor(0.5)
                                   .patience(1)
                                   .threshold(0.25)
                                   .threshold_mode(torchlr::ThresholdMode::rel)
                                   .min_lr(std::vector<double>{0.02, 0.01})
                                   .max_lr(std::vector<double>{0.3, 0.12})
                                   .smooth(true)
                                   .window_size(3));
  const std::vector<double> metrics{1.0, 2.0, 4.0, 4.0, 4.25, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 8.0, 8.0, 8.0};
  // The means of the last 3 metrics (Python's running sum divided by the window's length).
  const std::vector<double> best{1.0, 1.5, 2.3333333333333335, 3.3333333333333335,
                                 // 4.25 rises, but its mean 4.083333333333333 is not 25% above the best
                                 3.3333333333333335, 3.3333333333333335, 3.3333333333333335,
                                 3.3333333333333335, 3.3333333333333335, 3.3333333333333335,
                                 3.3333333333333335, 3.3333333333333335,
                                 // 8 is far above the best, but the mean of 1, 1, 8 only equals it
                                 3.3333333333333335, 5.666666666666667, 8.0};
  // Raised after 2 improvements (÷ 0.5), capped at max_lr; lowered after 2 others (× 0.5),
  // floored at min_lr.
  const std::vector<double> lr0{0.1, 0.2, 0.2, 0.3, 0.3, 0.15, 0.15, 0.075, 0.075, 0.0375, 0.0375, 0.02, 0.02, 0.02, 0.04};
  const std::vector<double> lr1{0.05, 0.1, 0.1, 0.12, 0.12, 0.06, 0.06, 0.03, 0.03, 0.015, 0.015, 0.01, 0.01, 0.01, 0.02};
  const std::vector<int64_t> good{1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  const std::vector<int64_t> bad{0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0};
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    SCOPED_TRACE("metric " + std::to_string(i));
    f.optimizer_step();
    s.step(metrics[i]);
    EXPECT_EQ(s.best(), best[i]);
    EXPECT_EQ(f.lr(0), lr0[i]);
    EXPECT_EQ(f.lr(1), lr1[i]);
    EXPECT_EQ(s.get_last_lr(), (std::vector<double>{lr0[i], lr1[i]}));
    EXPECT_EQ(s.num_good_epochs(), good[i]);
    EXPECT_EQ(s.num_bad_epochs(), bad[i]);
    if (i == 11) {
      EXPECT_EQ(s.reset_start(), 499);
    }
  }
  // Both groups reached their min_lr at metric 12: the reset countdown went from 500 to 499,
  // and the rise at the last metric restored it.
  EXPECT_EQ(s.reset_start(), 500);
}

TEST(ExtraSchedules, TransformersInverseSqrtDefaultsToATimescaleOf10000) {
  // get_inverse_sqrt_schedule(opt, num_warmup_steps=0): timescale = 0 or 10_000, shift = 10000,
  // m(s) = 1.0 / math.sqrt((s + shift) / timescale).
  const std::vector<std::pair<int64_t, double>> expected{
      {0, 1.0},
      {1, 0.9999500037496877},
      {5, 0.9997500937109545},
      {100, 0.9950371902099893},
      {10000, 0.7071067811865475},
      {30000, 0.5},
      {990000, 0.1},
  };
  SgdFixture f({0.3});
  auto built = torchlr::make_scheduler(*f.optimizer, Config{{"name", "transformers.inverse_sqrt"}, {"num_warmup_steps", 0}});
  const auto& s = dynamic_cast<const tf::InverseSqrtSchedule&>(*built);
  EXPECT_EQ(s.timescale(), 10000);
  EXPECT_FALSE(s.options().timescale().has_value());
  for (const auto& [step, m] : expected) EXPECT_EQ(s.multiplier(step), m) << step;
  EXPECT_EQ(f.lr(), 0.3);
  f.optimizer_step();
  built->step_with(std::nullopt);
  EXPECT_EQ(f.lr(), 0.3 * 0.9999500037496877);
}

// ---- upstream's quirks, kept ----------------------------------------------------------------------

std::vector<double> lrs_over(torchlr::LRScheduler& s, SgdFixture& f, int steps, std::size_t group = 0) {
  std::vector<double> lrs{f.lr(group)};
  for (int i = 0; i < steps; ++i) {
    f.optimizer_step();
    s.step();
    lrs.push_back(f.lr(group));
  }
  return lrs;
}

TEST(ExtraSchedules, TransformersCosineRisesAgainAfterTraining) {
  SgdFixture f({1.0});
  tf::CosineSchedule s(*f.optimizer, tf::CosineScheduleOptions(2, 10));
  const auto lrs = lrs_over(s, f, 14);
  EXPECT_EQ(lrs[0], 0.0);  // warmup starts at 0
  EXPECT_EQ(lrs[1], 0.5);
  EXPECT_EQ(lrs[2], 1.0);
  EXPECT_NEAR(lrs[10], 0.0, 1e-15);
  EXPECT_GT(lrs[14], lrs[12]);
  EXPECT_GT(lrs[12], 0.0);
  EXPECT_TRUE(RelClose(lrs[14], 0.5 * (1 + std::cos(kPi * 12.0 / 8.0))));
}

TEST(ExtraSchedules, PolynomialEndsRelativeToTheConstructorLr) {
  // Constructor lr 0.1 (group 0); group 1 starts at 0.5 and ends at 0.5 · lr_end / 0.1.
  SgdFixture f({0.1, 0.5});
  tf::PolynomialSchedule s(*f.optimizer, tf::PolynomialScheduleOptions(0, 5).lr_end(0.01));
  EXPECT_EQ(s.lr_init(), 0.1);
  const auto lrs = lrs_over(s, f, 8, 1);
  EXPECT_TRUE(RelClose(lrs[5], 0.5 * 0.01 / 0.1));
  EXPECT_TRUE(RelClose(lrs[8], 0.5 * 0.01 / 0.1));
}

TEST(ExtraSchedules, CosineWarmupWithMinLrRunsOneStepAhead) {
  SgdFixture f({0.2});
  tf::CosineWarmupWithMinLrSchedule s(*f.optimizer, tf::CosineWarmupWithMinLrScheduleOptions(0, 4).min_lr_rate(0.0));
  // Already f(1/T) at construction.
  EXPECT_TRUE(RelClose(f.lr(), 0.2 * 0.5 * (1 + std::cos(kPi * 2 * 0.5 * 0.25))));
  SgdFixture g({0.2});
  tf::CosineWarmupWithMinLrSchedule w(*g.optimizer, tf::CosineWarmupWithMinLrScheduleOptions(4, 8).min_lr_rate(0.0));
  EXPECT_TRUE(RelClose(g.lr(), 0.2 * 1.0 / 4.0));  // (step + 1) / W
}

TEST(ExtraSchedules, WarmupStableDecayTakesTheStableStepsOverTheTotalWithAWarning) {
  SgdFixture f({1.0});
  torchlr::testing::WarningCapture warnings;
  tf::WarmupStableDecaySchedule s(*f.optimizer, tf::WarmupStableDecayScheduleOptions(2, 2)
                                                    .num_training_steps(100)
                                                    .num_stable_steps(3)
                                                    .decay_type(tf::WsdShape::linear)
                                                    .min_lr_ratio(0.1));
  ASSERT_EQ(warnings.messages.size(), 1u);
  EXPECT_NE(warnings.messages[0].find("num_stable_steps will be used"), std::string::npos);
  EXPECT_EQ(s.num_stable_steps(), 3);
  const auto lrs = lrs_over(s, f, 9);
  // Warmup from min_lr_ratio: 0.1, 0.55; stable 1, 1, 1 (steps 2-4); decay 1, 0.55; then 0.1.
  const std::vector<double> expected{0.1, 0.55, 1.0, 1.0, 1.0, 1.0, 0.55, 0.1, 0.1, 0.1};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_TRUE(RelClose(lrs[i], expected[i])) << i;
}

TEST(ExtraSchedules, FairseqWritesOneLrToEveryGroup) {
  SgdFixture f({0.1, 0.7, 0.003});
  fs::InverseSquareRootSchedule s(*f.optimizer, fs::InverseSquareRootScheduleOptions().warmup_updates(4));
  // lr defaults to the optimizer's constructor lr; warmup from 0.
  EXPECT_EQ(f.lr(0), 0.0);
  for (int i = 0; i < 6; ++i) {
    f.optimizer_step();
    s.step();
    EXPECT_EQ(f.lr(0), f.lr(1));
    EXPECT_EQ(f.lr(0), f.lr(2));
  }
  EXPECT_TRUE(RelClose(f.lr(0), 0.1 * 2.0 / std::sqrt(6.0)));
  // step(num_updates) is fairseq's step_update(num_updates).
  s.step(100.0);
  EXPECT_TRUE(RelClose(f.lr(1), 0.1 * 2.0 / 10.0));
}

TEST(ExtraSchedules, TriStagePhaseRatiosSumAsPython312) {
  // 0.7 + 0.2 + 0.1 is 0.9999999999999999 added left to right; Python 3.12's sum() gives 1.
  SgdFixture f({0.1});
  fs::TriStageLRSchedule s(*f.optimizer, fs::TriStageLRScheduleOptions().phase_ratio(std::vector<double>{0.7, 0.2, 0.1}).max_update(100));
  EXPECT_EQ(s.warmup_steps(), 70);
  EXPECT_EQ(s.hold_steps(), 20);
  EXPECT_EQ(s.decay_steps(), 10);
  EXPECT_TRUE(RelClose(f.lr(), 0.1 * 0.01));  // step_update(0): init_lr_scale · lr
  f.optimizer_step();
  s.step(100.0);
  EXPECT_TRUE(RelClose(f.lr(), 0.1 * std::exp(std::log(0.01) / 10 * 10)));  // the decay's end, inclusive
  s.step(101.0);
  EXPECT_TRUE(RelClose(f.lr(), 0.1 * 0.01));
}

// ---- the C++ API and the factory agree --------------------------------------------------------------

TEST(ExtraSchedules, DirectConstructionMatchesTheFactory) {
  SgdFixture a({0.1, 0.02});
  SgdFixture b({0.1, 0.02});
  auto built = torchlr::make_scheduler(*a.optimizer, Config{{"name", "transformers.cosine_with_restarts"},
                                                            {"num_warmup_steps", 3},
                                                            {"num_training_steps", 30},
                                                            {"num_cycles", 2.5}});
  tf::CosineWithRestartsSchedule direct(*b.optimizer, tf::CosineWithRestartsScheduleOptions(3, 30).num_cycles(2.5));
  for (int i = 0; i < 35; ++i) {
    ASSERT_EQ(a.lr(0), b.lr(0)) << i;
    ASSERT_EQ(a.lr(1), b.lr(1)) << i;
    a.optimizer_step();
    built->step_with(std::nullopt);
    b.optimizer_step();
    direct.step();
  }
  // Absent arguments keep the options structs' defaults.
  auto poly = torchlr::make_scheduler(*a.optimizer, Config{{"name", "transformers.polynomial"},
                                                           {"num_warmup_steps", 1},
                                                           {"num_training_steps", 5}});
  const auto& o = dynamic_cast<tf::PolynomialSchedule&>(*poly).options();
  EXPECT_EQ(o.lr_end(), tf::PolynomialScheduleOptions(1, 5).lr_end());
  EXPECT_EQ(o.power(), tf::PolynomialScheduleOptions(1, 5).power());
}

TEST(ExtraSchedules, ATransformersScheduleServesInsideSequentialLR) {
  SgdFixture f({1.0});
  auto s = torchlr::make_scheduler(
      *f.optimizer,
      Config{{"name", "SequentialLR"},
             {"schedulers",
              {Config{{"name", "ConstantLR"}, {"factor", 0.5}, {"total_iters", 2}},
               Config{{"name", "transformers.linear"}, {"num_warmup_steps", 0}, {"num_training_steps", 4}}}},
             {"milestones", {2}}});
  std::vector<double> lrs{f.lr()};
  for (int i = 0; i < 6; ++i) {
    f.optimizer_step();
    s->step_with(std::nullopt);
    lrs.push_back(f.lr());
  }
  // The linear schedule restarts at the milestone (step(0)), as a LambdaLR would.
  const std::vector<double> expected{0.5, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_TRUE(RelClose(lrs[i], expected[i])) << i;
}

// ---- checkpoints --------------------------------------------------------------------------------

// A metric walk with plateaus, rises and falls, so GreedyLR moves in both directions.
double metric_at(int i) { return 3.0 - 0.1 * (i % 17) + 0.05 * (i % 5) + (i / 40) * 0.7; }

// A config of the same type as `config` with every option different: those it leaves at their
// defaults set, those it sets left at their defaults or set to something else. A checkpoint is
// loaded into a scheduler built from it, so an option missing from the checkpoint would keep this
// scheduler's value and the continuation would differ.
json other_options(const json& config) {
  const std::string name = config["name"];
  // GreedyLR's threshold_mode defaults to "abs", ReduceLROnPlateau's to "rel".
  const bool rel = config.value("threshold_mode", std::string(name == "transformers.greedy" ? "abs" : "rel")) == "rel";
  if (name == "transformers.linear") return {{"name", name}, {"num_warmup_steps", 5}, {"num_training_steps", 20}};
  if (name == "transformers.cosine") {
    return {{"name", name}, {"num_warmup_steps", 1}, {"num_training_steps", 30}, {"num_cycles", 1.25}};
  }
  if (name == "transformers.cosine_with_restarts") {
    return {{"name", name}, {"num_warmup_steps", 4}, {"num_training_steps", 25}, {"num_cycles", 1.5}};
  }
  if (name == "transformers.polynomial") {
    return {{"name", name}, {"num_warmup_steps", 1}, {"num_training_steps", 30}, {"lr_end", 1e-4}, {"power", 0.5}};
  }
  if (name == "transformers.constant") return {{"name", name}};  // no options: only the optimizer differs
  if (name == "transformers.constant_with_warmup") return {{"name", name}, {"num_warmup_steps", 9}};
  if (name == "transformers.inverse_sqrt") return {{"name", name}, {"num_warmup_steps", 6}};  // no timescale
  if (name == "transformers.reduce_lr_on_plateau") {
    return {{"name", name},         {"mode", "max"},          {"factor", 0.2},
            {"patience", 3},        {"threshold", 0.01},      {"threshold_mode", rel ? "abs" : "rel"},
            {"cooldown", 2},        {"min_lr", 1e-3},         {"eps", 1e-4}};
  }
  if (name == "transformers.cosine_with_min_lr") {
    // min_lr instead of min_lr_rate.
    return {{"name", name}, {"num_warmup_steps", 5}, {"num_training_steps", 20}, {"num_cycles", 1.0}, {"min_lr", 1e-3}};
  }
  if (name == "transformers.cosine_warmup_with_min_lr") {
    // min_lr instead of min_lr_rate, and no warmup_lr_rate.
    return {{"name", name}, {"num_warmup_steps", 1}, {"num_training_steps", 30}, {"num_cycles", 0.75}, {"min_lr", 2e-3}};
  }
  if (name == "transformers.warmup_stable_decay") {
    // num_stable_steps instead of num_training_steps.
    return {{"name", name},           {"num_warmup_steps", 4},  {"num_decay_steps", 7},
            {"num_stable_steps", 3},  {"warmup_type", "cosine"}, {"decay_type", "1-sqrt"},
            {"min_lr_ratio", 0.3},    {"num_cycles", 1.5}};
  }
  if (name == "transformers.greedy") {
    return {{"name", name},          {"mode", "max"},        {"factor", 0.7},
            {"patience", 2},         {"threshold", 0.05},    {"threshold_mode", rel ? "abs" : "rel"},
            {"cooldown", 3},         {"warmup", 2},          {"min_lr", {0.003, 0.002}},
            {"max_lr", 0.25},        {"eps", 1e-4},          {"smooth", !config.value("smooth", false)},
            {"window_size", 7},      {"reset_start", 9}};
  }
  if (name == "fairseq.inverse_sqrt") {
    json o{{"name", name}, {"warmup_updates", 9}, {"warmup_init_lr", config.contains("warmup_init_lr") ? -1.0 : 0.02}};
    if (!config.contains("lr")) o["lr"] = 0.7;
    return o;
  }
  if (name == "fairseq.tri_stage") {
    json o{{"name", name},         {"warmup_steps", 6},         {"hold_steps", 1},
           {"decay_steps", 9},     {"init_lr_scale", 0.2},      {"final_lr_scale", 0.3},
           {"max_update", 30}};
    if (!config.contains("phase_ratio")) o["phase_ratio"] = {0.1, 0.4, 0.5};
    if (!config.contains("lr")) o["lr"] = 0.45;
    return o;
  }
  ADD_FAILURE() << "other_options: no other options for " << name;
  return config;
}

TEST(ExtraSchedules, CheckpointsContinueExactly) {
  std::vector<json> configs;
  for (const auto& entry : torchlr::registered_schedulers()) {
    if (is_implemented_family(entry.name)) configs.push_back(json::parse(entry.example.dump()));
  }
  // The stateful ones again, with every kind of state in use.
  configs.push_back({{"name", "transformers.greedy"},
                     {"patience", 1},
                     {"cooldown", 2},
                     {"warmup", 1},
                     {"min_lr", 0.01},
                     {"max_lr", {0.5, 0.9}},
                     {"smooth", true},
                     {"window_size", 4},
                     {"reset_start", 2},
                     {"threshold_mode", "rel"}});
  configs.push_back({{"name", "fairseq.tri_stage"}, {"phase_ratio", {0.25, 0.25, 0.5}}, {"max_update", 20}, {"lr", 0.3}});
  ASSERT_EQ(configs.size(), 16u);
  const json optimizer{{"name", "Adam"}, {"lr", 0.1}, {"param_groups", json::array({json{{"lr", 0.2}}, json::object()})}};
  // The scheduler resumed into is built from other options and an optimizer whose constructor lr
  // (and so group 1's lr) differs: everything must come from the checkpoint.
  const json other_optimizer{
      {"name", "Adam"}, {"lr", 0.07}, {"param_groups", json::array({json{{"lr", 0.2}}, json::object()})}};
  auto run = [](torchlr::testing::TraceSubject& subject, int from, int to) {
    std::vector<std::vector<double>> lrs;
    for (int i = from; i < to; ++i) {
      subject.scheduler->step_with(metric_at(i));
      lrs.push_back(subject.last_lr());
    }
    return lrs;
  };
  for (const auto& config : configs) {
    const json other = other_options(config);
    {
      // The other options make a different schedule, so a continuation that used them would show.
      SCOPED_TRACE(config.dump() + " against " + other.dump());
      torchlr::testing::TraceSubject a(optimizer, config);
      torchlr::testing::TraceSubject b(other_optimizer, other);
      EXPECT_NE(run(a, 0, 85), run(b, 0, 85));
    }
    for (int k : {0, 3, 11, 25}) {
      SCOPED_TRACE(config.dump() + " saved after " + std::to_string(k) + " steps, resumed into " + other.dump());
      torchlr::testing::TraceSubject original(optimizer, config);
      for (int i = 0; i < k; ++i) original.scheduler->step_with(metric_at(i));
      const std::string checkpoint = original.save_bytes();
      torchlr::testing::TraceSubject resumed(other_optimizer, other);
      resumed.load_bytes(checkpoint);
      EXPECT_EQ(resumed.last_epoch(), original.last_epoch());
      EXPECT_EQ(resumed.last_lr(), original.last_lr());
      for (int i = k; i < k + 60; ++i) {
        original.scheduler->step_with(metric_at(i));
        resumed.scheduler->step_with(metric_at(i));
        ASSERT_EQ(resumed.last_lr(), original.last_lr()) << "step " << i;
        ASSERT_EQ(resumed.optimizer->param_groups()[1].options().get_lr(),
                  original.optimizer->param_groups()[1].options().get_lr());
      }
    }
  }
}

TEST(ExtraSchedules, ACheckpointOfOneKindDoesNotLoadIntoAnother) {
  const json optimizer{{"name", "SGD"}, {"lr", 0.1}};
  torchlr::testing::TraceSubject cosine(optimizer, json{{"name", "transformers.cosine"}, {"num_warmup_steps", 1},
                                                        {"num_training_steps", 5}});
  torchlr::testing::TraceSubject linear(optimizer, json{{"name", "transformers.linear"}, {"num_warmup_steps", 1},
                                                        {"num_training_steps", 5}});
  EXPECT_VALUE_ERROR(linear.load_bytes(cosine.save_bytes()),
                     "cannot load a checkpoint of a transformers.cosine into a transformers.linear");
}

}  // namespace
