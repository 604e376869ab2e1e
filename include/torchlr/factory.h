#pragma once

// Building schedulers from configs, as Python does with
// `getattr(torch.optim.lr_scheduler, cfg["name"])(optimizer, **cfg["kwargs"])`:
//
//     auto s = torchlr::make_scheduler(optimizer, torchlr::Config{{"name", "StepLR"}, {"step_size", 30}});
//     auto t = torchlr::make_scheduler(optimizer, "OneCycleLR", {{"max_lr", 0.1}, {"total_steps", 1000}});
//
// Every torchlr scheduler is registered under its PyTorch name, with PyTorch's keyword argument
// names; an argument that is absent keeps the default of the scheduler's options struct.
// Unknown names and keys, ill-typed values and missing required arguments are c10::ValueErrors
// naming the key. Your own scheduler types join the table with `register_scheduler`.
// torchlr/config_json.h reads the same configs from nlohmann::json or JSON text.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <torchlr/config.h>
#include <torchlr/per_group.h>
#include <torchlr/scheduler_base.h>

namespace torchlr {

class LRScheduler;
using SchedulerList = std::vector<std::shared_ptr<LRScheduler>>;

/// The keyword arguments of one scheduler being built, as its maker reads them. Each read names
/// the key's full path in its errors (`scheduler.schedulers[1].T_max must be an integer, but
/// got 2.5`), and no key may be left unread: a misspelt argument is refused, not ignored.
///
/// A maker starts from the options struct, whose defaults are PyTorch's, and overwrites only
/// what the config sets:
///
///     torchlr::StepLROptions options(args.required<int64_t>("step_size"));
///     args.optional("gamma", options.gamma());   // options.gamma() is a reference
///     return args.construct<torchlr::StepLR>(options);
class SchedulerArgs {
 public:
  SchedulerArgs(const Config& config, torch::optim::Optimizer& optimizer, std::string path, int depth);

  /// The scheduler's registered name (the config's `name`).
  const std::string& name() const noexcept { return name_; }
  torch::optim::Optimizer& optimizer() const noexcept { return *optimizer_; }
  /// Where this config sits (`scheduler`, `scheduler.schedulers[0]`), for messages.
  const std::string& path() const noexcept { return path_; }

  /// Whether the config sets `key`.
  bool has(const std::string& key) const { return config_.contains(key); }

  /// The value of `key` as a T; a missing key or a value of another type is a c10::ValueError.
  /// T: double, int64_t, bool, std::string, std::vector<double>, std::vector<int64_t>,
  /// PerGroup (a number or one per group), std::optional<int64_t> or std::optional<double> (a
  /// number or None), or an
  /// enum with a `parse_config_enum(const std::string& path, const std::string&, E&)` overload
  /// (torchlr's modes have one).
  template <typename T>
  T required(const std::string& key) {
    T value{};
    read(key, value);
    return value;
  }

  /// Overwrites `target` with `key`'s value when the config sets it; otherwise `target` keeps
  /// its default (pass the options struct's member: `args.optional("gamma", options.gamma())`).
  template <typename T>
  SchedulerArgs& optional(const std::string& key, T& target) {
    if (has(key)) read(key, target);
    return *this;
  }

  /// An integer argument that PyTorch checks with `isinstance(x, int)` inside the scheduler: a
  /// number that is not an integer is refused with PyTorch's words, `refusal` followed by the
  /// value (`scheduler.T_0: Expected positive integer T_0, but got 2.5`). Required.
  int64_t integer_refused_as(const std::string& key, const std::string& refusal);
  /// The same, overwriting `target` only when the config sets `key`.
  SchedulerArgs& optional_integer_refused_as(const std::string& key, int64_t& target, const std::string& refusal);

  /// `key`'s list of scheduler configs, each built on the same optimizer (a composite's
  /// children). A scheduler that is not an LRScheduler (ReduceLROnPlateau) is refused.
  SchedulerList schedulers(const std::string& key);

  /// The raw value of `key` (marked as read), for a maker with types of its own.
  const ConfigValue& raw(const std::string& key);

  /// Refuses keys nobody read. `construct` and `make_scheduler` call it.
  void finish() const;

  /// Checks that every key was read, then builds `Scheduler(optimizer(), args...)`.
  template <typename Scheduler, typename... Args>
  std::unique_ptr<SchedulerBase> construct(Args&&... args) {
    finish();
    return std::make_unique<Scheduler>(optimizer(), std::forward<Args>(args)...);
  }

  /// A key's path, as messages name it: `scheduler.gamma`.
  std::string where(const std::string& key) const { return path_ + "." + key; }

 private:
  void read(const std::string& key, double& out);
  void read(const std::string& key, int64_t& out);
  void read(const std::string& key, bool& out);
  void read(const std::string& key, std::string& out);
  void read(const std::string& key, std::vector<double>& out);
  void read(const std::string& key, std::vector<int64_t>& out);
  void read(const std::string& key, PerGroup& out);
  void read(const std::string& key, std::optional<int64_t>& out);
  void read(const std::string& key, std::optional<double>& out);
  template <typename E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
  void read(const std::string& key, E& out) {
    std::string text;
    read(key, text);
    parse_config_enum(where(key), text, out);
  }

  const Config& config_;
  torch::optim::Optimizer* optimizer_;
  std::string path_;
  int depth_;
  std::string name_;
  std::set<std::string> used_;
};

/// Builds one scheduler from its arguments (see SchedulerArgs).
using SchedulerMaker = std::function<std::unique_ptr<SchedulerBase>(SchedulerArgs& args)>;

/// One row of the scheduler table.
struct SchedulerEntry {
  SchedulerEntry(std::string name, SchedulerMaker make, Config example = Config(), bool takes_metric = false,
                 bool composite = false, bool fractional_epochs = false, bool steps_to_epochs = false,
                 bool timm_protocol = false)
      : name(std::move(name)),
        make(std::move(make)),
        example(std::move(example)),
        takes_metric(takes_metric),
        composite(composite),
        fractional_epochs(fractional_epochs),
        steps_to_epochs(steps_to_epochs),
        timm_protocol(timm_protocol) {}

  /// The name configs use (PyTorch's class name for torchlr's own).
  std::string name;
  SchedulerMaker make;
  /// A config that builds it with arguments of its own, nested children included; the tests,
  /// fuzzers and benchmarks iterate over these. Empty for a scheduler no config can express.
  Config example;
  /// Its step takes a metric (ReduceLROnPlateau).
  bool takes_metric = false;
  /// It takes child schedulers under `schedulers` (SequentialLR, ChainedScheduler).
  bool composite = false;
  /// Its `step(epoch)` takes fractional epochs (CosineAnnealingWarmRestarts).
  bool fractional_epochs = false;
  /// Upstream steps it to absolute step numbers, which is its `step(epoch)` (fairseq's
  /// `step_update(num_updates)`): a trace may give them (`epochs`).
  bool steps_to_epochs = false;
  /// Stepped as timm's schedulers are: `step(epoch, metric)` or `step_update(num_updates,
  /// metric)` with an absolute t (torchlr::timm::Scheduler). A trace may give `epochs`, `metrics`
  /// (optional, as in timm), `call`, and `lr_scale` in the optimizer's param groups.
  bool timm_protocol = false;
};

/// Adds a scheduler to the table; a name already taken is a c10::ValueError. Thread-safe.
///
///     torchlr::register_scheduler({"WarmupInverseSqrt", [](torchlr::SchedulerArgs& args) {
///       return args.construct<WarmupInverseSqrt>(args.required<int64_t>("warmup_steps"));
///     }});
void register_scheduler(SchedulerEntry entry);

/// The table: torchlr's schedulers in PyTorch's documentation order, then those registered.
std::vector<SchedulerEntry> registered_schedulers();

/// Their names, in the same order.
std::vector<std::string> scheduler_names();

/// The entry named `name`, if there is one.
std::optional<SchedulerEntry> find_scheduler(const std::string& name);

/// Builds the scheduler `config` describes (its `name` and keyword arguments) on `optimizer`.
/// `path` names the config in messages.
std::unique_ptr<SchedulerBase> make_scheduler(torch::optim::Optimizer& optimizer, const Config& config,
                                              const std::string& path = "scheduler");

/// `make_scheduler(optimizer, kwargs with name added)`: Python's `Name(optimizer, **kwargs)`.
std::unique_ptr<SchedulerBase> make_scheduler(torch::optim::Optimizer& optimizer, const std::string& name,
                                              Config kwargs);

/// As make_scheduler, for a scheduler that steps without a metric (an LRScheduler, which a
/// SequentialLR or ChainedScheduler takes); ReduceLROnPlateau is refused.
std::shared_ptr<LRScheduler> make_lr_scheduler(torch::optim::Optimizer& optimizer, const Config& config,
                                               const std::string& path = "scheduler");

}  // namespace torchlr
