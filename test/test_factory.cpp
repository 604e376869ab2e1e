// The factory (torchlr/factory.h): schedulers built from configs, plain C++ or JSON, with the
// options structs' defaults; its errors; registration; and the one SchedulerBase interface.

#include <cmath>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <torchlr/config_json.h>
#include <torchlr/torchlr.h>

#include "helpers.h"

namespace {

using torchlr::Config;
using torchlr::testing::SgdFixture;

std::vector<double> lrs_of(const torch::optim::Optimizer& optimizer) {
  std::vector<double> lrs;
  for (const auto& g : optimizer.param_groups()) lrs.push_back(g.options().get_lr());
  return lrs;
}

TEST(Factory, EveryExampleBuildsTheSchedulerItNames) {
  int built = 0;
  for (const auto& entry : torchlr::registered_schedulers()) {
    if (entry.example.size() == 0) continue;
    SCOPED_TRACE(entry.name);
    SgdFixture f({0.1, 0.05});
    auto s = torchlr::make_scheduler(*f.optimizer, entry.example);
    // transformers' reduce_lr_on_plateau is torch's ReduceLROnPlateau itself; timm's
    // create_scheduler_v2 makes one of timm's schedulers (the example's is the cosine).
    const std::string expected = entry.name == "transformers.reduce_lr_on_plateau" ? "ReduceLROnPlateau"
                                 : entry.name == "timm.create_scheduler_v2"        ? "timm.CosineLRScheduler"
                                                                                   : entry.name;
    EXPECT_EQ(s->name(), expected);
    EXPECT_EQ(s->takes_metric(), entry.takes_metric);
    EXPECT_EQ(&s->optimizer(), f.optimizer.get());
    EXPECT_EQ(s->get_last_lr(), lrs_of(*f.optimizer));
    ++built;
  }
  // Every PyTorch scheduler torchlr has but the two that take functions (SWALR included),
  // transformers' 12, timm's 6 and create_scheduler_v2, and fairseq's 2.
  EXPECT_EQ(built, 14 + 12 + 7 + 2);
}

TEST(Factory, AbsentArgumentsKeepTheOptionsStructsDefaults) {
  SgdFixture f({0.1});
  auto s = torchlr::make_scheduler(*f.optimizer, Config{{"name", "OneCycleLR"}, {"max_lr", 0.5}, {"total_steps", 10}});
  const auto& options = dynamic_cast<torchlr::OneCycleLR&>(*s).options();
  const torchlr::OneCycleLROptions defaults(0.5);
  EXPECT_EQ(options.pct_start(), defaults.pct_start());
  EXPECT_EQ(options.anneal_strategy(), defaults.anneal_strategy());
  EXPECT_EQ(options.div_factor(), defaults.div_factor());
  EXPECT_EQ(options.final_div_factor(), defaults.final_div_factor());
  EXPECT_EQ(options.three_phase(), defaults.three_phase());
  EXPECT_EQ(options.base_momentum().values(), defaults.base_momentum().values());
  EXPECT_EQ(options.epochs(), std::nullopt);
  EXPECT_EQ(*options.total_steps(), 10);

  auto plateau = torchlr::make_scheduler(*f.optimizer, "ReduceLROnPlateau", {{"patience", 3}});
  const auto& p = dynamic_cast<torchlr::ReduceLROnPlateau&>(*plateau).options();
  EXPECT_EQ(p.patience(), 3);
  EXPECT_EQ(p.factor(), torchlr::ReduceLROnPlateauOptions().factor());
  EXPECT_EQ(p.threshold(), torchlr::ReduceLROnPlateauOptions().threshold());
}

TEST(Factory, SameScheduleAsTheDirectConstructor) {
  SgdFixture a({0.1, 0.02});
  SgdFixture b({0.1, 0.02});
  Config config{{"name", "SequentialLR"},
                {"schedulers",
                 {Config{{"name", "LinearLR"}, {"start_factor", 0.1}, {"total_iters", 3}},
                  Config{{"name", "CosineAnnealingLR"}, {"T_max", 7}, {"eta_min", 1e-4}}}},
                {"milestones", {3}}};
  auto built = torchlr::make_scheduler(*a.optimizer, config);
  auto warmup = std::make_shared<torchlr::LinearLR>(*b.optimizer, torchlr::LinearLROptions().start_factor(0.1).total_iters(3));
  auto cosine = std::make_shared<torchlr::CosineAnnealingLR>(*b.optimizer, torchlr::CosineAnnealingLROptions(7).eta_min(1e-4));
  torchlr::SequentialLR direct(*b.optimizer, torchlr::SequentialLROptions({warmup, cosine}, {3}));
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(lrs_of(*a.optimizer), lrs_of(*b.optimizer)) << "step " << i;
    a.optimizer_step();
    built->step_with(std::nullopt);
    b.optimizer_step();
    direct.step();
  }
}

TEST(Factory, JsonAndPlainConfigsAgree) {
  const Config plain{{"name", "CyclicLR"}, {"base_lr", 0.001}, {"max_lr", {0.1, 0.05}},
                     {"step_size_up", 4}, {"mode", "triangular2"}, {"step_size_down", nullptr}};
  const Config json = torchlr::config_from_json_text(
      R"({"name": "CyclicLR", "base_lr": 0.001, "max_lr": [0.1, 0.05], "step_size_up": 4,
          "mode": "triangular2", "step_size_down": null})");
  EXPECT_EQ(json.dump(), plain.dump());
  SgdFixture a({0.1, 0.05});
  SgdFixture b({0.1, 0.05});
  auto sa = torchlr::make_scheduler(*a.optimizer, plain);
  auto sb = torchlr::make_scheduler(*b.optimizer, json);
  for (int i = 0; i < 20; ++i) {
    sa->step_with(std::nullopt);
    sb->step_with(std::nullopt);
    ASSERT_EQ(lrs_of(*a.optimizer), lrs_of(*b.optimizer));
  }
  EXPECT_NE(lrs_of(*a.optimizer), std::vector<double>({0.1, 0.05}));
}

TEST(Factory, ErrorsNameTheKey) {
  SgdFixture f({0.1});
  auto& o = *f.optimizer;
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "StepLr"}}), "scheduler.name: unknown scheduler 'StepLr'");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"step_size", 2}}), "scheduler: missing required key 'name'");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", 3}}), "scheduler.name must be a string, but got 3");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "StepLR"}}), "scheduler: missing required key 'step_size'");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "StepLR"}, {"step_size", 2.5}}),
                     "scheduler.step_size must be an integer, but got 2.5");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "StepLR"}, {"step_size", 2}, {"gama", 0.5}}),
                     "scheduler: unknown key 'gama' for StepLR");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "ExponentialLR"}, {"gamma", "fast"}}),
                     "scheduler.gamma must be a number, but got \"fast\"");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "MultiStepLR"}, {"milestones", {1, 2.0}}}),
                     "scheduler.milestones[1] must be an integer, but got 2.0");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "OneCycleLR"}, {"max_lr", 0.1}, {"three_phase", 1}}),
                     "scheduler.three_phase must be true or false, but got 1");
  // PyTorch's required arguments are required (CyclicLR's base_lr and max_lr, OneCycleLR's max_lr).
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "CyclicLR"}, {"max_lr", 0.1}}),
                     "scheduler: missing required key 'base_lr'");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "OneCycleLR"}, {"total_steps", 10}}),
                     "scheduler: missing required key 'max_lr'");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, "StepLR", {{"name", "StepLR"}, {"step_size", 2}}),
                     "'name' is not a keyword argument");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "LambdaLR"}}), "cannot express");
  // Nested: the path names the child.
  EXPECT_VALUE_ERROR(
      torchlr::make_scheduler(o, Config{{"name", "ChainedScheduler"},
                                        {"schedulers", {Config{{"name", "StepLR"}, {"step_size", 1}},
                                                        Config{{"name", "CosineAnnealingLR"}, {"T_max", 2.5}}}}}),
      "scheduler.schedulers[1].T_max must be an integer, but got 2.5");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "ChainedScheduler"}, {"schedulers", {5}}}),
                     "scheduler.schedulers[0] must be a scheduler config");
  EXPECT_VALUE_ERROR(
      torchlr::make_scheduler(o, Config{{"name", "SequentialLR"},
                                        {"schedulers", {Config{{"name", "ReduceLROnPlateau"}}}},
                                        {"milestones", torchlr::ConfigValue::List{}}}),
      "scheduler.schedulers[0].name: ReduceLROnPlateau steps on a metric and cannot be part of a SequentialLR");
  // Values the constructor refuses keep its message.
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, Config{{"name", "CosineAnnealingWarmRestarts"}, {"T_0", 0}}),
                     "Expected positive integer T_0, but got 0");
  EXPECT_VALUE_ERROR(torchlr::config_from_json_text("{\"name\": "), "is not valid JSON");
  EXPECT_VALUE_ERROR(torchlr::config_from_json(nlohmann::json::array()), "scheduler must be a JSON object");
  // An unsigned integer beyond int64_t is not an integer argument.
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(o, torchlr::config_from_json_text(
                                                    R"({"name": "StepLR", "step_size": 18446744073709551615})")),
                     "scheduler.step_size must be an integer");
}

TEST(Factory, ARefusedConfigLeavesTheOptimizerAlone) {
  SgdFixture f({0.1, 0.05});
  // CyclicLR writes base_lr into the groups at construction; an unknown key is refused first.
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(*f.optimizer, Config{{"name", "CyclicLR"}, {"base_lr", 0.001},
                                                                  {"max_lr", 0.1}, {"bogus", 1}}),
                     "unknown key 'bogus'");
  EXPECT_EQ(lrs_of(*f.optimizer), std::vector<double>({0.1, 0.05}));
}

class Halving final : public torchlr::LRScheduler {
 public:
  Halving(torch::optim::Optimizer& optimizer, int64_t every) : LRScheduler(optimizer), every_(every) { initial_step(); }
  std::string name() const override { return "Halving"; }

 protected:
  double get_lr(std::size_t group) override {
    return base_lrs()[group] * std::pow(0.5, static_cast<double>(last_epoch() / every_));
  }

 private:
  int64_t every_;
};

TEST(Factory, RegisteredSchedulersAreBuiltAndNestByName) {
  static const bool registered = [] {
    torchlr::register_scheduler({"Halving", [](torchlr::SchedulerArgs& args) {
                                   int64_t every = 1;
                                   args.optional("every", every);
                                   return args.construct<Halving>(every);
                                 }});
    return true;
  }();
  ASSERT_TRUE(registered);
  EXPECT_VALUE_ERROR(torchlr::register_scheduler({"Halving", [](torchlr::SchedulerArgs&) {
                                                   return std::unique_ptr<torchlr::SchedulerBase>();
                                                 }}),
                     "a scheduler named 'Halving' is registered already");
  EXPECT_VALUE_ERROR(torchlr::register_scheduler({"StepLR", nullptr}), "'StepLR' has no maker");
  const auto names = torchlr::scheduler_names();
  EXPECT_EQ(names.back(), "Halving");
  EXPECT_TRUE(torchlr::find_scheduler("Halving").has_value());

  SgdFixture f({0.8});
  auto s = torchlr::make_scheduler(*f.optimizer, Config{{"name", "ChainedScheduler"},
                                                        {"schedulers", {Config{{"name", "Halving"}, {"every", 2}}}}});
  for (int i = 0; i < 4; ++i) s->step_with(std::nullopt);
  EXPECT_DOUBLE_EQ(f.lr(), 0.2);
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(*f.optimizer, Config{{"name", "Halving"}, {"every", 2}, {"x", 1}}),
                     "unknown key 'x' for Halving");
}

TEST(SchedulerBase, OneLoopStepsEveryKind) {
  SgdFixture f({0.1});
  std::vector<std::unique_ptr<torchlr::SchedulerBase>> held;
  held.push_back(torchlr::make_scheduler(*f.optimizer, "ReduceLROnPlateau", {{"patience", 0}, {"factor", 0.5}}));
  // A plateau needs its metric.
  EXPECT_VALUE_ERROR(held[0]->step_with(std::nullopt), "missing 1 required argument: 'metrics'");
  EXPECT_EQ(held[0]->last_epoch(), 0);
  held[0]->step_with(1.0);
  held[0]->step_with(2.0);  // worse: patience 0 halves the lr
  EXPECT_DOUBLE_EQ(f.lr(), 0.05);
  EXPECT_EQ(held[0]->get_last_lr(), std::vector<double>{0.05});

  SgdFixture g({0.1});
  auto step = torchlr::make_scheduler(*g.optimizer, "StepLR", {{"step_size", 1}, {"gamma", 0.5}});
  EXPECT_FALSE(step->takes_metric());
  step->step_with(123.0);  // the metric is not used
  EXPECT_DOUBLE_EQ(g.lr(), 0.05);
}

TEST(SchedulerBase, SavesAndLoadsThroughTheBase) {
  for (const std::string name : {"ReduceLROnPlateau", "OneCycleLR"}) {
    SCOPED_TRACE(name);
    const Config config = torchlr::find_scheduler(name)->example;
    SgdFixture a({0.1, 0.2});
    auto sa = torchlr::make_scheduler(*a.optimizer, config);
    for (int i = 0; i < 5; ++i) sa->step_with(i % 2 ? 1.0 : 2.0);
    std::ostringstream out;
    {
      torch::serialize::OutputArchive archive;
      archive << *sa;
      archive.save_to(out);
    }
    SgdFixture b({0.1, 0.2});
    auto sb = torchlr::make_scheduler(*b.optimizer, config);
    std::istringstream in(out.str());
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    archive >> *sb;
    EXPECT_EQ(sb->last_epoch(), sa->last_epoch());
    EXPECT_EQ(sb->get_last_lr(), sa->get_last_lr());
    EXPECT_EQ(lrs_of(*b.optimizer), lrs_of(*a.optimizer));
  }
}

TEST(Config, DumpsAsJson) {
  const Config c{{"name", "X"}, {"a", {1, 2.5, true, nullptr}}, {"s", "q\"t"}, {"f", 2.0}, {"n", Config{{"k", -3}}}};
  EXPECT_EQ(c.dump(), R"({"a":[1,2.5,true,null],"f":2.0,"n":{"k":-3},"name":"X","s":"q\"t"})");
  EXPECT_TRUE(c.at("a").is_list());
  EXPECT_TRUE(c.at("n").is_config());
  EXPECT_TRUE(c.at("f").is_float());
  EXPECT_FALSE(c.at("f").is_integer());
}

}  // namespace
