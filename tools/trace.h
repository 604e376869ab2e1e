#pragma once

// `torchlr trace`: builds an optimizer and a scheduler from a JSON config (docs/trace-format.md)
// and records every group's lr and momentum after each step. Used by the torchlr command and by
// the tests that replay PyTorch's reference traces.

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include <torchlr/schedule_plot.h>
#include <torchlr/scheduler_base.h>

namespace torchlr::timm {
class Scheduler;
}  // namespace torchlr::timm

namespace torchlr::trace {

struct Row {
  int64_t step;
  std::size_t group;
  double lr;
  std::optional<double> momentum;  // empty for optimizers without one (Adagrad)
};

/// The optimizer an `optimizer` config object describes; each group gets its own one-element
/// double tensor, appended to `params`. Throws c10::ValueError naming the key at fault.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const nlohmann::json& config,
                                                        std::vector<torch::Tensor>& params);

/// The scheduler a `scheduler` config object describes, on `optimizer`: the library's
/// torchlr::make_scheduler, reading the config from JSON.
std::unique_ptr<SchedulerBase> make_scheduler(const nlohmann::json& config, torch::optim::Optimizer& optimizer);

/// An optimizer and scheduler built from a config; invalid configs throw c10::ValueError naming
/// the key or value at fault.
class TraceRun {
 public:
  explicit TraceRun(const nlohmann::json& config);
  ~TraceRun();

  /// Records step 0, then `steps` times: optimizer.step(), scheduler step, record.
  std::vector<Row> run();

  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  /// What the scheduler says it last set (get_last_lr()).
  const std::vector<double>& last_lr() const;

 private:
  void record(int64_t step, std::vector<Row>& rows) const;
  /// One trace step of a timm scheduler: step(t, metric) or step_update(t, metric).
  void step_timm(timm::Scheduler& scheduler, std::size_t k, int64_t step);

  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<SchedulerBase> scheduler_;
  std::vector<double> metrics_;  // one per step for a scheduler that takes a metric
  int64_t steps_ = 0;
  std::vector<double> epochs_;
  std::string timm_call_;  // the config's "call" for a timm scheduler; empty: by its t_in_epochs
};

/// Writes `step,group,lr,momentum` rows, each double in its shortest round-trip form.
void write_csv(std::ostream& out, const std::vector<Row>& rows);

/// The rows as a record for `torchlr::schedule_chart`.
ScheduleRecord to_record(const std::vector<Row>& rows);

/// The scheduler a config describes, as a call: `StepLR(step_size=30, gamma=0.1)`.
std::string describe_scheduler(const nlohmann::json& scheduler);

/// The shortest text that reads back to the same double.
std::string format_double(double value);

}  // namespace torchlr::trace
