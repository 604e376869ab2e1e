#pragma once

// Recording what a scheduler does to an optimizer, and drawing it: the lr of every group against
// the step, and the momentum on a second panel when the optimizer has one.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include <torchlr/svg.h>

namespace torchlr {

struct ScheduleRecord {
  std::vector<int64_t> steps;
  std::vector<std::vector<double>> lrs;      // [group][point]
  std::vector<std::vector<double>> momenta;  // [group][point]; empty when the optimizer has none
  bool beta1 = false;                        // the "momentum" is Adam's first beta

  /// Appends every group's lr (and momentum or beta1, see torchlr/momentum.h) as they are now.
  void record(const torch::optim::Optimizer& optimizer, int64_t step);
};

/// The chart of a record: one line per group, `title` on top, a logarithmic lr axis if `log_y`.
svg::Chart schedule_chart(const ScheduleRecord& record, const std::string& title, bool log_y = false);

}  // namespace torchlr
