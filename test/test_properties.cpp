// Property tests over thousands of random valid configs per scheduler (fixed seeds): every lr
// and momentum stays finite or the step is refused with the optimizer untouched; a checkpoint
// taken at a random step and loaded into a fresh scheduler continues bit for bit; composites of
// random depth behave the same. The invalid-argument properties are in test_bad_arguments.cpp.

#include <cctype>
#include <cstring>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <torchlr/torchlr.h>

#include "config_generator.h"
#include "property_support.h"
#include "trace_subject.h"

namespace {

using json = nlohmann::json;
using torchlr::testing::ConfigGenerator;
using torchlr::testing::OptimizerValues;
using torchlr::testing::read_values;
using torchlr::testing::same_bits;

constexpr int kConfigs = torchlr::testing::kPropertyConfigs;

// One step of a run: step(), step(epoch), or a plateau step on a metric.
struct Action {
  enum Kind { plain, epoch, metric } kind;
  double value;
};

// Applies one action to the subject's scheduler.
void apply(torchlr::testing::TraceSubject& s, const Action& a) {
  switch (a.kind) {
    case Action::plain: s.scheduler->step_with(std::nullopt); break;
    case Action::epoch:
      // timm's schedulers take an absolute t in the call that matches their unit.
      if (auto* timm = dynamic_cast<torchlr::timm::Scheduler*>(s.scheduler.get())) {
        const auto t = static_cast<int64_t>(a.value);
        if (timm->t_in_epochs()) {
          timm->step(t);
        } else {
          timm->step_update(t);
        }
      } else {
        s.lr_scheduler().step(a.value);
      }
      break;
    case Action::metric: s.scheduler->step_with(a.value); break;
  }
}

// A subject built from one whole config.
torchlr::testing::TraceSubject subject_of(const json& config) {
  return torchlr::testing::TraceSubject(config.at("optimizer"), config.at("scheduler"));
}

// What a run saw after construction and after each step.
struct State {
  OptimizerValues values;
  std::vector<double> last_lr;
  int64_t last_epoch;
};

State state_of(const torchlr::testing::TraceSubject& s) { return {read_values(*s.optimizer), s.last_lr(), s.last_epoch()}; }

::testing::AssertionResult same_state(const State& a, const State& b, const char* what, std::size_t step) {
  if (same_bits(a.values.lrs, b.values.lrs) && same_bits(a.values.momenta, b.values.momenta) &&
      same_bits(a.last_lr, b.last_lr) && a.last_epoch == b.last_epoch) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << what << " at step " << step << ": lr "
                                       << a.values.lrs.front() << " vs " << b.values.lrs.front()
                                       << ", last_epoch " << a.last_epoch << " vs " << b.last_epoch;
}

// Counts, summed over a test, for the report (docs/reliability.md).
struct Tally {
  int configs = 0;
  int64_t steps = 0;
  int refused_steps = 0;
  int resumed = 0;
};

// The whole property for one config: finite or refused-and-untouched at every step, and a
// checkpoint at `resume_at` continues bit for bit in a fresh optimizer and scheduler.
::testing::AssertionResult check_run(const json& config, const std::vector<Action>& actions,
                                     std::size_t resume_at, Tally& tally) {
  try {
    auto run = subject_of(config);
    std::vector<State> seen{state_of(run)};
    std::string checkpoint = resume_at == 0 ? run.save_bytes() : std::string();
    std::optional<std::size_t> refused;
    for (std::size_t i = 0; i < actions.size(); ++i) {
      const State before = state_of(run);
      try {
        apply(run, actions[i]);
      } catch (const c10::ValueError&) {
        auto same = same_state(state_of(run), before, "a refused step changed something", i + 1);
        if (!same) return same;
        refused = i;
        ++tally.refused_steps;
        break;
      }
      ++tally.steps;
      State after = state_of(run);
      for (std::size_t g = 0; g < after.values.lrs.size(); ++g) {
        if (!std::isfinite(after.values.lrs[g]) ||
            (after.values.has_momentum[g] && !std::isfinite(after.values.momenta[g]))) {
          return ::testing::AssertionFailure() << "non-finite lr or momentum written at step " << i + 1;
        }
      }
      if (!same_bits(after.last_lr, after.values.lrs)) {
        return ::testing::AssertionFailure() << "get_last_lr() differs from the optimizer at step " << i + 1;
      }
      seen.push_back(std::move(after));
      if (i + 1 == resume_at) checkpoint = run.save_bytes();
    }
    if (checkpoint.empty()) return ::testing::AssertionSuccess();  // refused before resume_at

    auto resumed = subject_of(config);
    resumed.load_bytes(checkpoint);
    ++tally.resumed;
    auto same = same_state(state_of(resumed), seen[resume_at], "the loaded state differs", resume_at);
    if (!same) return same;
    for (std::size_t i = resume_at; i < actions.size(); ++i) {
      if (refused && i == *refused) {
        const State before = state_of(resumed);
        try {
          apply(resumed, actions[i]);
        } catch (const c10::ValueError&) {
          return same_state(state_of(resumed), before, "the resumed run's refused step changed something", i + 1);
        }
        return ::testing::AssertionFailure() << "the uninterrupted run refused step " << i + 1
                                             << " but the resumed one took it";
      }
      apply(resumed, actions[i]);
      same = same_state(state_of(resumed), seen[i + 1], "the resumed run differs", i + 1);
      if (!same) return same;
    }
    return ::testing::AssertionSuccess();
  } catch (const c10::Error& e) {
    return ::testing::AssertionFailure() << "unexpected exception: " << e.what_without_backtrace();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "unexpected exception: " << e.what();
  }
}

std::vector<Action> actions_for(const json& scheduler, int64_t steps, ConfigGenerator& gen) {
  const std::string name = scheduler.at("name");
  const auto entry = torchlr::find_scheduler(name);
  std::vector<Action> actions;
  if (entry->takes_metric) {
    double level = gen.uniform(-5.0, 5.0);
    for (int64_t i = 0; i < steps; ++i) actions.push_back({Action::metric, gen.metric(level)});
    return actions;
  }
  const bool fractional = entry->fractional_epochs && gen.chance(0.3);
  const bool jumps = !entry->composite && name != "OneCycleLR" && gen.chance(0.2);
  double epoch = 0.0;
  for (int64_t i = 0; i < steps; ++i) {
    if (fractional) {
      // Mostly forward by a fraction of an epoch, sometimes back to an earlier one.
      epoch = gen.chance(0.1) ? gen.uniform(0.0, epoch) : epoch + gen.uniform(0.0, 1.5);
      actions.push_back({Action::epoch, epoch});
    } else if (jumps && gen.chance(0.15)) {
      actions.push_back({Action::epoch, static_cast<double>(gen.integer(0, 70))});
    } else {
      actions.push_back({Action::plain, 0.0});
    }
  }
  return actions;
}

uint64_t seed_of(const std::string& name) { return std::hash<std::string>{}(name) % 100000; }

// A scheduler's name as a test name: GoogleTest takes letters, digits and '_' only
// (`transformers.linear` becomes `transformers_linear`).
std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

// Draws kConfigs configs from `make` and checks each; the message names the seed and config.
template <typename Make>
void check_many(const std::string& label, Make make) {
  Tally tally;
  for (int i = 0; i < kConfigs; ++i) {
    const uint64_t seed = seed_of(label) * 1000003 + static_cast<uint64_t>(i);
    ConfigGenerator gen(seed);
    int64_t steps = gen.integer(0, 60);
    const std::size_t groups = static_cast<std::size_t>(gen.integer(1, 4));
    const std::string optimizer = gen.pick(std::vector<std::string>{"SGD", "Adam", "AdamW", "RMSprop", "Adagrad"});
    json config{{"optimizer", gen.optimizer(groups, optimizer, ConfigGenerator::needs_nonzero_constructor_lr(label))}};
    config["scheduler"] = make(gen, groups, optimizer, steps);
    const auto actions = actions_for(config["scheduler"], steps, gen);
    const auto resume_at = static_cast<std::size_t>(gen.integer(0, steps));
    ++tally.configs;
    ASSERT_TRUE(check_run(config, actions, resume_at, tally))
        << "seed " << seed << ", resume at " << resume_at << ", config " << config.dump();
  }
  std::cout << "[ property ] " << label << ": " << tally.configs << " configs, " << tally.steps
            << " steps, " << tally.refused_steps << " refused steps, " << tally.resumed
            << " resumed from a checkpoint\n";
}

class EveryScheduler : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryScheduler, FiniteOrRefusedAndResumesBitForBit) {
  const std::string name = GetParam();
  check_many(name, [&](ConfigGenerator& gen, std::size_t groups, const std::string& optimizer, int64_t& steps) {
    return gen.leaf(name, groups, optimizer, steps);
  });
}

INSTANTIATE_TEST_SUITE_P(Properties, EveryScheduler,
                         ::testing::ValuesIn(ConfigGenerator::leaf_names()),
                         test_name);

class EveryMetricScheduler : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryMetricScheduler, FiniteAndResumesBitForBit) {
  const std::string name = GetParam();
  check_many(name, [&](ConfigGenerator& gen, std::size_t groups, const std::string&, int64_t&) {
    return gen.metric_scheduler(name, groups);
  });
}

INSTANTIATE_TEST_SUITE_P(Properties, EveryMetricScheduler,
                         ::testing::ValuesIn(ConfigGenerator::metric_names()),
                         test_name);

TEST(Properties, NestedCompositesOfRandomDepth) {
  check_many("Composite", [](ConfigGenerator& gen, std::size_t groups, const std::string& optimizer, int64_t& steps) {
    return gen.composite(static_cast<int>(gen.integer(1, 4)), groups, optimizer, steps);
  });
}

// LambdaLR and MultiplicativeLR take functions, which a config cannot hold: the same properties
// with functions drawn from a few families, each with random constants.
torchlr::LrLambda random_lambda(ConfigGenerator& gen) {
  const double a = gen.uniform(0.0, 2.0);
  const double b = gen.log_uniform(1e-3, 1e3);
  switch (gen.integer(0, 4)) {
    case 0: return [a](int64_t e) { return std::pow(a, static_cast<double>(e)); };
    case 1: return [b](int64_t e) { return 1.0 / (1.0 + b * static_cast<double>(e)); };
    case 2: return [b](int64_t e) { return std::min(1.0, static_cast<double>(e + 1) / b); };
    case 3: return [a, b](int64_t e) { return e % 7 == 3 ? b : a; };
    default: return [b](int64_t e) { return std::exp(b * static_cast<double>(e)); };  // overflows
  }
}

template <typename Scheduler>
void check_lambda_scheduler(const std::string& label) {
  Tally tally;
  for (int i = 0; i < kConfigs; ++i) {
    const uint64_t seed = seed_of(label) * 1000003 + static_cast<uint64_t>(i);
    ConfigGenerator gen(seed);
    const std::size_t groups = static_cast<std::size_t>(gen.integer(1, 4));
    const json optimizer_config = gen.optimizer(groups);
    const int64_t steps = gen.integer(0, 60);
    const auto resume_at = gen.integer(0, steps);
    // The same functions for both runs: the draws happen once.
    std::vector<torchlr::LrLambda> lambdas;
    const bool per_group = gen.chance(0.5);
    for (std::size_t g = 0; g < (per_group ? groups : 1); ++g) lambdas.push_back(random_lambda(gen));
    auto build = [&](torch::optim::Optimizer& o) {
      return per_group ? std::make_shared<Scheduler>(o, torchlr::LrLambdaOptions(lambdas))
                       : std::make_shared<Scheduler>(o, torchlr::LrLambdaOptions(lambdas.front()));
    };
    SCOPED_TRACE("seed " + std::to_string(seed) + ", optimizer " + optimizer_config.dump());
    std::vector<torch::Tensor> params_a, params_b;
    auto opt_a = torchlr::trace::make_optimizer(optimizer_config, params_a);
    auto opt_b = torchlr::trace::make_optimizer(optimizer_config, params_b);
    for (auto* params : {&params_a, &params_b}) {
      for (auto& p : *params) p.mutable_grad() = torch::zeros_like(p);
    }
    opt_a->step();  // as in training, and so that no order warning fires
    opt_b->step();
    std::shared_ptr<Scheduler> a;
    try {
      a = build(*opt_a);
    } catch (const c10::ValueError&) {
      // Only an lr that is not finite at epoch 0 (exp of a large b) may be refused here.
      ASSERT_TRUE(same_bits(read_values(*opt_a).lrs, read_values(*opt_b).lrs));
      ++tally.refused_steps;
      continue;
    }
    ++tally.configs;
    std::vector<OptimizerValues> seen{read_values(*opt_a)};
    std::string checkpoint;
    int64_t refused = -1;
    for (int64_t s = 0; s <= steps; ++s) {
      if (s == resume_at) {
        torch::serialize::OutputArchive archive;
        a->save(archive);
        std::ostringstream out;
        archive.save_to(out);
        checkpoint = out.str();
      }
      if (s == steps) break;
      const auto before = read_values(*opt_a);
      try {
        a->step();
      } catch (const c10::ValueError&) {
        ASSERT_TRUE(same_bits(read_values(*opt_a).lrs, before.lrs));
        refused = s;
        ++tally.refused_steps;
        break;
      }
      ++tally.steps;
      seen.push_back(read_values(*opt_a));
      for (double lr : seen.back().lrs) ASSERT_TRUE(std::isfinite(lr));
    }
    if (checkpoint.empty()) continue;
    auto b = build(*opt_b);
    std::istringstream in(checkpoint);
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    b->load(archive);
    ++tally.resumed;
    ASSERT_TRUE(same_bits(read_values(*opt_b).lrs, seen[static_cast<std::size_t>(resume_at)].lrs));
    for (int64_t s = resume_at; s < steps; ++s) {
      if (s == refused) {
        EXPECT_THROW(b->step(), c10::ValueError);
        break;
      }
      b->step();
      ASSERT_TRUE(same_bits(read_values(*opt_b).lrs, seen[static_cast<std::size_t>(s + 1)].lrs)) << "step " << s + 1;
    }
  }
  std::cout << "[ property ] " << label << ": " << tally.configs << " configs, " << tally.steps
            << " steps, " << tally.refused_steps << " refusals, " << tally.resumed << " resumed\n";
}

TEST(Properties, LambdaLRFiniteOrRefusedAndResumesBitForBit) { check_lambda_scheduler<torchlr::LambdaLR>("LambdaLR"); }

TEST(Properties, MultiplicativeLRFiniteOrRefusedAndResumesBitForBit) {
  check_lambda_scheduler<torchlr::MultiplicativeLR>("MultiplicativeLR");
}

}  // namespace
