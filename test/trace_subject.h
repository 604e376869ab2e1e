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

#include <torchlr/plateau.h>
#include <torchlr/scheduler.h>

#include "trace.h"

namespace torchlr::testing {

struct TraceSubject {
  TraceSubject(const nlohmann::json& optimizer_config, const nlohmann::json& scheduler_config) {
    optimizer = trace::make_optimizer(optimizer_config, params);
    // One real optimizer step first, so the optimizer has state as in training (and the
    // "scheduler stepped before the optimizer" warning stays quiet).
    for (auto& p : params) p.mutable_grad() = torch::zeros_like(p);
    optimizer->step();
    if (scheduler_config.at("name") == "ReduceLROnPlateau") {
      plateau = trace::make_plateau(scheduler_config, *optimizer);
    } else {
      scheduler = trace::make_scheduler(scheduler_config, *optimizer);
    }
  }

  void save(torch::serialize::OutputArchive& archive) const {
    if (plateau) {
      plateau->save(archive);
    } else {
      scheduler->save(archive);
    }
  }

  void load(torch::serialize::InputArchive& archive) {
    if (plateau) {
      plateau->load(archive);
    } else {
      scheduler->load(archive);
    }
  }

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

  const std::vector<double>& last_lr() const {
    return plateau ? plateau->get_last_lr() : scheduler->get_last_lr();
  }
  int64_t last_epoch() const { return plateau ? plateau->last_epoch() : scheduler->last_epoch(); }

  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::shared_ptr<LRScheduler> scheduler;
  std::unique_ptr<ReduceLROnPlateau> plateau;  // steps on a metric, so it is held apart
};

}  // namespace torchlr::testing
