// The one table of torchlr's schedulers: each is registered here once, under its PyTorch name,
// reading its PyTorch keyword arguments into its options struct (whose defaults are PyTorch's:
// an argument the config leaves out keeps the struct's default). The `torchlr trace` command,
// the tests, the fuzzers and the benchmarks all go through this table.

#include <c10/util/Exception.h>

#include <torchlr/composite.h>
#include <torchlr/cosine.h>
#include <torchlr/cyclic.h>
#include <torchlr/decay.h>
#include <torchlr/lambda.h>
#include <torchlr/plateau.h>

#include "factory_internal.h"

namespace torchlr::detail {
namespace {

// LambdaLR and MultiplicativeLR take functions, which no config can hold: construct them in C++.
SchedulerMaker refuse_function(const char* name) {
  return [name](SchedulerArgs& args) -> std::unique_ptr<SchedulerBase> {
    C10_THROW_ERROR(ValueError, c10::str(args.path(), ".name: ", name,
                                         " takes a function (lr_lambda), which a JSON config cannot express"));
  };
}

}  // namespace

std::vector<SchedulerEntry> builtin_schedulers() {
  std::vector<SchedulerEntry> table;

  table.push_back({"LambdaLR", refuse_function("LambdaLR")});
  table.push_back({"MultiplicativeLR", refuse_function("MultiplicativeLR")});

  table.push_back({"StepLR",
                   [](SchedulerArgs& a) {
                     StepLROptions o(a.required<int64_t>("step_size"));
                     a.optional("gamma", o.gamma());
                     return a.construct<StepLR>(o);
                   },
                   {{"name", "StepLR"}, {"step_size", 3}, {"gamma", 0.7}}});

  table.push_back({"MultiStepLR",
                   [](SchedulerArgs& a) {
                     MultiStepLROptions o(a.required<std::vector<int64_t>>("milestones"));
                     a.optional("gamma", o.gamma());
                     return a.construct<MultiStepLR>(o);
                   },
                   {{"name", "MultiStepLR"}, {"milestones", {2, 5, 5, 9}}, {"gamma", 0.3}}});

  table.push_back({"ConstantLR",
                   [](SchedulerArgs& a) {
                     ConstantLROptions o;
                     a.optional("factor", o.factor()).optional("total_iters", o.total_iters());
                     return a.construct<ConstantLR>(o);
                   },
                   {{"name", "ConstantLR"}, {"factor", 0.4}, {"total_iters", 4}}});

  table.push_back({"LinearLR",
                   [](SchedulerArgs& a) {
                     LinearLROptions o;
                     a.optional("start_factor", o.start_factor())
                         .optional("end_factor", o.end_factor())
                         .optional("total_iters", o.total_iters());
                     return a.construct<LinearLR>(o);
                   },
                   {{"name", "LinearLR"}, {"start_factor", 0.2}, {"end_factor", 0.9}, {"total_iters", 6}}});

  table.push_back({"ExponentialLR",
                   [](SchedulerArgs& a) {
                     return a.construct<ExponentialLR>(ExponentialLROptions(a.required<double>("gamma")));
                   },
                   {{"name", "ExponentialLR"}, {"gamma", 0.87}}});

  table.push_back({"PolynomialLR",
                   [](SchedulerArgs& a) {
                     PolynomialLROptions o;
                     a.optional("total_iters", o.total_iters()).optional("power", o.power());
                     return a.construct<PolynomialLR>(o);
                   },
                   {{"name", "PolynomialLR"}, {"total_iters", 9}, {"power", 1.7}}});

  table.push_back({"CosineAnnealingLR",
                   [](SchedulerArgs& a) {
                     CosineAnnealingLROptions o(a.required<int64_t>("T_max"));
                     a.optional("eta_min", o.eta_min());
                     return a.construct<CosineAnnealingLR>(o);
                   },
                   {{"name", "CosineAnnealingLR"}, {"T_max", 5}, {"eta_min", 1e-3}}});

  table.push_back({"ChainedScheduler",
                   [](SchedulerArgs& a) { return a.construct<ChainedScheduler>(a.schedulers("schedulers")); },
                   {{"name", "ChainedScheduler"},
                    {"schedulers",
                     {Config{{"name", "ConstantLR"}, {"factor", 0.5}, {"total_iters", 3}},
                      Config{{"name", "ExponentialLR"}, {"gamma", 0.9}}}}},
                   /*takes_metric=*/false, /*composite=*/true});

  table.push_back({"SequentialLR",
                   [](SchedulerArgs& a) {
                     SchedulerList children = a.schedulers("schedulers");
                     auto milestones = a.required<std::vector<int64_t>>("milestones");
                     return a.construct<SequentialLR>(SequentialLROptions(std::move(children), std::move(milestones)));
                   },
                   {{"name", "SequentialLR"},
                    {"schedulers",
                     {Config{{"name", "LinearLR"}, {"start_factor", 0.1}, {"total_iters", 3}},
                      Config{{"name", "CosineAnnealingLR"}, {"T_max", 6}}}},
                    {"milestones", {3}}},
                   /*takes_metric=*/false, /*composite=*/true});

  table.push_back({"ReduceLROnPlateau",
                   [](SchedulerArgs& a) {
                     ReduceLROnPlateauOptions o;
                     a.optional("mode", o.mode())
                         .optional("factor", o.factor())
                         .optional("patience", o.patience())
                         .optional("threshold", o.threshold())
                         .optional("threshold_mode", o.threshold_mode())
                         .optional("cooldown", o.cooldown())
                         .optional("min_lr", o.min_lr())
                         .optional("eps", o.eps());
                     return a.construct<ReduceLROnPlateau>(o);
                   },
                   {{"name", "ReduceLROnPlateau"}, {"patience", 1}, {"cooldown", 1}, {"factor", 0.5}},
                   /*takes_metric=*/true});

  table.push_back({"CyclicLR",
                   [](SchedulerArgs& a) {
                     // One after the other, so that a config missing both names base_lr, as PyTorch.
                     const auto base_lr = a.required<PerGroup>("base_lr");
                     const auto max_lr = a.required<PerGroup>("max_lr");
                     CyclicLROptions o(base_lr, max_lr);
                     a.optional("step_size_up", o.step_size_up())
                         .optional("step_size_down", o.step_size_down())
                         .optional("mode", o.mode())
                         .optional("gamma", o.gamma())
                         .optional("scale_mode", o.scale_mode())
                         .optional("cycle_momentum", o.cycle_momentum())
                         .optional("base_momentum", o.base_momentum())
                         .optional("max_momentum", o.max_momentum());
                     return a.construct<CyclicLR>(o);
                   },
                   {{"name", "CyclicLR"},
                    {"base_lr", 0.01},
                    {"max_lr", 0.1},
                    {"step_size_up", 3},
                    {"mode", "exp_range"},
                    {"gamma", 0.99}}});

  table.push_back({"OneCycleLR",
                   [](SchedulerArgs& a) {
                     OneCycleLROptions o(a.required<PerGroup>("max_lr"));
                     a.optional("total_steps", o.total_steps())
                         .optional("epochs", o.epochs())
                         .optional("steps_per_epoch", o.steps_per_epoch())
                         .optional("pct_start", o.pct_start())
                         .optional("anneal_strategy", o.anneal_strategy())
                         .optional("cycle_momentum", o.cycle_momentum())
                         .optional("base_momentum", o.base_momentum())
                         .optional("max_momentum", o.max_momentum())
                         .optional("div_factor", o.div_factor())
                         .optional("final_div_factor", o.final_div_factor())
                         .optional("three_phase", o.three_phase());
                     return a.construct<OneCycleLR>(o);
                   },
                   {{"name", "OneCycleLR"}, {"max_lr", 0.1}, {"total_steps", 60}, {"three_phase", true}}});

  table.push_back({"CosineAnnealingWarmRestarts",
                   [](SchedulerArgs& a) {
                     // PyTorch checks both to be ints, with its own words for any other number.
                     CosineAnnealingWarmRestartsOptions o(
                         a.integer_refused_as("T_0", "Expected positive integer T_0, but got "));
                     a.optional_integer_refused_as("T_mult", o.T_mult(), "Expected integer T_mult >= 1, but got ")
                         .optional("eta_min", o.eta_min());
                     return a.construct<CosineAnnealingWarmRestarts>(o);
                   },
                   {{"name", "CosineAnnealingWarmRestarts"}, {"T_0", 2}, {"T_mult", 2}, {"eta_min", 1e-4}},
                   /*takes_metric=*/false, /*composite=*/false, /*fractional_epochs=*/true});

  return table;
}

}  // namespace torchlr::detail
