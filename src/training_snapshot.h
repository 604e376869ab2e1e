#pragma once

// An in-memory copy of everything a training step can change, put back by the destructor (so
// also when an exception unwinds through it). Internal to the LR finder.

#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

namespace torchlr::detail {

class TrainingSnapshot {
 public:
  TrainingSnapshot(torch::nn::Module& model, torch::optim::Optimizer& optimizer);
  ~TrainingSnapshot();
  TrainingSnapshot(const TrainingSnapshot&) = delete;
  TrainingSnapshot& operator=(const TrainingSnapshot&) = delete;

  /// Keep the trained state: the destructor then restores nothing.
  void release() noexcept { active_ = false; }

  /// Puts everything back now.
  void restore();

 private:
  struct TensorCopy {
    torch::Tensor target;  // the live tensor
    torch::Tensor saved;   // a CPU copy of its values
  };
  struct GradCopy {
    torch::Tensor param;
    torch::Tensor saved;  // undefined if the parameter had no gradient
  };
  struct GeneratorState {
    at::Generator generator;
    torch::Tensor state;
  };

  torch::nn::Module& model_;
  torch::optim::Optimizer& optimizer_;
  std::vector<TensorCopy> values_;  // parameters and buffers
  std::vector<GradCopy> grads_;
  std::vector<std::pair<std::shared_ptr<torch::nn::Module>, bool>> training_;
  bool model_training_;
  std::string optimizer_state_;  // the optimizer's own archive, in memory
  std::vector<std::unique_ptr<torch::optim::OptimizerOptions>> group_options_;
  std::vector<GeneratorState> generators_;
  bool active_ = true;
};

}  // namespace torchlr::detail
