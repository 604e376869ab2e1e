#include <torchlr/factory.h>

#include <cmath>
#include <mutex>

#include <c10/util/Exception.h>
#include <torch/optim/optimizer.h>

#include <torchlr/scheduler.h>

#include "factory_internal.h"

namespace torchlr {
namespace {

// Composites nest; deeper than this is surely a mistake, and would only exhaust the stack.
constexpr int kMaxNesting = 32;

// The table: torchlr's own schedulers first (built on first use, so no static initialisation
// order matters and a static library's linker cannot drop them), then the registered ones.
class Registry {
 public:
  // Deliberately immortal, as torchlr's other registries: a static object of the program may
  // build or look up schedulers while function-local statics are being destroyed.
  static Registry& instance() {
    static auto* registry = new Registry;
    return *registry;
  }

  void add(SchedulerEntry entry) {
    TORCH_CHECK_VALUE(!entry.name.empty(), "register_scheduler: the name must not be empty");
    TORCH_CHECK_VALUE(static_cast<bool>(entry.make), "register_scheduler: '", entry.name, "' has no maker");
    std::lock_guard<std::mutex> lock(mutex_);
    TORCH_CHECK_VALUE(find_locked(entry.name) == nullptr, "register_scheduler: a scheduler named '",
                      entry.name, "' is registered already");
    entries_.push_back(std::move(entry));
  }

  std::vector<SchedulerEntry> all() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_;
  }

  std::optional<SchedulerEntry> find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const SchedulerEntry* entry = find_locked(name);
    if (entry == nullptr) return std::nullopt;
    return *entry;
  }

 private:
  Registry() : entries_(detail::builtin_schedulers()) {}

  const SchedulerEntry* find_locked(const std::string& name) const {
    for (const auto& entry : entries_) {
      if (entry.name == name) return &entry;
    }
    return nullptr;
  }

  mutable std::mutex mutex_;
  std::vector<SchedulerEntry> entries_;
};

// The config's name, checked.
std::string name_of(const Config& config, const std::string& path) {
  TORCH_CHECK_VALUE(config.contains("name"), path, ": missing required key 'name'");
  const ConfigValue& name = config.at("name");
  TORCH_CHECK_VALUE(name.is_string(), path, ".name must be a string, but got ", name.dump());
  return name.as_string();
}

// transformers' words for an unknown `lr_scheduler_type`, which list its types:
// "cosine_annealing is not a valid SchedulerType, please select one of ['linear', ...]".
std::string unknown_transformers_type(const std::string& name) {
  const std::string family = "transformers.";
  if (name.rfind(family, 0) != 0) return "";
  std::string types;
  for (const auto& entry : Registry::instance().all()) {
    if (entry.name.rfind(family, 0) == 0) types += (types.empty() ? "'" : ", '") + entry.name.substr(family.size()) + "'";
  }
  return ": " + name.substr(family.size()) + " is not a valid SchedulerType, please select one of [" + types + "]";
}

SchedulerEntry entry_of(const std::string& name, const std::string& path) {
  auto entry = Registry::instance().find(name);
  TORCH_CHECK_VALUE(entry.has_value(), path, ".name: unknown scheduler '", name, "'", unknown_transformers_type(name));
  return std::move(*entry);
}

std::unique_ptr<SchedulerBase> build(torch::optim::Optimizer& optimizer, const Config& config,
                                     const std::string& path, int depth) {
  TORCH_CHECK_VALUE(depth <= kMaxNesting, path, ": schedulers nested deeper than ", kMaxNesting, " levels");
  const SchedulerEntry entry = entry_of(name_of(config, path), path);
  SchedulerArgs args(config, optimizer, path, depth);
  auto scheduler = entry.make(args);
  TORCH_CHECK_VALUE(scheduler != nullptr, path, ": the maker of ", entry.name, " returned no scheduler");
  args.finish();
  return scheduler;
}

std::shared_ptr<LRScheduler> build_lr_scheduler(torch::optim::Optimizer& optimizer, const ConfigValue& value,
                                                const std::string& path, int depth) {
  TORCH_CHECK_VALUE(value.is_config(), path, " must be a scheduler config (an object with a name), but got ",
                    value.dump());
  const Config& config = value.as_config();
  const std::string name = name_of(config, path);
  TORCH_CHECK_VALUE(!entry_of(name, path).takes_metric, path, ".name: ", name,
                    " steps on a metric and cannot be part of a SequentialLR or ChainedScheduler");
  std::shared_ptr<SchedulerBase> scheduler = build(optimizer, config, path, depth);
  auto lr_scheduler = std::dynamic_pointer_cast<LRScheduler>(scheduler);
  TORCH_CHECK_VALUE(lr_scheduler != nullptr, path, ".name: ", name,
                    " is not an LRScheduler and cannot be part of a SequentialLR or ChainedScheduler");
  return lr_scheduler;
}

}  // namespace

// ---- SchedulerArgs ----------------------------------------------------------------------------

SchedulerArgs::SchedulerArgs(const Config& config, torch::optim::Optimizer& optimizer, std::string path,
                             int depth)
    : config_(config), optimizer_(&optimizer), path_(std::move(path)), depth_(depth) {
  name_ = name_of(config_, path_);
  used_.insert("name");
}

const ConfigValue& SchedulerArgs::raw(const std::string& key) {
  TORCH_CHECK_VALUE(has(key), path_, ": missing required key '", key, "'");
  used_.insert(key);
  return config_.at(key);
}

void SchedulerArgs::finish() const {
  for (const auto& [key, value] : config_) {
    TORCH_CHECK_VALUE(used_.count(key) == 1, path_, ": unknown key '", key, "' for ", name_);
  }
}

void SchedulerArgs::read(const std::string& key, double& out) {
  const ConfigValue& v = raw(key);
  TORCH_CHECK_VALUE(v.is_number(), where(key), " must be a number, but got ", v.dump());
  const double d = v.as_number();
  TORCH_CHECK_VALUE(std::isfinite(d), where(key), " must be finite, but got ", v.dump());
  out = d;
}

void SchedulerArgs::read(const std::string& key, int64_t& out) {
  const ConfigValue& v = raw(key);
  TORCH_CHECK_VALUE(v.is_integer(), where(key), " must be an integer, but got ", v.dump());
  out = v.as_integer();
}

void SchedulerArgs::read(const std::string& key, bool& out) {
  const ConfigValue& v = raw(key);
  TORCH_CHECK_VALUE(v.is_bool(), where(key), " must be true or false, but got ", v.dump());
  out = v.as_bool();
}

void SchedulerArgs::read(const std::string& key, std::string& out) {
  const ConfigValue& v = raw(key);
  TORCH_CHECK_VALUE(v.is_string(), where(key), " must be a string, but got ", v.dump());
  out = v.as_string();
}

void SchedulerArgs::read(const std::string& key, std::vector<double>& out) {
  const ConfigValue& v = raw(key);
  TORCH_CHECK_VALUE(v.is_list(), where(key), " must be an array of numbers, but got ", v.dump());
  std::vector<double> values;
  const auto& list = v.as_list();
  for (std::size_t i = 0; i < list.size(); ++i) {
    TORCH_CHECK_VALUE(list[i].is_number() && std::isfinite(list[i].as_number()), where(key), "[", i,
                      "] must be a finite number, but got ", list[i].dump());
    values.push_back(list[i].as_number());
  }
  out = std::move(values);
}

void SchedulerArgs::read(const std::string& key, std::vector<int64_t>& out) {
  const ConfigValue& v = raw(key);
  TORCH_CHECK_VALUE(v.is_list(), where(key), " must be an array of integers, but got ", v.dump());
  std::vector<int64_t> values;
  const auto& list = v.as_list();
  for (std::size_t i = 0; i < list.size(); ++i) {
    TORCH_CHECK_VALUE(list[i].is_integer(), where(key), "[", i, "] must be an integer, but got ", list[i].dump());
    values.push_back(list[i].as_integer());
  }
  out = std::move(values);
}

void SchedulerArgs::read(const std::string& key, PerGroup& out) {
  if (raw(key).is_list()) {
    std::vector<double> values;
    read(key, values);
    out = PerGroup(std::move(values));
  } else {
    double value = 0.0;
    read(key, value);
    out = PerGroup(value);
  }
}

void SchedulerArgs::read(const std::string& key, std::optional<int64_t>& out) {
  if (raw(key).is_null()) {
    out = std::nullopt;
    return;
  }
  int64_t value = 0;
  read(key, value);
  out = value;
}

void SchedulerArgs::read(const std::string& key, std::optional<double>& out) {
  if (raw(key).is_null()) {
    out = std::nullopt;
    return;
  }
  double value = 0.0;
  read(key, value);
  out = value;
}

int64_t SchedulerArgs::integer_refused_as(const std::string& key, const std::string& refusal) {
  const ConfigValue& v = raw(key);
  TORCH_CHECK_VALUE(!v.is_float(), where(key), ": ", refusal, v.dump());
  return required<int64_t>(key);
}

SchedulerArgs& SchedulerArgs::optional_integer_refused_as(const std::string& key, int64_t& target,
                                                          const std::string& refusal) {
  if (has(key)) target = integer_refused_as(key, refusal);
  return *this;
}

SchedulerList SchedulerArgs::schedulers(const std::string& key) {
  const ConfigValue& v = raw(key);
  TORCH_CHECK_VALUE(v.is_list(), where(key), " must be an array of scheduler objects, but got ", v.dump());
  SchedulerList children;
  const auto& list = v.as_list();
  for (std::size_t i = 0; i < list.size(); ++i) {
    children.push_back(build_lr_scheduler(*optimizer_, list[i], where(key) + "[" + std::to_string(i) + "]",
                                          depth_ + 1));
  }
  return children;
}

// ---- the table ----------------------------------------------------------------------------------

void register_scheduler(SchedulerEntry entry) { Registry::instance().add(std::move(entry)); }

std::vector<SchedulerEntry> registered_schedulers() { return Registry::instance().all(); }

std::vector<std::string> scheduler_names() {
  std::vector<std::string> names;
  for (const auto& entry : Registry::instance().all()) names.push_back(entry.name);
  return names;
}

std::optional<SchedulerEntry> find_scheduler(const std::string& name) { return Registry::instance().find(name); }

std::unique_ptr<SchedulerBase> make_scheduler(torch::optim::Optimizer& optimizer, const Config& config,
                                              const std::string& path) {
  return build(optimizer, config, path, 0);
}

std::unique_ptr<SchedulerBase> make_scheduler(torch::optim::Optimizer& optimizer, const std::string& name,
                                              Config kwargs) {
  TORCH_CHECK_VALUE(!kwargs.contains("name"), name, ": 'name' is not a keyword argument");
  kwargs.set("name", name);
  return make_scheduler(optimizer, kwargs, name);
}

std::shared_ptr<LRScheduler> make_lr_scheduler(torch::optim::Optimizer& optimizer, const Config& config,
                                               const std::string& path) {
  return build_lr_scheduler(optimizer, config, path, 0);
}

}  // namespace torchlr
