#pragma once

// An in-memory copy of everything a training step can change, put back by the destructor (so
// also when an exception unwinds through it). Internal to the LR finder.

#include <memory>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "torch_compat.h"

namespace torchlr::detail {

/// The train/eval flag of a module and of each of its submodules. `Module::train(bool)` is
/// recursive, so putting one flag back would overwrite the flags of everything below it (a
/// frozen BatchNorm inside a model in train mode): this records and restores each one.
class ModuleModes {
 public:
  explicit ModuleModes(torch::nn::Module& model);
  void restore() const;

 private:
  torch::nn::Module& model_;
  bool model_training_;
  std::vector<std::pair<std::shared_ptr<torch::nn::Module>, bool>> submodules_;  // pre-order
};

class TrainingSnapshot {
 public:
  TrainingSnapshot(torch::nn::Module& model, torch::optim::Optimizer& optimizer);
  ~TrainingSnapshot();
  TrainingSnapshot(const TrainingSnapshot&) = delete;
  TrainingSnapshot& operator=(const TrainingSnapshot&) = delete;

  /// Keep the trained state: the destructor then restores nothing.
  void release() noexcept { active_ = false; }

  /// Puts everything back now and releases the snapshot; throws if that fails.
  void restore();

 private:
  // One tensor a step can change (a parameter of the model or of any param group, or a buffer),
  // once however often it is listed: its values, and its gradient object with that gradient's
  // values (the gradient object itself is put back, not a copy).
  struct TensorCopy {
    torch::Tensor target;
    torch::Tensor values;        // CPU copy
    torch::Tensor grad;          // the live gradient object, undefined if there was none
    torch::Tensor grad_values;   // CPU copy of its values
  };
  struct GroupCopy {
    std::vector<torch::Tensor> params;
    std::unique_ptr<torch::optim::OptimizerOptions> options;
  };
  struct GeneratorState {
    at::Generator generator;
    torch::Tensor state;
  };
  using StateMap = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;

  void put_back();

  torch::optim::Optimizer& optimizer_;
  std::vector<TensorCopy> tensors_;
  ModuleModes modes_;
  std::vector<GroupCopy> groups_;
  // The optimizer's own state objects, taken out of it untouched; the test steps from deep
  // copies of them, and the restore puts these very objects back.
  StateMap original_state_;
  std::vector<GeneratorState> generators_;
  bool active_ = true;
};

/// A copy of an optimizer's per-parameter state whose tensors share nothing with the original:
/// exact for LibTorch's optimizers' state types, and for other types through their
/// `serialize()`. Returns nullptr for a state type that serializes nothing (a user optimizer's
/// state without `serialize`), whose tensors cannot be found to copy.
std::unique_ptr<torch::optim::OptimizerParamState> deep_copy(const torch::optim::OptimizerParamState& state);

}  // namespace torchlr::detail
