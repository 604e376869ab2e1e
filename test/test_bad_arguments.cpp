// Invalid arguments, drawn at random and swept: always c10::ValueError, never a crash, a NaN or
// a changed optimizer; every non-finite number in every argument refused; steps that would
// write a non-finite lr or momentum refused, composites and constructors included.

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include <gtest/gtest.h>

#include <torchlr/torchlr.h>

#include "config_generator.h"
#include "helpers.h"
#include "property_support.h"
#include "trace.h"

namespace {

using json = nlohmann::json;
using torchlr::testing::ConfigGenerator;
using torchlr::testing::read_values;
using torchlr::testing::same_values;
using namespace torchlr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
const std::vector<double> kNonFinite{kNaN, kInf, -kInf};

// One argument of one scheduler, built with a value for that argument and valid ones elsewhere.
struct DoubleArgument {
  std::string scheduler;
  std::string argument;
  std::function<void(torch::optim::Optimizer&, double)> build;
  std::vector<double> also_invalid;  // finite values it refuses as well
};

// A per-group argument is swept both as one number and as a list with one bad element.
std::vector<double> list_with(std::size_t groups, double bad) {
  std::vector<double> values(groups, 0.5);
  values.back() = bad;
  return values;
}

std::vector<DoubleArgument> double_arguments(std::size_t groups) {
  const auto n = groups;
  std::vector<DoubleArgument> args{
      {"StepLR", "gamma", [](auto& o, double v) { StepLR{o, StepLROptions(3).gamma(v)}; }, {}},
      {"MultiStepLR", "gamma", [](auto& o, double v) { MultiStepLR{o, MultiStepLROptions({2, 4}).gamma(v)}; }, {}},
      {"ConstantLR", "factor", [](auto& o, double v) { ConstantLR{o, ConstantLROptions().factor(v)}; },
       {-0.5, 0.0, 1.5}},
      {"LinearLR", "start_factor", [](auto& o, double v) { LinearLR{o, LinearLROptions().start_factor(v)}; },
       {0.0, -0.1, 1.01}},
      {"LinearLR", "end_factor", [](auto& o, double v) { LinearLR{o, LinearLROptions().end_factor(v)}; },
       {-0.1, 1.01}},
      {"ExponentialLR", "gamma", [](auto& o, double v) { ExponentialLR{o, ExponentialLROptions(v)}; }, {}},
      {"PolynomialLR", "power", [](auto& o, double v) { PolynomialLR{o, PolynomialLROptions().power(v)}; }, {-1.0}},
      {"CosineAnnealingLR", "eta_min",
       [](auto& o, double v) { CosineAnnealingLR{o, CosineAnnealingLROptions(10).eta_min(v)}; }, {}},
      {"CosineAnnealingWarmRestarts", "eta_min",
       [](auto& o, double v) { CosineAnnealingWarmRestarts{o, CosineAnnealingWarmRestartsOptions(5).eta_min(v)}; }, {}},
      {"CyclicLR", "base_lr", [](auto& o, double v) { CyclicLR{o, CyclicLROptions(v, 0.1).cycle_momentum(false)}; }, {}},
      {"CyclicLR", "base_lr[]",
       [n](auto& o, double v) { CyclicLR{o, CyclicLROptions(list_with(n, v), 0.1).cycle_momentum(false)}; }, {}},
      {"CyclicLR", "max_lr", [](auto& o, double v) { CyclicLR{o, CyclicLROptions(0.01, v).cycle_momentum(false)}; }, {}},
      {"CyclicLR", "max_lr[]",
       [n](auto& o, double v) { CyclicLR{o, CyclicLROptions(0.01, list_with(n, v)).cycle_momentum(false)}; }, {}},
      {"CyclicLR", "gamma",
       [](auto& o, double v) { CyclicLR{o, CyclicLROptions(0.01, 0.1).mode(CyclicMode::exp_range).gamma(v).cycle_momentum(false)}; },
       {}},
      {"CyclicLR", "base_momentum", [](auto& o, double v) { CyclicLR{o, CyclicLROptions(0.01, 0.1).base_momentum(v)}; }, {}},
      {"CyclicLR", "max_momentum[]",
       [n](auto& o, double v) { CyclicLR{o, CyclicLROptions(0.01, 0.1).max_momentum(list_with(n, v))}; }, {}},
      {"OneCycleLR", "max_lr",
       [](auto& o, double v) { OneCycleLR{o, OneCycleLROptions(v).total_steps(10).cycle_momentum(false)}; }, {}},
      {"OneCycleLR", "max_lr[]",
       [n](auto& o, double v) { OneCycleLR{o, OneCycleLROptions(list_with(n, v)).total_steps(10).cycle_momentum(false)}; },
       {}},
      {"OneCycleLR", "pct_start",
       [](auto& o, double v) { OneCycleLR{o, OneCycleLROptions(0.1).total_steps(10).pct_start(v).cycle_momentum(false)}; },
       {-0.1, 1.1}},
      {"OneCycleLR", "div_factor",
       [](auto& o, double v) { OneCycleLR{o, OneCycleLROptions(0.1).total_steps(10).div_factor(v).cycle_momentum(false)}; },
       {0.0}},
      {"OneCycleLR", "final_div_factor",
       [](auto& o, double v) {
         OneCycleLR(o, OneCycleLROptions(0.1).total_steps(10).final_div_factor(v).cycle_momentum(false));
       },
       {0.0}},
      {"OneCycleLR", "base_momentum[]",
       [n](auto& o, double v) { OneCycleLR{o, OneCycleLROptions(0.1).total_steps(10).base_momentum(list_with(n, v))}; }, {}},
      {"OneCycleLR", "max_momentum",
       [](auto& o, double v) { OneCycleLR{o, OneCycleLROptions(0.1).total_steps(10).max_momentum(v)}; }, {}},
      {"ReduceLROnPlateau", "factor",
       [](auto& o, double v) { ReduceLROnPlateau{o, ReduceLROnPlateauOptions().factor(v)}; }, {1.0, 2.0}},
      {"ReduceLROnPlateau", "threshold",
       [](auto& o, double v) { ReduceLROnPlateau{o, ReduceLROnPlateauOptions().threshold(v)}; }, {}},
      {"ReduceLROnPlateau", "eps", [](auto& o, double v) { ReduceLROnPlateau{o, ReduceLROnPlateauOptions().eps(v)}; }, {}},
      {"ReduceLROnPlateau", "min_lr",
       [](auto& o, double v) { ReduceLROnPlateau{o, ReduceLROnPlateauOptions().min_lr(v)}; }, {}},
      {"ReduceLROnPlateau", "min_lr[]",
       [n](auto& o, double v) { ReduceLROnPlateau{o, ReduceLROnPlateauOptions().min_lr(list_with(n, v))}; }, {}},
      {"transformers.cosine", "num_cycles",
       [](auto& o, double v) { transformers::CosineSchedule{o, transformers::CosineScheduleOptions(2, 10).num_cycles(v)}; },
       {}},
      {"transformers.polynomial", "lr_end",
       [](auto& o, double v) {
         transformers::PolynomialSchedule{o, transformers::PolynomialScheduleOptions(2, 10).lr_end(v)};
       },
       {}},
      {"transformers.polynomial", "power",
       [](auto& o, double v) {
         transformers::PolynomialSchedule{o, transformers::PolynomialScheduleOptions(2, 10).power(v)};
       },
       {-1.0}},
      {"transformers.cosine_with_min_lr", "min_lr_rate",
       [](auto& o, double v) {
         transformers::CosineWithMinLrSchedule{o, transformers::CosineWithMinLrScheduleOptions(2, 10).min_lr_rate(v)};
       },
       {}},
      {"transformers.cosine_warmup_with_min_lr", "warmup_lr_rate",
       [](auto& o, double v) {
         transformers::CosineWarmupWithMinLrSchedule{
             o, transformers::CosineWarmupWithMinLrScheduleOptions(2, 10).min_lr_rate(0.1).warmup_lr_rate(v)};
       },
       {}},
      {"transformers.warmup_stable_decay", "min_lr_ratio",
       [](auto& o, double v) {
         transformers::WarmupStableDecaySchedule{
             o, transformers::WarmupStableDecayScheduleOptions(2, 3).num_stable_steps(4).min_lr_ratio(v)};
       },
       {}},
      {"transformers.greedy", "factor",
       [](auto& o, double v) { transformers::GreedyLR{o, transformers::GreedyLROptions().factor(v)}; }, {0.0, 1.0}},
      {"transformers.greedy", "max_lr[]",
       [n](auto& o, double v) { transformers::GreedyLR{o, transformers::GreedyLROptions().max_lr(list_with(n, v))}; },
       {}},
      {"fairseq.inverse_sqrt", "lr",
       [](auto& o, double v) {
         fairseq::InverseSquareRootSchedule{o, fairseq::InverseSquareRootScheduleOptions().lr(std::vector<double>{v})};
       },
       {}},
      {"fairseq.tri_stage", "final_lr_scale",
       [](auto& o, double v) {
         fairseq::TriStageLRSchedule{o, fairseq::TriStageLRScheduleOptions().decay_steps(5).final_lr_scale(v)};
       },
       {0.0, -0.5}},
      {"fairseq.tri_stage", "phase_ratio[]",
       [](auto& o, double v) {
         fairseq::TriStageLRSchedule{
             o, fairseq::TriStageLRScheduleOptions().phase_ratio(std::vector<double>{0.5, 0.5, v}).max_update(10)};
       },
       {0.5}},
  };
  // timm's: every floating-point argument of each scheduler (the common ones on the cosine, whose
  // base class the others share), lr_scale as a list with one bad element.
  using namespace torchlr::timm;
  auto add = [&](const char* scheduler, const char* argument, std::function<void(torch::optim::Optimizer&, double)> build,
                 std::vector<double> also_invalid = {}) {
    args.push_back({scheduler, argument, std::move(build), std::move(also_invalid)});
  };
  add("timm.CosineLRScheduler", "lr_min", [](auto& o, double v) { CosineLRScheduler{o, CosineLRSchedulerOptions(5).lr_min(v)}; }, {-1.0});
  add("timm.CosineLRScheduler", "cycle_mul", [](auto& o, double v) { CosineLRScheduler{o, CosineLRSchedulerOptions(5).cycle_mul(v)}; }, {0.0, -2.0});
  add("timm.CosineLRScheduler", "cycle_decay", [](auto& o, double v) { CosineLRScheduler{o, CosineLRSchedulerOptions(5).cycle_decay(v)}; });
  add("timm.CosineLRScheduler", "warmup_lr_init",
      [](auto& o, double v) { CosineLRScheduler{o, CosineLRSchedulerOptions(5).warmup_t(2).warmup_lr_init(v)}; }, {-1e-3});
  add("timm.CosineLRScheduler", "noise_range_t",
      [](auto& o, double v) { CosineLRScheduler{o, CosineLRSchedulerOptions(5).noise_range_t({2.0, v})}; });
  add("timm.CosineLRScheduler", "noise_pct",
      [](auto& o, double v) { CosineLRScheduler{o, CosineLRSchedulerOptions(5).noise_range_t({2.0}).noise_pct(v)}; }, {0.0});
  add("timm.CosineLRScheduler", "noise_std", [](auto& o, double v) { CosineLRScheduler{o, CosineLRSchedulerOptions(5).noise_std(v)}; });
  add("timm.CosineLRScheduler", "k_decay", [](auto& o, double v) { CosineLRScheduler{o, CosineLRSchedulerOptions(5).k_decay(v)}; }, {-0.5});
  add("timm.CosineLRScheduler", "lr_scale", [groups](auto& o, double v) {
    CosineLRScheduler{o, CosineLRSchedulerOptions(5).lr_scale(list_with(groups, v))};
  }, {-0.5});
  add("timm.TanhLRScheduler", "lb", [](auto& o, double v) { TanhLRScheduler{o, TanhLRSchedulerOptions(5).lb(v)}; }, {3.0});
  add("timm.TanhLRScheduler", "ub", [](auto& o, double v) { TanhLRScheduler{o, TanhLRSchedulerOptions(5).ub(v)}; }, {-7.0});
  add("timm.PolyLRScheduler", "power", [](auto& o, double v) { PolyLRScheduler{o, PolyLRSchedulerOptions(5).power(v)}; });
  add("timm.StepLRScheduler", "decay_t", [](auto& o, double v) { StepLRScheduler{o, StepLRSchedulerOptions(v)}; }, {0.0, -1.0});
  add("timm.StepLRScheduler", "decay_rate", [](auto& o, double v) { StepLRScheduler{o, StepLRSchedulerOptions(2).decay_rate(v)}; });
  add("timm.MultiStepLRScheduler", "decay_rate",
      [](auto& o, double v) { MultiStepLRScheduler{o, MultiStepLRSchedulerOptions({2}).decay_rate(v)}; });
  add("timm.PlateauLRScheduler", "decay_rate",
      [](auto& o, double v) { PlateauLRScheduler{o, PlateauLRSchedulerOptions().decay_rate(v)}; }, {1.0});
  add("timm.PlateauLRScheduler", "threshold", [](auto& o, double v) { PlateauLRScheduler{o, PlateauLRSchedulerOptions().threshold(v)}; });
  add("timm.PlateauLRScheduler", "lr_min", [](auto& o, double v) { PlateauLRScheduler{o, PlateauLRSchedulerOptions().lr_min(v)}; }, {-1.0});
  add("timm.create_scheduler_v2", "noise",
      [](auto& o, double v) { create_scheduler_v2(o, CreateSchedulerV2Options().noise({v})); });
  add("timm.create_scheduler_v2", "min_lr", [](auto& o, double v) { create_scheduler_v2(o, CreateSchedulerV2Options().min_lr(v)); });
  add("timm.create_scheduler_v2", "warmup_lr",
      [](auto& o, double v) { create_scheduler_v2(o, CreateSchedulerV2Options().warmup_epochs(2).warmup_lr(v)); });
  return args;
}

// An optimizer from a random config (any type but Adagrad, so momentum can be cycled).
struct RandomOptimizer {
  RandomOptimizer(ConfigGenerator& gen, std::size_t groups) {
    const std::string name = gen.pick(std::vector<std::string>{"SGD", "Adam", "AdamW", "RMSprop"});
    config = gen.optimizer(groups, name);
    optimizer = trace::make_optimizer(config, params);
  }
  json config;
  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
};

// The refusal is a c10::ValueError, the optimizer is as it was, and no trace of the attempt is
// left: a scheduler built next sees the optimizer's own lrs as its initial lrs.
::testing::AssertionResult refused_cleanly(const std::function<void()>& attempt, torch::optim::Optimizer& optimizer) {
  const auto before = read_values(optimizer);
  try {
    attempt();
    return ::testing::AssertionFailure() << "accepted";
  } catch (const c10::ValueError&) {
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw something other than c10::ValueError: " << e.what();
  }
  if (!same_values(read_values(optimizer), before)) return ::testing::AssertionFailure() << "changed the optimizer";
  for (double lr : before.lrs) {
    if (!std::isfinite(lr)) return ::testing::AssertionSuccess();  // no scheduler can be built next
  }
  StepLR next(optimizer, StepLROptions(1).gamma(1.0));
  if (next.base_lrs() != before.lrs) return ::testing::AssertionFailure() << "left an initial lr behind";
  return ::testing::AssertionSuccess();
}

TEST(BadArguments, EveryNonFiniteNumberInEveryArgumentIsRefused) {
  ConfigGenerator gen(7);
  int cases = 0;
  for (std::size_t groups : {1, 3}) {
    for (const auto& arg : double_arguments(groups)) {
      for (double bad : kNonFinite) {
        RandomOptimizer o(gen, groups);
        EXPECT_TRUE(refused_cleanly([&] { arg.build(*o.optimizer, bad); }, *o.optimizer))
            << arg.scheduler << "(" << arg.argument << "=" << bad << ") on " << o.config.dump();
        ++cases;
      }
    }
  }
  std::cout << "[ property ] " << cases << " non-finite arguments refused\n";
}

// The invalid values each argument has besides the non-finite ones, drawn at random; integers
// drawn from their whole invalid range.
TEST(BadArguments, RandomInvalidArgumentsAreRefusedWithoutATrace) {
  ConfigGenerator gen(11);
  auto negative = [&] { return gen.chance(0.2) ? std::numeric_limits<int64_t>::min() : -gen.integer(1, int64_t{1} << 62); };
  auto non_positive = [&] { return gen.chance(0.2) ? int64_t{0} : negative(); };
  auto bad_string = [&] { return gen.pick(std::vector<std::string>{"", "Min", "triangular ", "cosine", "exp", "\xff"}); };
  using Attempt = std::function<void(torch::optim::Optimizer&, std::size_t)>;
  std::vector<std::pair<std::string, std::function<Attempt()>>> makers{
      {"StepLR.step_size", [&] { auto v = non_positive(); return Attempt([v](auto& o, auto) { StepLR{o, StepLROptions(v)}; }); }},
      {"ConstantLR.total_iters",
       [&] { auto v = negative(); return Attempt([v](auto& o, auto) { ConstantLR{o, ConstantLROptions().total_iters(v)}; }); }},
      {"LinearLR.total_iters",
       [&] { auto v = negative(); return Attempt([v](auto& o, auto) { LinearLR{o, LinearLROptions().total_iters(v)}; }); }},
      {"PolynomialLR.total_iters",
       [&] { auto v = non_positive(); return Attempt([v](auto& o, auto) { PolynomialLR{o, PolynomialLROptions().total_iters(v)}; }); }},
      {"CosineAnnealingLR.T_max",
       [&] {
         auto v = gen.chance(0.5) ? non_positive() : gen.integer((int64_t{1} << 52) + 1, std::numeric_limits<int64_t>::max());
         return Attempt([v](auto& o, auto) { CosineAnnealingLR{o, CosineAnnealingLROptions(v)}; });
       }},
      {"CosineAnnealingWarmRestarts.T_0",
       [&] { auto v = non_positive(); return Attempt([v](auto& o, auto) { CosineAnnealingWarmRestarts{o, CosineAnnealingWarmRestartsOptions(v)}; }); }},
      {"CosineAnnealingWarmRestarts.T_mult",
       [&] {
         auto v = non_positive();
         return Attempt([v](auto& o, auto) { CosineAnnealingWarmRestarts{o, CosineAnnealingWarmRestartsOptions(5).T_mult(v)}; });
       }},
      {"CyclicLR.step_size_up",
       [&] { auto v = non_positive(); return Attempt([v](auto& o, auto) { CyclicLR{o, CyclicLROptions(0.01, 0.1).step_size_up(v)}; }); }},
      {"CyclicLR.step_size_down",
       [&] {
         auto v = negative();
         return Attempt([v](auto& o, auto) { CyclicLR{o, CyclicLROptions(0.01, 0.1).step_size_down(v)}; });
       }},
      // Modes are enums in C++; a config's string goes through the factory.
      {"CyclicLR.mode",
       [&] {
         auto v = bad_string();
         return Attempt([v](auto& o, auto) { make_scheduler(o, "CyclicLR", {{"base_lr", 0.01}, {"max_lr", 0.1}, {"mode", v}}); });
       }},
      {"CyclicLR.scale_mode",
       [&] {
         auto v = bad_string();
         return Attempt([v](auto& o, auto) { make_scheduler(o, "CyclicLR", {{"base_lr", 0.01}, {"max_lr", 0.1}, {"scale_mode", v}}); });
       }},
      {"CyclicLR.base_lr list length",
       [&] {
         auto extra = gen.integer(1, 3);
         return Attempt([extra](auto& o, std::size_t n) {
           CyclicLR(o, CyclicLROptions(std::vector<double>(n + static_cast<std::size_t>(extra), 0.01), 0.1));
         });
       }},
      {"OneCycleLR.total_steps",
       [&] { auto v = non_positive(); return Attempt([v](auto& o, auto) { OneCycleLR{o, OneCycleLROptions(0.1).total_steps(v)}; }); }},
      {"OneCycleLR.epochs",
       [&] {
         auto v = non_positive();
         return Attempt([v](auto& o, auto) { OneCycleLR{o, OneCycleLROptions(0.1).epochs(v).steps_per_epoch(10)}; });
       }},
      {"OneCycleLR.steps_per_epoch",
       [&] {
         auto v = non_positive();
         return Attempt([v](auto& o, auto) { OneCycleLR{o, OneCycleLROptions(0.1).epochs(3).steps_per_epoch(v)}; });
       }},
      {"OneCycleLR.epochs*steps_per_epoch overflow",
       [&] {
         auto e = gen.integer(int64_t{1} << 32, int64_t{1} << 62);
         return Attempt([e](auto& o, auto) { OneCycleLR{o, OneCycleLROptions(0.1).epochs(e).steps_per_epoch(e)}; });
       }},
      {"OneCycleLR without total_steps or epochs", [&] { return Attempt([](auto& o, auto) { OneCycleLR{o, OneCycleLROptions(0.1)}; }); }},
      {"OneCycleLR.anneal_strategy",
       [&] {
         auto v = bad_string();
         return Attempt([v](auto& o, auto) {
           make_scheduler(o, "OneCycleLR", {{"max_lr", 0.1}, {"total_steps", 10}, {"anneal_strategy", v}});
         });
       }},
      {"OneCycleLR zero-length phase",
       [&] { return Attempt([](auto& o, auto) { OneCycleLR{o, OneCycleLROptions(0.1).total_steps(10).pct_start(0.1)}; }); }},
      {"OneCycleLR initial lr overflows",
       [&] {
         auto d = gen.log_uniform(1e-300, 1e-20);
         return Attempt([d](auto& o, auto) { OneCycleLR{o, OneCycleLROptions(1e300).total_steps(10).div_factor(d)}; });
       }},
      {"CyclicLR lr overflows at construction",
       [&] { return Attempt([](auto& o, auto) { CyclicLR{o, CyclicLROptions(-1.7e308, 1.7e308).step_size_up(1).step_size_down(0)}; }); }},
      {"ReduceLROnPlateau.mode",
       [&] { auto v = bad_string(); return Attempt([v](auto& o, auto) { make_scheduler(o, "ReduceLROnPlateau", {{"mode", v}}); }); }},
      {"ReduceLROnPlateau.threshold_mode",
       [&] {
         auto v = bad_string();
         return Attempt([v](auto& o, auto) { make_scheduler(o, "ReduceLROnPlateau", {{"threshold_mode", v}}); });
       }},
      {"ReduceLROnPlateau.min_lr list length",
       [&] {
         return Attempt([](auto& o, std::size_t n) { ReduceLROnPlateau{o, ReduceLROnPlateauOptions().min_lr(std::vector<double>(n + 1, 0.0))}; });
       }},
      {"SequentialLR milestone count",
       [&] {
         auto extra = gen.integer(1, 3);
         return Attempt([extra](auto& o, auto) {
           auto child = std::make_shared<ConstantLR>(o, ConstantLROptions().factor(1.0));  // writes nothing new
           SequentialLR(o, SequentialLROptions({child}, std::vector<int64_t>(static_cast<std::size_t>(extra), 5)));
         });
       }},
      {"ChainedScheduler without children", [&] { return Attempt([](auto& o, auto) { ChainedScheduler{o, SchedulerList{}}; }); }},
      {"ChainedScheduler with a null child",
       [&] { return Attempt([](auto& o, auto) { ChainedScheduler{o, SchedulerList{nullptr}}; }); }},
  };
  std::map<std::string, int> tried;
  for (int i = 0; i < 3000; ++i) {
    const auto& [what, make] = makers[static_cast<std::size_t>(gen.integer(0, static_cast<int64_t>(makers.size()) - 1))];
    const auto groups = static_cast<std::size_t>(gen.integer(1, 4));
    RandomOptimizer o(gen, groups);
    const Attempt attempt = make();
    ASSERT_TRUE(refused_cleanly([&] { attempt(*o.optimizer, groups); }, *o.optimizer))
        << what << " (draw " << i << ") on " << o.config.dump();
    ++tried[what];
  }
  for (const auto& [what, count] : tried) EXPECT_GT(count, 0) << what;
  std::cout << "[ property ] 3000 random invalid arguments over " << tried.size() << " kinds refused\n";
}

TEST(BadArguments, NonFiniteLrInTheOptimizerIsRefusedByEverySchedulerThatReadsIt) {
  for (double bad : kNonFinite) {
    torchlr::testing::SgdFixture f({0.1, bad});
    using Build = std::function<void(torch::optim::Optimizer&)>;
    for (const Build& build : std::vector<Build>{
             [](auto& o) { StepLR{o, StepLROptions(3)}; },
             [](auto& o) { ExponentialLR{o, ExponentialLROptions(0.9)}; },
             [](auto& o) { CosineAnnealingLR{o, CosineAnnealingLROptions(5)}; },
             [](auto& o) { LinearLR{o}; },
             [](auto& o) { LambdaLR{o, LambdaLROptions([](int64_t) { return 0.0; })}; }}) {
      EXPECT_TRUE(refused_cleanly([&] { build(*f.optimizer); }, *f.optimizer)) << "lr " << bad;
    }
  }
}

TEST(BadArguments, EpochsThatAreNotFiniteIntegersWithinRangeAreRefused) {
  torchlr::testing::SgdFixture f({0.1, 0.2});
  StepLR step(*f.optimizer, StepLROptions(3));
  CosineAnnealingWarmRestarts warm(*f.optimizer, CosineAnnealingWarmRestartsOptions(3));
  for (double epoch : {kNaN, kInf, -kInf, 1.5, 1e300, 9007199254740994.0, -1e19}) {
    EXPECT_TRUE(refused_cleanly([&] { step.step(epoch); }, *f.optimizer)) << epoch;
  }
  for (double epoch : {kNaN, kInf, -kInf, -1.0, 1e300}) {
    EXPECT_TRUE(refused_cleanly([&] { warm.step(epoch); }, *f.optimizer)) << epoch;
  }
  EXPECT_EQ(step.last_epoch(), 0);
}

// A step that would write a non-finite lr or momentum is refused with everything as it was,
// also when an earlier child of a ChainedScheduler has already stepped.
TEST(RefusedSteps, OverflowingGammaThrowsAtThatStep) {
  torchlr::testing::SgdFixture f({1.0});
  ExponentialLR exp(*f.optimizer, ExponentialLROptions(1e200));
  f.optimizer_step();
  exp.step();
  EXPECT_EQ(f.lr(), 1e200);
  EXPECT_VALUE_ERROR(exp.step(), "ExponentialLR", "would become inf", "left unchanged");
  EXPECT_EQ(f.lr(), 1e200);
  EXPECT_EQ(exp.last_epoch(), 1);
  EXPECT_EQ(exp.get_last_lr().front(), 1e200);
}

TEST(RefusedSteps, ChainedSchedulerTakesBackTheChildrenThatStepped) {
  torchlr::testing::SgdFixture f({1.0, 2.0});
  auto first = std::make_shared<StepLR>(*f.optimizer, StepLROptions(1).gamma(0.5));
  auto second = std::make_shared<ExponentialLR>(*f.optimizer, ExponentialLROptions(1e200));
  ChainedScheduler chain(*f.optimizer, {first, second});
  f.optimizer_step();
  chain.step();
  const auto before = read_values(*f.optimizer);
  EXPECT_VALUE_ERROR(chain.step(), "ExponentialLR", "would become inf");
  EXPECT_TRUE(same_values(read_values(*f.optimizer), before));
  EXPECT_EQ(first->last_epoch(), 1);
  EXPECT_EQ(second->last_epoch(), 1);
  EXPECT_EQ(chain.last_epoch(), 1);
  EXPECT_EQ(first->get_last_lr(), (std::vector<double>{0.5, 1.0}));  // what it wrote before ExponentialLR
  // With the offending child's lr brought back into range, the chain goes on as if nothing happened.
  second->optimizer().param_groups()[0].options().set_lr(1e-300);
  second->optimizer().param_groups()[1].options().set_lr(1e-300);
  chain.step();
  EXPECT_EQ(first->last_epoch(), 2);
  EXPECT_EQ(f.lr(), 0.5e-300 * 1e200);
}

TEST(RefusedSteps, ChainedSchedulerRestoresCycledMomentumWhenOneCycleEnds) {
  torchlr::testing::SgdFixture f({0.1});
  auto cyclic = std::make_shared<CyclicLR>(*f.optimizer, CyclicLROptions(0.01, 0.1).step_size_up(2));
  auto one_cycle = std::make_shared<OneCycleLR>(*f.optimizer, OneCycleLROptions(0.1).total_steps(3).cycle_momentum(false));
  ChainedScheduler chain(*f.optimizer, {cyclic, one_cycle});
  for (int i = 0; i < 3; ++i) {
    f.optimizer_step();
    chain.step();
  }
  const auto before = read_values(*f.optimizer);
  EXPECT_VALUE_ERROR(chain.step(), "OneCycleLR: Tried to step 4 times");
  EXPECT_TRUE(same_values(read_values(*f.optimizer), before));
  EXPECT_EQ(cyclic->last_epoch(), 3);
}

TEST(RefusedSteps, OneCycleMomentumThatWouldOverflowIsRefusedAtConstruction) {
  torchlr::testing::SgdFixture f({0.1, 0.2}, 0.3);
  // Construction writes max_momentum first (as PyTorch); the anneal from it overflows, so the
  // initial step is refused and the momentum written before it is taken back.
  EXPECT_TRUE(refused_cleanly(
      [&] { OneCycleLR{*f.optimizer, OneCycleLROptions(0.1).total_steps(10).base_momentum(-1.5e308).max_momentum(1.5e308)}; },
      *f.optimizer));
  EXPECT_VALUE_ERROR(
      (OneCycleLR{*f.optimizer, OneCycleLROptions(0.1).total_steps(10).base_momentum(-1.5e308).max_momentum(1.5e308)}),
      "OneCycleLR: the momentum of param group 0 would become");
}

}  // namespace
