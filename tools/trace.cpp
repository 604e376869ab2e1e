#include "trace.h"

#include <charconv>
#include <cmath>
#include <ostream>
#include <limits>
#include <set>

#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include <torchlr/config_json.h>
#include <torchlr/factory.h>
#include <torchlr/momentum.h>
#include <torchlr/scheduler.h>
#include <torchlr/timm.h>

namespace torchlr::trace {
namespace {

using json = nlohmann::json;

// A JSON object being read: each getter names the full path of the key in its error, and
// finish() refuses keys nobody read, so a misspelt argument is never silently ignored.
class Object {
 public:
  Object(const json& value, std::string path) : value_(value), path_(std::move(path)) {
    TORCH_CHECK_VALUE(value_.is_object(), path_, " must be a JSON object, but got ", value_.dump());
  }

  bool has(const std::string& key) const { return value_.contains(key); }
  const std::string& path() const { return path_; }

  const json& raw(const std::string& key) {
    TORCH_CHECK_VALUE(has(key), path_, ": missing required key '", key, "'");
    used_.insert(key);
    return value_.at(key);
  }

  double number(const std::string& key) {
    const json& v = raw(key);
    TORCH_CHECK_VALUE(v.is_number(), where(key), " must be a number, but got ", v.dump());
    const double d = v.get<double>();
    TORCH_CHECK_VALUE(std::isfinite(d), where(key), " must be finite, but got ", v.dump());
    return d;
  }
  double number(const std::string& key, double fallback) { return has(key) ? number(key) : fallback; }

  /// PyTorch's optimizers refuse negative lrs, momenta, decays and eps with a ValueError;
  /// LibTorch would throw later, or not at all.
  double non_negative(const std::string& key, double fallback) {
    const double d = number(key, fallback);
    TORCH_CHECK_VALUE(d >= 0, where(key), " must be non-negative, but got ", d);
    return d;
  }

  int64_t integer(const std::string& key) { return as_integer(raw(key), where(key)); }
  int64_t integer(const std::string& key, int64_t fallback) {
    return has(key) ? integer(key) : fallback;
  }

  bool boolean(const std::string& key, bool fallback) {
    if (!has(key)) return fallback;
    const json& v = raw(key);
    TORCH_CHECK_VALUE(v.is_boolean(), where(key), " must be true or false, but got ", v.dump());
    return v.get<bool>();
  }

  std::string string(const std::string& key) {
    const json& v = raw(key);
    TORCH_CHECK_VALUE(v.is_string(), where(key), " must be a string, but got ", v.dump());
    return v.get<std::string>();
  }

  std::vector<double> numbers(const std::string& key) {
    const json& v = raw(key);
    TORCH_CHECK_VALUE(v.is_array(), where(key), " must be an array of numbers, but got ", v.dump());
    std::vector<double> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      TORCH_CHECK_VALUE(v[i].is_number() && std::isfinite(v[i].get<double>()), where(key), "[", i,
                        "] must be a finite number, but got ", v[i].dump());
      out.push_back(v[i].get<double>());
    }
    return out;
  }

  void finish() const {
    for (auto it = value_.begin(); it != value_.end(); ++it) {
      TORCH_CHECK_VALUE(used_.count(it.key()) == 1, path_, ": unknown key '", it.key(), "'",
                        name_hint());
    }
  }

 private:
  std::string where(const std::string& key) const { return path_ + "." + key; }

  std::string name_hint() const {
    if (value_.contains("name") && value_.at("name").is_string()) {
      return " for " + value_.at("name").get<std::string>();
    }
    return "";
  }

  static int64_t as_integer(const json& v, const std::string& where) {
    TORCH_CHECK_VALUE(v.is_number_integer(), where, " must be an integer, but got ", v.dump());
    return v.get<int64_t>();
  }

  const json& value_;
  std::string path_;
  std::set<std::string> used_;
};

// ---- optimizer ------------------------------------------------------------------------------

// Reads one optimizer's options from `o` on top of `base`; the keys are PyTorch's.
template <typename Options>
Options read_options(Object& o, Options options);

template <>
torch::optim::SGDOptions read_options(Object& o, torch::optim::SGDOptions x) {
  x.lr(o.non_negative("lr", x.lr()));
  x.momentum(o.non_negative("momentum", x.momentum()));
  x.dampening(o.number("dampening", x.dampening()));
  x.weight_decay(o.non_negative("weight_decay", x.weight_decay()));
  x.nesterov(o.boolean("nesterov", x.nesterov()));
  TORCH_CHECK_VALUE(!x.nesterov() || (x.momentum() > 0 && x.dampening() == 0), o.path(),
                    ": Nesterov momentum requires a momentum and zero dampening");
  return x;
}

std::tuple<double, double> read_betas(Object& o, std::tuple<double, double> betas) {
  if (!o.has("betas")) return betas;
  const json& v = o.raw("betas");
  TORCH_CHECK_VALUE(v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number(),
                    o.path(), ".betas must be an array of two numbers, but got ", v.dump());
  for (std::size_t i = 0; i < 2; ++i) {
    const double beta = v[i].get<double>();
    TORCH_CHECK_VALUE(beta >= 0 && beta < 1, o.path(), ".betas[", i, "] must be in [0, 1), but got ", beta);
  }
  return {v[0].get<double>(), v[1].get<double>()};
}

template <>
torch::optim::AdamOptions read_options(Object& o, torch::optim::AdamOptions x) {
  x.lr(o.non_negative("lr", x.lr()));
  x.betas(read_betas(o, x.betas()));
  x.eps(o.non_negative("eps", x.eps()));
  x.weight_decay(o.non_negative("weight_decay", x.weight_decay()));
  x.amsgrad(o.boolean("amsgrad", x.amsgrad()));
  return x;
}

template <>
torch::optim::AdamWOptions read_options(Object& o, torch::optim::AdamWOptions x) {
  x.lr(o.non_negative("lr", x.lr()));
  x.betas(read_betas(o, x.betas()));
  x.eps(o.non_negative("eps", x.eps()));
  x.weight_decay(o.non_negative("weight_decay", x.weight_decay()));
  x.amsgrad(o.boolean("amsgrad", x.amsgrad()));
  return x;
}

template <>
torch::optim::RMSpropOptions read_options(Object& o, torch::optim::RMSpropOptions x) {
  x.lr(o.non_negative("lr", x.lr()));
  x.alpha(o.non_negative("alpha", x.alpha()));
  x.eps(o.non_negative("eps", x.eps()));
  x.weight_decay(o.non_negative("weight_decay", x.weight_decay()));
  x.momentum(o.non_negative("momentum", x.momentum()));
  x.centered(o.boolean("centered", x.centered()));
  return x;
}

template <>
torch::optim::AdagradOptions read_options(Object& o, torch::optim::AdagradOptions x) {
  x.lr(o.non_negative("lr", x.lr()));
  x.lr_decay(o.non_negative("lr_decay", x.lr_decay()));
  x.weight_decay(o.non_negative("weight_decay", x.weight_decay()));
  x.initial_accumulator_value(o.non_negative("initial_accumulator_value", x.initial_accumulator_value()));
  x.eps(o.non_negative("eps", x.eps()));
  return x;
}

// Each group gets its own one-element tensor, as the format says.
template <typename Optimizer, typename Options>
std::unique_ptr<torch::optim::Optimizer> build_optimizer(Object& o, Options defaults,
                                                         std::vector<torch::Tensor>& params) {
  defaults = read_options(o, defaults);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add_group = [&](const Options& options) {
    params.push_back(torch::zeros({1}, torch::dtype(torch::kDouble)).requires_grad_());
    groups.emplace_back(std::vector<torch::Tensor>{params.back()},
                        std::make_unique<Options>(options));
  };
  if (o.has("param_groups")) {
    const json& list = o.raw("param_groups");
    TORCH_CHECK_VALUE(list.is_array() && !list.empty(), o.path(),
                      ".param_groups must be a non-empty array of objects, but got ", list.dump());
    for (std::size_t i = 0; i < list.size(); ++i) {
      Object group(list[i], o.path() + ".param_groups[" + std::to_string(i) + "]");
      add_group(read_options(group, defaults));
      group.finish();
    }
  } else {
    add_group(defaults);
  }
  o.finish();
  return std::make_unique<Optimizer>(std::move(groups), defaults);
}

std::unique_ptr<torch::optim::Optimizer> build_optimizer(const json& config,
                                                         std::vector<torch::Tensor>& params) {
  Object o(config, "optimizer");
  const std::string name = o.string("name");
  // Defaults are LibTorch's options' own (PyTorch's); SGDOptions has no default lr in LibTorch,
  // so SGD gets current PyTorch's, 1e-3.
  if (name == "SGD") {
    return build_optimizer<torch::optim::SGD>(o, torch::optim::SGDOptions(1e-3), params);
  }
  if (name == "Adam") {
    return build_optimizer<torch::optim::Adam>(o, torch::optim::AdamOptions(), params);
  }
  if (name == "AdamW") {
    return build_optimizer<torch::optim::AdamW>(o, torch::optim::AdamWOptions(), params);
  }
  if (name == "RMSprop") {
    return build_optimizer<torch::optim::RMSprop>(o, torch::optim::RMSpropOptions(), params);
  }
  if (name == "Adagrad") {
    return build_optimizer<torch::optim::Adagrad>(o, torch::optim::AdagradOptions(), params);
  }
  // A throw expression, so that no build warns of a missing return.
  C10_THROW_ERROR(ValueError, c10::str("optimizer.name: unknown optimizer '", name,
                                       "' (expected SGD, Adam, AdamW, RMSprop or Adagrad)"));
}

std::optional<double> momentum_of(const torch::optim::OptimizerOptions& options) {
  const MomentumAccess* access = momentum_access(options);
  if (access == nullptr) return std::nullopt;
  return access->get(options);
}

// The "name" of a scheduler config, or "" when there is none or it is not a string (the reader
// then says so); json::value would throw its own exception on a name of another type.
std::string name_of(const json& scheduler) {
  if (!scheduler.is_object() || !scheduler.contains("name") || !scheduler["name"].is_string()) return "";
  return scheduler["name"].get<std::string>();
}

// The names of the table's schedulers with a flag set, for messages: "A or B".
template <typename Flag>
std::string names_where(Flag flag) {
  std::string out;
  for (const auto& entry : registered_schedulers()) {
    if (flag(entry)) out += (out.empty() ? "" : " or ") + entry.name;
  }
  return out;
}
std::string epoch_schedulers() {
  return names_where(
      [](const SchedulerEntry& e) { return e.fractional_epochs || e.steps_to_epochs || e.timm_protocol; });
}
std::string metric_schedulers() {
  return names_where([](const SchedulerEntry& e) { return e.takes_metric || e.timm_protocol; });
}

// A trace keeps every row in memory; beyond this it would be a typo, not a schedule.
constexpr int64_t kMaxSteps = 10'000'000;

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const json& config,
                                                        std::vector<torch::Tensor>& params) {
  return build_optimizer(config, params);
}

std::unique_ptr<SchedulerBase> make_scheduler(const json& config, torch::optim::Optimizer& optimizer) {
  return torchlr::make_scheduler(optimizer, config_from_json(config, "scheduler"), "scheduler");
}

namespace {

// timm reads each group's `lr_scale` from the param group itself; LibTorch groups cannot hold it,
// so the trace moves the groups' values into the scheduler's `lr_scale` (1 for a group without).
// Only timm's schedulers use it: for any other it would be silently ignored, so it is refused.
void move_lr_scales(json& optimizer, json& scheduler, const std::optional<SchedulerEntry>& entry) {
  if (!optimizer.is_object() || !optimizer.contains("param_groups") || !optimizer["param_groups"].is_array()) return;
  json& groups = optimizer["param_groups"];
  std::vector<double> scales(groups.size(), 1.0);
  bool any = false;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (!groups[i].is_object() || !groups[i].contains("lr_scale")) continue;
    const std::string where = "optimizer.param_groups[" + std::to_string(i) + "].lr_scale";
    TORCH_CHECK_VALUE(entry && entry->timm_protocol, where, " is only accepted for timm's schedulers (timm.*)");
    const json& v = groups[i]["lr_scale"];
    TORCH_CHECK_VALUE(v.is_number(), where, " must be a number, but got ", v.dump());
    scales[i] = v.get<double>();
    groups[i].erase("lr_scale");
    any = true;
  }
  if (!any) return;
  TORCH_CHECK_VALUE(scheduler.is_object() && !scheduler.contains("lr_scale"),
                    "scheduler.lr_scale and optimizer.param_groups[].lr_scale cannot both be given");
  scheduler["lr_scale"] = scales;
}

}  // namespace

TraceRun::TraceRun(const json& config) {
  Object top(config, "config");
  json optimizer = top.raw("optimizer");
  json scheduler = top.raw("scheduler");
  steps_ = top.integer("steps");
  TORCH_CHECK_VALUE(steps_ >= 0 && steps_ <= kMaxSteps, "config.steps must be an integer in [0, ", kMaxSteps,
                    "], but got ", steps_);
  // What the scheduler's step takes comes from the table; an unknown name is refused below.
  const auto entry = find_scheduler(name_of(scheduler));
  const bool timm = entry && entry->timm_protocol;
  move_lr_scales(optimizer, scheduler, entry);
  if (timm && scheduler.contains("call")) {
    // Which of timm's two calls the trace makes (the other does nothing upstream).
    const json& call = scheduler["call"];
    TORCH_CHECK_VALUE(call.is_string() && (call == "step" || call == "step_update"),
                      "scheduler.call must be \"step\" or \"step_update\", but got ", call.dump());
    timm_call_ = call.get<std::string>();
    scheduler.erase("call");
  }
  optimizer_ = build_optimizer(optimizer, params_);
  if (top.has("epochs")) {
    TORCH_CHECK_VALUE(entry && (entry->fractional_epochs || entry->steps_to_epochs || entry->timm_protocol),
                      "config.epochs is only accepted for ", epoch_schedulers());
    epochs_ = top.numbers("epochs");
    TORCH_CHECK_VALUE(static_cast<int64_t>(epochs_.size()) >= steps_, "config.epochs has ",
                      epochs_.size(), " values, but steps is ", steps_);
  }
  const bool takes_metric = entry && entry->takes_metric;
  // timm's step takes a metric or none, whichever scheduler it is.
  if (!timm) {
    TORCH_CHECK_VALUE(takes_metric == top.has("metrics"),
                      takes_metric ? "config.metrics is required for " + entry->name + " (one number per step)"
                                   : "config.metrics is only accepted for " + metric_schedulers());
  }
  if (top.has("metrics")) {
    const json& values = top.raw("metrics");
    TORCH_CHECK_VALUE(values.is_array(), "config.metrics must be an array of numbers");
    // Metrics may be NaN or Inf on purpose; JSON writes those as null or strings, so accept them.
    for (std::size_t i = 0; i < values.size(); ++i) {
      const json& v = values[i];
      if (v.is_number()) {
        metrics_.push_back(v.get<double>());
      } else if (v.is_null() || (v.is_string() && v.get<std::string>() == "NaN")) {
        metrics_.push_back(std::numeric_limits<double>::quiet_NaN());
      } else if (v.is_string() && (v.get<std::string>() == "Infinity" || v.get<std::string>() == "-Infinity")) {
        metrics_.push_back(v.get<std::string>()[0] == '-' ? -std::numeric_limits<double>::infinity()
                                                          : std::numeric_limits<double>::infinity());
      } else {
        TORCH_CHECK_VALUE(false, "config.metrics[", i, "] must be a number, but got ", v.dump());
      }
    }
    TORCH_CHECK_VALUE(static_cast<int64_t>(metrics_.size()) >= steps_, "config.metrics has ",
                      metrics_.size(), " values, but steps is ", steps_);
  }
  top.finish();
  scheduler_ = make_scheduler(scheduler, *optimizer_);
}

const std::vector<double>& TraceRun::last_lr() const { return scheduler_->get_last_lr(); }

TraceRun::~TraceRun() = default;

std::vector<Row> TraceRun::run() {
  std::vector<Row> rows;
  rows.reserve(static_cast<std::size_t>(steps_ + 1) * optimizer_->param_groups().size());
  record(0, rows);
  for (int64_t step = 1; step <= steps_; ++step) {
    // A zero gradient makes optimizer.step() really run (and keep its state) without moving
    // anything the trace reports.
    for (auto& p : params_) p.mutable_grad() = torch::zeros_like(p);
    optimizer_->step();
    const auto k = static_cast<std::size_t>(step - 1);
    if (auto* timm = dynamic_cast<timm::Scheduler*>(scheduler_.get())) {
      step_timm(*timm, k, step);
    } else if (!epochs_.empty()) {
      auto* epoch_scheduler = dynamic_cast<LRScheduler*>(scheduler_.get());
      TORCH_CHECK_VALUE(epoch_scheduler != nullptr, "config.epochs: ", scheduler_->name(),
                        " has no step(epoch)");
      epoch_scheduler->step(epochs_[k]);
    } else {
      scheduler_->step_with(metrics_.empty() ? std::nullopt : std::optional<double>(metrics_[k]));
    }
    record(step, rows);
  }
  return rows;
}

void TraceRun::step_timm(timm::Scheduler& scheduler, std::size_t k, int64_t step) {
  // timm's train.py passes absolute counts: t = k, or the config's epochs.
  int64_t t = step;
  if (!epochs_.empty()) {
    const double e = epochs_[k];
    TORCH_CHECK_VALUE(e == std::floor(e) && std::abs(e) <= 9.007199254740992e15, "config.epochs[", k,
                      "] must be an integer for ", scheduler.name(), ", but got ", e);
    t = static_cast<int64_t>(e);
  }
  const std::optional<double> metric = metrics_.empty() ? std::nullopt : std::optional<double>(metrics_[k]);
  const bool on_epoch = timm_call_.empty() ? scheduler.t_in_epochs() : timm_call_ == "step";
  if (on_epoch) {
    scheduler.step(t, metric);
  } else {
    scheduler.step_update(t, metric);
  }
}

void TraceRun::record(int64_t step, std::vector<Row>& rows) const {
  const auto& groups = optimizer_->param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    rows.push_back(Row{step, g, groups[g].options().get_lr(), momentum_of(groups[g].options())});
  }
}

ScheduleRecord to_record(const std::vector<Row>& rows) {
  ScheduleRecord record;
  for (const auto& row : rows) {
    if (row.group == 0) record.steps.push_back(row.step);
    if (record.lrs.size() <= row.group) record.lrs.resize(row.group + 1);
    record.lrs[row.group].push_back(row.lr);
    if (row.momentum) {
      if (record.momenta.size() <= row.group) record.momenta.resize(row.group + 1);
      record.momenta[row.group].push_back(*row.momentum);
    }
  }
  return record;
}

std::string describe_scheduler(const json& scheduler) {
  if (!scheduler.is_object()) return scheduler.dump();
  const std::string name = name_of(scheduler);
  std::string out = (name.empty() ? "scheduler" : name) + "(";
  bool first = true;
  for (auto it = scheduler.begin(); it != scheduler.end(); ++it) {
    if (it.key() == "name") continue;
    out += (first ? "" : ", ") + it.key() + "=";
    first = false;
    if (it.key() == "schedulers" && it.value().is_array()) {
      out += "[";
      for (std::size_t i = 0; i < it.value().size(); ++i) {
        out += (i ? ", " : "") + describe_scheduler(it.value()[i]);
      }
      out += "]";
    } else if (it.value().is_string()) {
      out += "'" + it.value().get<std::string>() + "'";
    } else {
      out += it.value().dump();
    }
  }
  return out + ")";
}

std::string format_double(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

void write_csv(std::ostream& out, const std::vector<Row>& rows) {
  out << "step,group,lr,momentum\n";
  for (const auto& row : rows) {
    out << row.step << ',' << row.group << ',' << format_double(row.lr) << ',';
    if (row.momentum) out << format_double(*row.momentum);
    out << '\n';
  }
}

}  // namespace torchlr::trace
