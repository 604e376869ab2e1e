// The one table of torchlr's schedulers: each is registered here once, under its PyTorch name
// (or `transformers.<lr_scheduler_type>`, `fairseq.<name>` for those libraries' schedules),
// reading its PyTorch keyword arguments into its options struct (whose defaults are PyTorch's:
// an argument the config leaves out keeps the struct's default). The `torchlr trace` command,
// the tests, the fuzzers and the benchmarks all go through this table.

#include <c10/util/Exception.h>

#include <torchlr/composite.h>
#include <torchlr/cosine.h>
#include <torchlr/cyclic.h>
#include <torchlr/decay.h>
#include <torchlr/fairseq.h>
#include <torchlr/lambda.h>
#include <torchlr/plateau.h>
#include <torchlr/swa.h>
#include <torchlr/timm.h>
#include <torchlr/transformers.h>

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

// ReduceLROnPlateau's keyword arguments (PyTorch's, which transformers' reduce_lr_on_plateau
// passes on as they are).
ReduceLROnPlateauOptions plateau_options(SchedulerArgs& a) {
  ReduceLROnPlateauOptions o;
  a.optional("mode", o.mode())
      .optional("factor", o.factor())
      .optional("patience", o.patience())
      .optional("threshold", o.threshold())
      .optional("threshold_mode", o.threshold_mode())
      .optional("cooldown", o.cooldown())
      .optional("min_lr", o.min_lr())
      .optional("eps", o.eps());
  return o;
}

// fairseq's `lr`: a list of one (a number is a list of one); null or absent: the optimizer's lr.
void fairseq_lr(SchedulerArgs& a, std::optional<std::vector<double>>& target) {
  if (!a.has("lr")) return;
  const ConfigValue& v = a.raw("lr");
  if (v.is_null()) {
    target = std::nullopt;
  } else if (v.is_list()) {
    target = a.required<std::vector<double>>("lr");
  } else {
    target = std::vector<double>{a.required<double>("lr")};
  }
}

// fairseq's `phase_ratio`: a list of numbers, or null.
void optional_list(SchedulerArgs& a, const std::string& key, std::optional<std::vector<double>>& target) {
  if (!a.has(key)) return;
  if (a.raw(key).is_null()) {
    target = std::nullopt;
  } else {
    target = a.required<std::vector<double>>(key);
  }
}

// transformers' schedules, in the order of its SchedulerType (the factory lists them in it).
void add_transformers(std::vector<SchedulerEntry>& table) {
  using namespace torchlr::transformers;
  // The two arguments most of them require (get_scheduler's num_warmup_steps, num_training_steps).
  auto warmup = [](SchedulerArgs& a) { return a.required<int64_t>("num_warmup_steps"); };
  auto training = [](SchedulerArgs& a) { return a.required<int64_t>("num_training_steps"); };

  table.push_back({"transformers.linear",
                   [=](SchedulerArgs& a) {
                     const int64_t w = warmup(a);
                     return a.construct<LinearSchedule>(LinearScheduleOptions(w, training(a)));
                   },
                   {{"name", "transformers.linear"}, {"num_warmup_steps", 3}, {"num_training_steps", 12}}});

  table.push_back({"transformers.cosine",
                   [=](SchedulerArgs& a) {
                     const int64_t w = warmup(a);
                     CosineScheduleOptions o(w, training(a));
                     a.optional("num_cycles", o.num_cycles());
                     return a.construct<CosineSchedule>(o);
                   },
                   {{"name", "transformers.cosine"}, {"num_warmup_steps", 2}, {"num_training_steps", 9}}});

  table.push_back({"transformers.cosine_with_restarts",
                   [=](SchedulerArgs& a) {
                     const int64_t w = warmup(a);
                     CosineWithRestartsScheduleOptions o(w, training(a));
                     a.optional("num_cycles", o.num_cycles());
                     return a.construct<CosineWithRestartsSchedule>(o);
                   },
                   {{"name", "transformers.cosine_with_restarts"},
                    {"num_warmup_steps", 2},
                    {"num_training_steps", 14},
                    {"num_cycles", 3}}});

  table.push_back({"transformers.polynomial",
                   [=](SchedulerArgs& a) {
                     const int64_t w = warmup(a);
                     PolynomialScheduleOptions o(w, training(a));
                     a.optional("lr_end", o.lr_end()).optional("power", o.power());
                     return a.construct<PolynomialSchedule>(o);
                   },
                   {{"name", "transformers.polynomial"},
                    {"num_warmup_steps", 2},
                    {"num_training_steps", 10},
                    {"lr_end", 1e-3},
                    {"power", 2.0}}});

  table.push_back({"transformers.constant",
                   [](SchedulerArgs& a) { return a.construct<ConstantSchedule>(); },
                   {{"name", "transformers.constant"}}});

  table.push_back({"transformers.constant_with_warmup",
                   [=](SchedulerArgs& a) {
                     return a.construct<ConstantWithWarmupSchedule>(ConstantWithWarmupScheduleOptions(warmup(a)));
                   },
                   {{"name", "transformers.constant_with_warmup"}, {"num_warmup_steps", 4}}});

  table.push_back({"transformers.inverse_sqrt",
                   [=](SchedulerArgs& a) {
                     InverseSqrtScheduleOptions o(warmup(a));
                     a.optional("timescale", o.timescale());
                     return a.construct<InverseSqrtSchedule>(o);
                   },
                   {{"name", "transformers.inverse_sqrt"}, {"num_warmup_steps", 3}, {"timescale", 5}}});

  // torch's ReduceLROnPlateau itself, as transformers returns it.
  table.push_back({"transformers.reduce_lr_on_plateau",
                   [](SchedulerArgs& a) { return a.construct<ReduceLROnPlateau>(plateau_options(a)); },
                   {{"name", "transformers.reduce_lr_on_plateau"}, {"patience", 1}, {"factor", 0.5}},
                   /*takes_metric=*/true});

  table.push_back({"transformers.cosine_with_min_lr",
                   [=](SchedulerArgs& a) {
                     const int64_t w = warmup(a);
                     CosineWithMinLrScheduleOptions o(w, training(a));
                     a.optional("num_cycles", o.num_cycles())
                         .optional("min_lr", o.min_lr())
                         .optional("min_lr_rate", o.min_lr_rate());
                     return a.construct<CosineWithMinLrSchedule>(o);
                   },
                   {{"name", "transformers.cosine_with_min_lr"},
                    {"num_warmup_steps", 2},
                    {"num_training_steps", 10},
                    {"min_lr_rate", 0.1}}});

  table.push_back({"transformers.cosine_warmup_with_min_lr",
                   [=](SchedulerArgs& a) {
                     const int64_t w = warmup(a);
                     CosineWarmupWithMinLrScheduleOptions o(w, training(a));
                     a.optional("num_cycles", o.num_cycles())
                         .optional("min_lr", o.min_lr())
                         .optional("min_lr_rate", o.min_lr_rate())
                         .optional("warmup_lr_rate", o.warmup_lr_rate());
                     return a.construct<CosineWarmupWithMinLrSchedule>(o);
                   },
                   {{"name", "transformers.cosine_warmup_with_min_lr"},
                    {"num_warmup_steps", 3},
                    {"num_training_steps", 10},
                    {"min_lr_rate", 0.05},
                    {"warmup_lr_rate", 0.2}}});

  table.push_back({"transformers.warmup_stable_decay",
                   [=](SchedulerArgs& a) {
                     const int64_t w = warmup(a);
                     WarmupStableDecayScheduleOptions o(w, a.required<int64_t>("num_decay_steps"));
                     a.optional("num_training_steps", o.num_training_steps())
                         .optional("num_stable_steps", o.num_stable_steps())
                         .optional("warmup_type", o.warmup_type())
                         .optional("decay_type", o.decay_type())
                         .optional("min_lr_ratio", o.min_lr_ratio())
                         .optional("num_cycles", o.num_cycles());
                     return a.construct<WarmupStableDecaySchedule>(o);
                   },
                   {{"name", "transformers.warmup_stable_decay"},
                    {"num_warmup_steps", 2},
                    {"num_decay_steps", 4},
                    {"num_training_steps", 10},
                    {"min_lr_ratio", 0.1}}});

  table.push_back({"transformers.greedy",
                   [](SchedulerArgs& a) {
                     GreedyLROptions o;
                     a.optional("mode", o.mode())
                         .optional("factor", o.factor())
                         .optional("patience", o.patience())
                         .optional("threshold", o.threshold())
                         .optional("threshold_mode", o.threshold_mode())
                         .optional("cooldown", o.cooldown())
                         .optional("warmup", o.warmup())
                         .optional("min_lr", o.min_lr())
                         .optional("max_lr", o.max_lr())
                         .optional("eps", o.eps())
                         .optional("smooth", o.smooth())
                         .optional("window_size", o.window_size())
                         .optional("reset_start", o.reset_start());
                     bool verbose = false;  // upstream only prints
                     a.optional("verbose", verbose);
                     return a.construct<GreedyLR>(o);
                   },
                   {{"name", "transformers.greedy"},
                    {"patience", 1},
                    {"cooldown", 1},
                    {"min_lr", 1e-4},
                    {"smooth", true},
                    {"window_size", 3}},
                   /*takes_metric=*/true});
}

// timm's noise_range_t: null (no noise), a number (the start) or [start, end).
void timm_noise_range(SchedulerArgs& a, const std::string& key, std::vector<double>& target) {
  if (!a.has(key)) return;
  const ConfigValue& v = a.raw(key);
  if (v.is_null()) {
    target.clear();
  } else if (v.is_list()) {
    target = a.required<std::vector<double>>(key);
    // timm indexes [0] and [1] of a list: one of another length fails (or is cut) there.
    TORCH_CHECK_VALUE(target.size() == 2, a.where(key), " must be a number or a list of 2 numbers [start, end), but it has ",
                      target.size());
  } else {
    target = {a.required<double>(key)};
  }
}

// The arguments every timm scheduler takes: warmup, noise, and the per-group lr_scale (which the
// trace format puts in the optimizer's param groups, as timm reads it from there).
template <typename Options>
void timm_common(SchedulerArgs& a, Options& o) {
  a.optional("warmup_t", o.warmup_t()).optional("warmup_lr_init", o.warmup_lr_init());
  timm_noise_range(a, "noise_range_t", o.noise_range_t());
  a.optional("noise_pct", o.noise_pct()).optional("noise_std", o.noise_std());
  // noise_seed None means 42 in timm's base class.
  std::optional<int64_t> seed = o.noise_seed();
  a.optional("noise_seed", seed);
  o.noise_seed(seed.value_or(timm::kDefaultNoiseSeed));
  a.optional("lr_scale", o.lr_scale());
}

// Cosine, Tanh and Poly's cycle arguments.
template <typename Options>
void timm_cycles(SchedulerArgs& a, Options& o) {
  a.optional("lr_min", o.lr_min())
      .optional("cycle_mul", o.cycle_mul())
      .optional("cycle_decay", o.cycle_decay())
      .optional("cycle_limit", o.cycle_limit())
      .optional("warmup_prefix", o.warmup_prefix())
      .optional("t_in_epochs", o.t_in_epochs());
  timm_common(a, o);
}

void add_timm(std::vector<SchedulerEntry>& table) {
  using namespace torchlr::timm;
  // Flags: no metric required (Plateau's is), not composite, no fractional epochs, no
  // steps_to_epochs, stepped as timm's.
  auto add = [&table](std::string name, SchedulerMaker make, Config example, bool takes_metric = false) {
    table.push_back({std::move(name), std::move(make), std::move(example), takes_metric, /*composite=*/false,
                     /*fractional_epochs=*/false, /*steps_to_epochs=*/false, /*timm_protocol=*/true});
  };
  add("timm.CosineLRScheduler",
      [](SchedulerArgs& a) {
        CosineLRSchedulerOptions o(a.required<int64_t>("t_initial"));
        timm_cycles(a, o);
        a.optional("k_decay", o.k_decay());
        return a.construct<CosineLRScheduler>(o);
      },
      {{"name", "timm.CosineLRScheduler"},
       {"t_initial", 8},
       {"lr_min", 1e-4},
       {"warmup_t", 2},
       {"warmup_lr_init", 1e-3},
       {"cycle_limit", 2},
       {"cycle_decay", 0.5}});
  add("timm.TanhLRScheduler",
      [](SchedulerArgs& a) {
        TanhLRSchedulerOptions o(a.required<int64_t>("t_initial"));
        a.optional("lb", o.lb()).optional("ub", o.ub());
        timm_cycles(a, o);
        return a.construct<TanhLRScheduler>(o);
      },
      {{"name", "timm.TanhLRScheduler"}, {"t_initial", 10}, {"lr_min", 1e-4}, {"warmup_t", 2}});
  add("timm.StepLRScheduler",
      [](SchedulerArgs& a) {
        StepLRSchedulerOptions o(a.required<double>("decay_t"));
        a.optional("decay_rate", o.decay_rate())
            .optional("warmup_prefix", o.warmup_prefix())
            .optional("t_in_epochs", o.t_in_epochs());
        timm_common(a, o);
        return a.construct<StepLRScheduler>(o);
      },
      {{"name", "timm.StepLRScheduler"}, {"decay_t", 3}, {"decay_rate", 0.5}, {"warmup_t", 1}});
  add("timm.MultiStepLRScheduler",
      [](SchedulerArgs& a) {
        MultiStepLRSchedulerOptions o(a.required<std::vector<int64_t>>("decay_t"));
        a.optional("decay_rate", o.decay_rate())
            .optional("warmup_prefix", o.warmup_prefix())
            .optional("t_in_epochs", o.t_in_epochs());
        timm_common(a, o);
        return a.construct<MultiStepLRScheduler>(o);
      },
      {{"name", "timm.MultiStepLRScheduler"}, {"decay_t", {3, 6}}, {"decay_rate", 0.3}});
  add("timm.PolyLRScheduler",
      [](SchedulerArgs& a) {
        PolyLRSchedulerOptions o(a.required<int64_t>("t_initial"));
        a.optional("power", o.power()).optional("k_decay", o.k_decay());
        timm_cycles(a, o);
        return a.construct<PolyLRScheduler>(o);
      },
      {{"name", "timm.PolyLRScheduler"}, {"t_initial", 9}, {"power", 2.0}, {"lr_min", 1e-4}});
  add("timm.PlateauLRScheduler",
      [](SchedulerArgs& a) {
        PlateauLRSchedulerOptions o;
        a.optional("decay_rate", o.decay_rate())
            .optional("patience_t", o.patience_t())
            .optional("threshold", o.threshold())
            .optional("cooldown_t", o.cooldown_t())
            .optional("lr_min", o.lr_min())
            .optional("mode", o.mode())
            .optional("noise_type", o.noise_type());
        timm_common(a, o);
        return a.construct<PlateauLRScheduler>(o);
      },
      {{"name", "timm.PlateauLRScheduler"}, {"patience_t", 1}, {"decay_rate", 0.5}, {"warmup_t", 2}},
      /*takes_metric=*/true);
  add("timm.create_scheduler_v2",
      [](SchedulerArgs& a) -> std::unique_ptr<SchedulerBase> {
        CreateSchedulerV2Options o;
        a.optional("sched", o.sched())
            .optional("num_epochs", o.num_epochs())
            .optional("decay_epochs", o.decay_epochs())
            .optional("decay_milestones", o.decay_milestones())
            .optional("cooldown_epochs", o.cooldown_epochs())
            .optional("patience_epochs", o.patience_epochs())
            .optional("decay_rate", o.decay_rate())
            .optional("min_lr", o.min_lr())
            .optional("warmup_lr", o.warmup_lr())
            .optional("warmup_epochs", o.warmup_epochs())
            .optional("warmup_prefix", o.warmup_prefix())
            .optional("noise_pct", o.noise_pct())
            .optional("noise_std", o.noise_std())
            .optional("noise_seed", o.noise_seed())
            .optional("cycle_mul", o.cycle_mul())
            .optional("cycle_decay", o.cycle_decay())
            .optional("cycle_limit", o.cycle_limit())
            .optional("k_decay", o.k_decay())
            .optional("plateau_mode", o.plateau_mode())
            .optional("step_on_epochs", o.step_on_epochs())
            .optional("updates_per_epoch", o.updates_per_epoch())
            .optional("lr_scale", o.lr_scale());
        // noise: null, a number, or a list (one element is a number, as timm).
        if (a.has("noise")) {
          const ConfigValue& v = a.raw("noise");
          if (v.is_null()) {
            o.noise({});
          } else if (v.is_list()) {
            o.noise(a.required<std::vector<double>>("noise"));
          } else {
            o.noise({a.required<double>("noise")});
          }
        }
        a.finish();
        return create_scheduler_v2(a.optimizer(), o).scheduler;
      },
      {{"name", "timm.create_scheduler_v2"}, {"sched", "cosine"}, {"num_epochs", 10}, {"warmup_epochs", 2},
       {"cycle_limit", 2}});
}

void add_fairseq(std::vector<SchedulerEntry>& table) {
  using namespace torchlr::fairseq;
  table.push_back({"fairseq.inverse_sqrt",
                   [](SchedulerArgs& a) {
                     InverseSquareRootScheduleOptions o;
                     a.optional("warmup_updates", o.warmup_updates()).optional("warmup_init_lr", o.warmup_init_lr());
                     fairseq_lr(a, o.lr());
                     return a.construct<InverseSquareRootSchedule>(o);
                   },
                   {{"name", "fairseq.inverse_sqrt"}, {"warmup_updates", 4}, {"warmup_init_lr", 1e-3}},
                   /*takes_metric=*/false, /*composite=*/false, /*fractional_epochs=*/false,
                   /*steps_to_epochs=*/true});

  table.push_back({"fairseq.tri_stage",
                   [](SchedulerArgs& a) {
                     TriStageLRScheduleOptions o;
                     a.optional("warmup_steps", o.warmup_steps())
                         .optional("hold_steps", o.hold_steps())
                         .optional("decay_steps", o.decay_steps())
                         .optional("init_lr_scale", o.init_lr_scale())
                         .optional("final_lr_scale", o.final_lr_scale())
                         .optional("max_update", o.max_update());
                     optional_list(a, "phase_ratio", o.phase_ratio());
                     fairseq_lr(a, o.lr());
                     return a.construct<TriStageLRSchedule>(o);
                   },
                   {{"name", "fairseq.tri_stage"},
                    {"warmup_steps", 3},
                    {"hold_steps", 2},
                    {"decay_steps", 5},
                    {"final_lr_scale", 0.05}},
                   /*takes_metric=*/false, /*composite=*/false, /*fractional_epochs=*/false,
                   /*steps_to_epochs=*/true});
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
                   [](SchedulerArgs& a) { return a.construct<ReduceLROnPlateau>(plateau_options(a)); },
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

  // torch.optim.swa_utils.SWALR: a torch.optim class, so a bare name like the others.
  table.push_back({"SWALR",
                   [](SchedulerArgs& a) {
                     SWALROptions o(a.required<PerGroup>("swa_lr"));
                     a.optional_integer_refused_as("anneal_epochs", o.anneal_epochs(),
                                                   "anneal_epochs must be equal or greater than 0, got ")
                         .optional("anneal_strategy", o.anneal_strategy());
                     return a.construct<SWALR>(o);
                   },
                   {{"name", "SWALR"}, {"swa_lr", 0.01}, {"anneal_epochs", 3}, {"anneal_strategy", "linear"}}});

  // The schedules of other libraries, under `<library>.<the name their users type>`.
  add_transformers(table);
  add_timm(table);
  add_fairseq(table);
  return table;
}

}  // namespace torchlr::detail
