#pragma once

// An optimizer and a scheduler built from `torchlr trace` configs, held as a training program
// holds them; shared by the property tests and the checkpoint fuzzer.

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <torchlr/config_json.h>
#include <torchlr/factory.h>
#include <torchlr/scheduler.h>
#include <torchlr/scheduler_base.h>

#include "trace.h"

namespace torchlr::testing {

struct TraceSubject {
  TraceSubject(const nlohmann::json& optimizer_config, const nlohmann::json& scheduler_config)
      : TraceSubject(optimizer_config, config_from_json(scheduler_config)) {}

  TraceSubject(const nlohmann::json& optimizer_config, const Config& scheduler_config) {
    optimizer = trace::make_optimizer(optimizer_config, params);
    // One real optimizer step first, so the optimizer has state as in training (and the
    // "scheduler stepped before the optimizer" warning stays quiet).
    for (auto& p : params) p.mutable_grad() = torch::zeros_like(p);
    optimizer->step();
    scheduler = make_scheduler(*optimizer, scheduler_config);
  }

  void save(torch::serialize::OutputArchive& archive) const { scheduler->save(archive); }
  void load(torch::serialize::InputArchive& archive) { scheduler->load(archive); }

  /// The scheduler as an LRScheduler (for step(epoch)); it must be one.
  LRScheduler& lr_scheduler() const { return dynamic_cast<LRScheduler&>(*scheduler); }

  /// The scheduler's checkpoint as the bytes torch::save would write.
  std::string save_bytes() const {
    torch::serialize::OutputArchive archive;
    save(archive);
    std::ostringstream out;
    archive.save_to(out);
    return out.str();
  }

  void load_bytes(const std::string& bytes) {
    std::istringstream in(bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    load(archive);
  }

  const std::vector<double>& last_lr() const { return scheduler->get_last_lr(); }
  int64_t last_epoch() const { return scheduler->last_epoch(); }

  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<SchedulerBase> scheduler;  // any scheduler, ReduceLROnPlateau included
};

}  // namespace torchlr::testing
