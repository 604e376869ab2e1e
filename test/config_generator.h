#pragma once

// Random valid optimizer and scheduler configs in the `torchlr trace` format
// (docs/trace-format.md), for the property tests. Every config it returns must be accepted:
// a constructor that refuses one is a bug in torchlr or here, and the tests say which config.

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include <torchlr/factory.h>

namespace torchlr::testing {

class ConfigGenerator {
 public:
  using json = nlohmann::json;

  explicit ConfigGenerator(uint64_t seed) : rng_(seed) {}

  /// The table's schedulers that a config can build (they have an example), of one kind.
  template <typename Keep>
  static std::vector<std::string> names_where(Keep keep) {
    std::vector<std::string> names;
    for (const auto& entry : torchlr::registered_schedulers()) {
      if (entry.example.size() > 0 && keep(entry)) names.push_back(entry.name);
    }
    return names;
  }

  /// Every scheduler a config can build that steps without a metric and has no children.
  static const std::vector<std::string>& leaf_names() {
    static const auto names = names_where([](const auto& e) { return !e.takes_metric && !e.composite; });
    return names;
  }
  /// The leaves a composite can hold: LRSchedulers (timm's schedulers are not).
  static const std::vector<std::string>& child_names() {
    static const auto names =
        names_where([](const auto& e) { return !e.takes_metric && !e.composite && !e.timm_protocol; });
    return names;
  }
  /// The leaves that refuse an optimizer whose constructor lr is 0 whatever their arguments:
  /// transformers' polynomial divides by it (torchlr refuses; test_extra_schedules.cpp checks it).
  static bool needs_nonzero_constructor_lr(const std::string& name) { return name == "transformers.polynomial"; }
  /// child_names() without those.
  static const std::vector<std::string>& child_names_for_zero_constructor_lr() {
    static const auto names = names_where([](const auto& e) {
      return !e.takes_metric && !e.composite && !e.timm_protocol && !needs_nonzero_constructor_lr(e.name);
    });
    return names;
  }
  static const std::vector<std::string>& composite_names() {
    static const auto names = names_where([](const auto& e) { return e.composite; });
    return names;
  }
  static const std::vector<std::string>& metric_names() {
    static const auto names = names_where([](const auto& e) { return e.takes_metric; });
    return names;
  }

  int64_t integer(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }
  double log_uniform(double lo, double hi) { return std::exp(uniform(std::log(lo), std::log(hi))); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& pick(const std::vector<T>& values) {
    return values[static_cast<std::size_t>(integer(0, static_cast<int64_t>(values.size()) - 1))];
  }

  /// A value in [0, 1] that is 0 or 1 now and then.
  double fraction() {
    if (chance(0.1)) return chance(0.5) ? 0.0 : 1.0;
    return uniform(0.0, 1.0);
  }

  /// Mostly a decay in (0, 1]; sometimes growth, sometimes growth that overflows within a few
  /// dozen steps, sometimes zero or a sign flip (PyTorch accepts any gamma).
  double gamma() {
    const double r = uniform(0.0, 1.0);
    if (r < 0.75) return uniform(0.05, 1.0);
    if (r < 0.87) return uniform(1.0, 2.0);
    if (r < 0.95) return log_uniform(1e3, 1e40);
    return chance(0.5) ? 0.0 : -uniform(0.1, 1.0);
  }

  double lr() {
    if (chance(0.05)) return 0.0;
    if (chance(0.03)) return log_uniform(1e250, 1e300);  // near the top of the range
    return log_uniform(1e-6, 10.0);
  }

  /// A number, or one number per group (PyTorch's "float or list").
  template <typename Make>
  json per_group(std::size_t groups, Make make) {
    if (chance(0.5)) return make();
    json list = json::array();
    for (std::size_t g = 0; g < groups; ++g) list.push_back(make());
    return list;
  }

  /// An optimizer with 1-4 groups; `name` empty picks one at random. With
  /// `nonzero_constructor_lr` (for a scheduler that needs_nonzero_constructor_lr()), a drawn
  /// constructor lr of 0 becomes 1e-3; otherwise it stays, and the leaves drawn next avoid what
  /// it refuses (child_names_for_zero_constructor_lr(), min_lr_rate rather than min_lr).
  json optimizer(std::size_t groups, std::string name = "", bool nonzero_constructor_lr = false) {
    if (name.empty()) name = pick(std::vector<std::string>{"SGD", "Adam", "AdamW", "RMSprop", "Adagrad"});
    // Replacing a drawn 0 draws nothing more, so every other draw stays as it was.
    double constructor_lr = lr();
    if (constructor_lr == 0.0 && nonzero_constructor_lr) constructor_lr = 1e-3;
    optimizer_lr_ = constructor_lr;
    json o{{"name", name}, {"lr", constructor_lr}};
    auto momentum = [&](json& target) {
      if (name == "SGD" || name == "RMSprop") target["momentum"] = chance(0.2) ? 0.0 : uniform(0.0, 0.99);
      if (name == "Adam" || name == "AdamW") target["betas"] = {uniform(0.0, 0.99), uniform(0.9, 0.9999)};
    };
    momentum(o);
    json list = json::array();
    for (std::size_t g = 0; g < groups; ++g) {
      json group{{"lr", lr()}};
      if (chance(0.5)) momentum(group);
      list.push_back(group);
    }
    o["param_groups"] = list;
    return o;
  }

  /// A leaf scheduler; `steps` is lowered to what it allows (OneCycleLR's total_steps).
  json leaf(const std::string& name, std::size_t groups, const std::string& optimizer, int64_t& steps) {
    json s{{"name", name}};
    if (name == "StepLR") {
      s["step_size"] = integer(1, 20);
      s["gamma"] = gamma();
    } else if (name == "MultiStepLR") {
      json milestones = json::array();
      for (int64_t i = integer(0, 6); i > 0; --i) milestones.push_back(integer(-3, 60));
      s["milestones"] = milestones;
      s["gamma"] = gamma();
    } else if (name == "ConstantLR") {
      s["factor"] = chance(0.1) ? 1.0 : uniform(1e-3, 1.0);  // torchlr refuses 0 (PyTorch divides by it)
      s["total_iters"] = integer(0, 30);
    } else if (name == "LinearLR") {
      s["start_factor"] = chance(0.05) ? log_uniform(1e-300, 1e-3) : std::max(uniform(0.0, 1.0), 1e-3);
      s["end_factor"] = fraction();
      s["total_iters"] = integer(0, 30);
    } else if (name == "ExponentialLR") {
      s["gamma"] = gamma();
    } else if (name == "PolynomialLR") {
      s["total_iters"] = integer(1, 30);
      s["power"] = chance(0.1) ? 0.0 : uniform(0.0, 3.0);
    } else if (name == "CosineAnnealingLR") {
      s["T_max"] = integer(1, 30);
      s["eta_min"] = chance(0.3) ? 0.0 : uniform(-0.01, 0.1);
    } else if (name == "CosineAnnealingWarmRestarts") {
      s["T_0"] = integer(1, 20);
      s["T_mult"] = integer(1, 3);
      s["eta_min"] = chance(0.3) ? 0.0 : uniform(0.0, 0.01);
    } else if (name == "CyclicLR") {
      s["base_lr"] = per_group(groups, [&] { return log_uniform(1e-5, 0.1); });
      s["max_lr"] = per_group(groups, [&] { return log_uniform(1e-3, 5.0); });
      s["step_size_up"] = integer(1, 20);
      if (chance(0.5)) s["step_size_down"] = integer(0, 20);
      s["mode"] = pick(std::vector<std::string>{"triangular", "triangular2", "exp_range"});
      s["gamma"] = chance(0.1) ? gamma() : uniform(0.9, 1.0);
      s["scale_mode"] = pick(std::vector<std::string>{"cycle", "iterations"});
      add_momenta(s, groups, optimizer, 0.5, 0.99);
    } else if (name == "OneCycleLR") {
      s["max_lr"] = per_group(groups, [&] { return log_uniform(1e-4, 5.0); });
      int64_t total;
      if (chance(0.5)) {
        total = integer(2, 60);
        s["total_steps"] = total;
      } else {
        const int64_t per_epoch = integer(1, 10);
        const int64_t epochs = integer(per_epoch == 1 ? 2 : 1, 6);
        total = epochs * per_epoch;
        s["epochs"] = epochs;
        s["steps_per_epoch"] = per_epoch;
      }
      const bool three_phase = chance(0.3);
      s["three_phase"] = three_phase;
      s["pct_start"] = one_cycle_pct_start(total, three_phase);
      s["anneal_strategy"] = chance(0.5) ? "cos" : "linear";
      s["div_factor"] = chance(0.1) ? uniform(-10.0, -0.5) : log_uniform(0.5, 100.0);
      s["final_div_factor"] = log_uniform(0.5, 1e5);
      add_momenta(s, groups, optimizer, 0.5, 0.99);
      steps = std::min(steps, total);
    } else if (name == "SWALR") {
      s["swa_lr"] = per_group(groups, [&] { return chance(0.1) ? 0.0 : log_uniform(1e-5, 1.0); });
      s["anneal_epochs"] = chance(0.15) ? 0 : integer(1, 30);
      s["anneal_strategy"] = chance(0.5) ? "cos" : "linear";
    } else if (name.rfind("transformers.", 0) == 0) {
      transformers_leaf(name.substr(13), s);
    } else if (name == "fairseq.inverse_sqrt") {
      s["warmup_updates"] = integer(1, 30);
      if (chance(0.5)) s["warmup_init_lr"] = chance(0.3) ? -1.0 : log_uniform(1e-6, 0.1);
      if (chance(0.5)) s["lr"] = chance(0.5) ? json(lr()) : json::array({lr()});
    } else if (name == "fairseq.tri_stage") {
      if (chance(0.3)) {
        // Ratios whose Python sum is exactly 1, with a decay phase of at least one step.
        s["phase_ratio"] = pick(std::vector<json>{{0.1, 0.4, 0.5}, {0.7, 0.2, 0.1}, {0.0, 0.5, 0.5}, {0.25, 0.25, 0.5}});
        s["max_update"] = integer(10, 80);
      } else {
        s["warmup_steps"] = integer(0, 20);
        s["hold_steps"] = integer(0, 20);
        s["decay_steps"] = integer(1, 30);
      }
      s["init_lr_scale"] = chance(0.2) ? 0.0 : uniform(0.0, 1.0);
      s["final_lr_scale"] = log_uniform(1e-4, 1.0);
      if (chance(0.5)) s["lr"] = lr();
    } else if (name.rfind("timm.", 0) == 0) {
      timm_leaf(name.substr(5), groups, s);
    } else {
      // A scheduler added to the table needs its random arguments here.
      throw std::logic_error("ConfigGenerator: no random arguments for " + name);
    }
    return s;
  }

  /// What every timm scheduler takes: warmup, noise, per-group lr_scale (at most 1, so that no
  /// lr near the top of the range overflows).
  void timm_common(std::size_t groups, json& s) {
    if (chance(0.5)) s["warmup_t"] = integer(0, 10);
    if (chance(0.5)) s["warmup_lr_init"] = chance(0.3) ? 0.0 : log_uniform(1e-6, 1e-2);
    if (chance(0.3)) {
      const int64_t start = integer(0, 30);
      s["noise_range_t"] = chance(0.5) ? json(start) : json::array({start, start + integer(0, 30)});
      s["noise_pct"] = uniform(0.05, 1.0);
      s["noise_seed"] = integer(0, 1000);
    }
    if (chance(0.3)) {
      json scales = json::array();
      for (std::size_t g = 0; g < groups; ++g) scales.push_back(chance(0.1) ? 0.0 : uniform(0.0, 1.0));
      s["lr_scale"] = scales;
    }
  }

  /// timm's schedulers (`type` is the class name); create_scheduler_v2 without its plateau,
  /// which needs a metric (timm.PlateauLRScheduler is drawn by metric_scheduler).
  void timm_leaf(const std::string& type, std::size_t groups, json& s) {
    const bool cycles = type == "CosineLRScheduler" || type == "TanhLRScheduler" || type == "PolyLRScheduler";
    if (type == "create_scheduler_v2") {
      s["sched"] = pick(std::vector<std::string>{"cosine", "tanh", "step", "multistep", "poly"});
      s["num_epochs"] = integer(1, 30);
      s["decay_epochs"] = integer(1, 10);
      s["decay_milestones"] = {integer(1, 10), integer(10, 20)};
      s["decay_rate"] = uniform(0.1, 1.0);
      s["warmup_epochs"] = integer(0, 5);
      s["warmup_prefix"] = chance(0.5);
      if (chance(0.3)) s["noise"] = chance(0.5) ? json(uniform(0.0, 1.0)) : json::array({uniform(0.0, 0.5), uniform(0.5, 1.5)});
      s["cycle_decay"] = uniform(0.1, 1.0);
      s["cycle_limit"] = integer(1, 3);
      if (chance(0.5)) {
        s["step_on_epochs"] = false;
        s["updates_per_epoch"] = integer(1, 4);
      }
      return;
    }
    timm_common(groups, s);
    if (type != "PlateauLRScheduler") s["t_in_epochs"] = chance(0.5);
    if (cycles) {
      s["t_initial"] = integer(1, 30);
      if (chance(0.5)) s["lr_min"] = chance(0.3) ? 0.0 : log_uniform(1e-6, 1e-3);
      // Shrinking cycles are refused at the step where they run out (timm fails there).
      if (chance(0.3)) s["cycle_mul"] = chance(0.3) ? uniform(0.3, 1.0) : uniform(1.0, 3.0);
      s["cycle_decay"] = uniform(0.1, 1.0);
      s["cycle_limit"] = integer(0, 4);
      s["warmup_prefix"] = chance(0.5);
      // Tanh without prefix reads its curve at warmup_t when built: shrinking cycles could end
      // before it (refused at construction, as timm fails there).
      if (type == "TanhLRScheduler" && s.contains("cycle_mul") && s["cycle_mul"].get<double>() < 1.0) {
        s["warmup_prefix"] = true;
      }
      if (type != "TanhLRScheduler" && chance(0.5)) s["k_decay"] = uniform(0.0, 3.0);
    }
    if (type == "TanhLRScheduler") {
      s["lb"] = uniform(-10.0, -1.0);
      s["ub"] = uniform(0.0, 5.0);
    } else if (type == "PolyLRScheduler") {
      s["power"] = uniform(0.0, 3.0);
    } else if (type == "StepLRScheduler") {
      s["decay_t"] = chance(0.5) ? json(integer(1, 10)) : json(uniform(0.5, 5.0));
      s["decay_rate"] = uniform(0.0, 1.0);
      s["warmup_prefix"] = chance(0.5);
    } else if (type == "MultiStepLRScheduler") {
      json milestones = json::array();
      int64_t at = 0;
      for (int64_t i = integer(0, 4); i > 0; --i) milestones.push_back(at += integer(0, 15));
      s["decay_t"] = milestones;
      s["decay_rate"] = uniform(0.0, 1.0);
      s["warmup_prefix"] = chance(0.5);
    } else if (!cycles) {
      throw std::logic_error("ConfigGenerator: no random arguments for timm." + type);
    }
  }

  /// transformers' LambdaLR schedules (`type` is the lr_scheduler_type).
  void transformers_leaf(const std::string& type, json& s) {
    const int64_t warmup = integer(0, 20);
    const int64_t training = integer(0, 60);
    if (type == "constant") return;
    s["num_warmup_steps"] = warmup;
    if (type == "constant_with_warmup") return;
    if (type == "inverse_sqrt") {
      if (chance(0.5)) s["timescale"] = integer(1, 50);
      return;
    }
    if (type == "warmup_stable_decay") {
      s["num_decay_steps"] = integer(0, 20);
      if (chance(0.5)) {
        s["num_training_steps"] = training;
      } else {
        s["num_stable_steps"] = integer(-5, 30);
      }
      const std::vector<std::string> shapes{"linear", "cosine", "1-sqrt"};
      s["warmup_type"] = pick(shapes);
      s["decay_type"] = pick(shapes);
      s["min_lr_ratio"] = chance(0.3) ? 0.0 : uniform(0.0, 0.5);
      if (chance(0.3)) s["num_cycles"] = uniform(0.0, 2.0);
      return;
    }
    s["num_training_steps"] = training;
    if (type == "linear") return;
    if (type == "polynomial") {
      if (training == warmup) s["num_training_steps"] = training + 1;  // refused: it divides by zero
      s["lr_end"] = chance(0.2) ? 0.0 : optimizer_lr_ * uniform(0.0, 0.99);
      s["power"] = chance(0.1) ? 0.0 : uniform(0.0, 3.0);
      return;
    }
    if (type == "cosine_with_restarts") {
      s["num_cycles"] = chance(0.5) ? json(integer(0, 4)) : json(uniform(0.0, 4.0));
      return;
    }
    if (chance(0.5)) s["num_cycles"] = uniform(0.0, 2.0);
    if (type == "cosine") return;
    if (type == "cosine_with_min_lr" || type == "cosine_warmup_with_min_lr") {
      // min_lr is divided by the constructor lr: min_lr_rate when that is 0.
      if (chance(0.5) && optimizer_lr_ != 0.0) {
        s["min_lr"] = optimizer_lr_ * uniform(0.0, 0.5);
      } else {
        s["min_lr_rate"] = chance(0.1) ? uniform(1.0, 2.0) : uniform(0.0, 1.0);
      }
      if (type == "cosine_warmup_with_min_lr" && chance(0.5)) s["warmup_lr_rate"] = uniform(0.0, 1.0);
      return;
    }
    throw std::logic_error("ConfigGenerator: no random arguments for transformers." + type);
  }

  /// A SequentialLR or ChainedScheduler tree whose inner nodes are `depth` deep at most.
  json composite(int depth, std::size_t groups, const std::string& optimizer, int64_t& steps) {
    const std::string name = pick(composite_names());
    const bool sequential = name == "SequentialLR";
    if (!sequential && name != "ChainedScheduler") {
      throw std::logic_error("ConfigGenerator: no random arguments for " + name);
    }
    json s{{"name", name}};
    json children = json::array();
    const int64_t count = integer(1, 3);
    for (int64_t i = 0; i < count; ++i) {
      if (depth > 1 && chance(0.4)) {
        children.push_back(composite(depth - 1, groups, optimizer, steps));
      } else {
        const auto& names = optimizer_lr_ == 0.0 ? child_names_for_zero_constructor_lr() : child_names();
        children.push_back(leaf(pick(names), groups, optimizer, steps));
      }
    }
    s["schedulers"] = children;
    if (sequential) {
      json milestones = json::array();
      int64_t at = 0;
      for (int64_t i = 1; i < count; ++i) milestones.push_back(at += integer(1, 15));
      s["milestones"] = milestones;
    }
    return s;
  }

  /// A scheduler that steps on a metric.
  json metric_scheduler(const std::string& name, std::size_t groups) {
    if (name == "transformers.greedy") return greedy(groups);
    if (name == "timm.PlateauLRScheduler") {
      json s{{"name", name},
             {"decay_rate", chance(0.1) ? 0.0 : uniform(0.0, 0.99)},
             {"patience_t", integer(0, 5)},
             {"threshold", chance(0.2) ? 0.0 : uniform(0.0, 0.1)},
             {"cooldown_t", integer(0, 3)},
             {"lr_min", chance(0.5) ? 0.0 : log_uniform(1e-8, 1e-3)},
             {"mode", chance(0.5) ? "min" : "max"},
             {"noise_type", chance(0.5) ? "normal" : "uniform"}};
      timm_common(groups, s);
      return s;
    }
    // transformers' reduce_lr_on_plateau is ReduceLROnPlateau, with its arguments.
    if (name != "ReduceLROnPlateau" && name != "transformers.reduce_lr_on_plateau") {
      throw std::logic_error("ConfigGenerator: no random arguments for " + name);
    }
    return json{{"name", name},
                {"mode", chance(0.5) ? "min" : "max"},
                {"factor", chance(0.1) ? 0.0 : uniform(0.0, 0.99)},
                {"patience", integer(0, 5)},
                {"threshold", chance(0.2) ? 0.0 : uniform(0.0, 0.1)},
                {"threshold_mode", chance(0.5) ? "rel" : "abs"},
                {"cooldown", integer(0, 3)},
                {"min_lr", per_group(groups, [&] { return chance(0.5) ? 0.0 : log_uniform(1e-8, 1e-3); })},
                {"eps", chance(0.2) ? 0.0 : log_uniform(1e-12, 1e-6)}};
  }

  /// transformers' GreedyLR.
  json greedy(std::size_t groups) {
    json s{{"name", "transformers.greedy"},
           {"mode", chance(0.5) ? "min" : "max"},
           {"factor", chance(0.1) ? -uniform(0.1, 0.9) : uniform(0.05, 0.99)},
           {"patience", integer(0, 5)},
           {"threshold", chance(0.2) ? 0.0 : uniform(0.0, 0.1)},
           {"threshold_mode", chance(0.5) ? "rel" : "abs"},
           {"cooldown", integer(0, 3)},
           {"warmup", integer(0, 3)},
           {"min_lr", per_group(groups, [&] { return chance(0.5) ? 0.0 : log_uniform(1e-8, 1e-3); })},
           {"max_lr", per_group(groups, [&] { return log_uniform(1e-3, 10.0); })},
           {"eps", chance(0.2) ? 0.0 : log_uniform(1e-12, 1e-6)},
           {"smooth", chance(0.5)},
           {"window_size", integer(1, 8)},
           {"reset_start", integer(-1, 6)}};
    return s;
  }

  /// A metric: a noisy walk, with NaN and ±Inf now and then.
  double metric(double& level) {
    const double r = uniform(0.0, 1.0);
    if (r < 0.03) return std::nan("");
    if (r < 0.05) return chance(0.5) ? INFINITY : -INFINITY;
    level += uniform(-1.0, 1.0);
    return level;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  void add_momenta(json& s, std::size_t groups, const std::string& optimizer, double lo, double hi) {
    // Adagrad has no momentum: cycling it is refused, so such configs turn it off.
    const bool cycle = optimizer != "Adagrad" && chance(0.8);
    s["cycle_momentum"] = cycle;
    if (!cycle) return;
    const double base = uniform(lo, hi);
    s["base_momentum"] = per_group(groups, [&] { return base; });
    s["max_momentum"] = per_group(groups, [&] { return uniform(base, hi); });
  }

  // OneCycleLR refuses a phase of zero length; phase ends are pct·T - 1, (2·pct·T - 2), T - 1.
  double one_cycle_pct_start(int64_t total, bool three_phase) {
    const double t = static_cast<double>(total);
    for (;;) {
      const double pct = fraction();
      const double first = pct * t - 1;
      std::vector<double> ends{first};
      if (three_phase) ends.push_back(2 * pct * t - 2);
      ends.push_back(t - 1);
      bool ok = true;
      double start = 0.0;
      for (double end : ends) {
        ok = ok && end - start != 0;
        start = end;
      }
      if (ok) return pct;
    }
  }

  std::mt19937_64 rng_;
  double optimizer_lr_ = 1e-3;  // the last optimizer()'s constructor lr (may be 0)
};

}  // namespace torchlr::testing
