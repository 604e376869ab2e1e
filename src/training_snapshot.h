#pragma once

// An in-memory copy of everything a training step can change, put back by the destructor (so
// also when an exception unwinds through it). Internal to the LR finder.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

namespace torchlr::detail {

/// The train/eval flag of a module and of each of its submodules. `Module::train(bool)` is
/// recursive, so putting one flag back would overwrite the flags of everything below it (a
/// frozen BatchNorm inside a model in train mode): this records and restores each one.
class ModuleModes {
 public:
  explicit ModuleModes(torch::nn::Module& model);
  void restore() const;
  /// Whether any module (the model or a submodule) is in train mode.
  bool any_training() const;

 private:
  torch::nn::Module& model_;
  bool model_training_;
  std::vector<std::pair<std::shared_ptr<torch::nn::Module>, bool>> submodules_;  // pre-order
};

/// Everything is copied to CPU memory, so a model on a GPU needs no extra device memory; the
/// gradients' device memory is even given back for the duration of the test (every step starts
/// with zero_grad, so the test never reads them).
class TrainingSnapshot {
 public:
  TrainingSnapshot(torch::nn::Module& model, torch::optim::Optimizer& optimizer);
  ~TrainingSnapshot();
  TrainingSnapshot(const TrainingSnapshot&) = delete;
  TrainingSnapshot& operator=(const TrainingSnapshot&) = delete;

  /// Puts everything back now; throws if any of it fails (after putting back all the rest).
  void restore();

  /// The names of the optimizer state types the test could not copy: their objects are taken
  /// out for the test, which starts those parameters' state afresh, and are put back after.
  const std::vector<std::string>& state_types_set_aside() const noexcept { return set_aside_types_; }

 private:
  using StateMap = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
  using StateKey = StateMap::key_type;

  // One tensor a step can change (a parameter of the model or of any param group, or a buffer),
  // once however often it is listed: its values, and its gradient object with that gradient's
  // values (the gradient object itself is put back, not a copy).
  struct TensorCopy {
    torch::Tensor target;
    torch::Tensor values;        // CPU copy
    torch::Tensor grad;          // the gradient object, undefined if there was none
    torch::Tensor grad_values;   // CPU copy of its values
  };
  // One entry of optimizer.state(). The object stays in the optimizer and the test steps it;
  // `saved` holds its fields and tensor handles (or a clone), `write_back` puts the saved fields
  // and values into an object of its type.
  struct StateCopy {
    StateKey key;
    const torch::optim::OptimizerParamState* live = nullptr;  // null for a null entry
    std::unique_ptr<torch::optim::OptimizerParamState> saved;
    std::function<void(torch::optim::OptimizerParamState&)> write_back;
  };
  struct GroupCopy {
    std::vector<torch::Tensor> params;
    std::unique_ptr<torch::optim::OptimizerOptions> options;
  };
  struct GeneratorState {
    at::Generator generator;
    torch::Tensor state;
  };

  void put_back();
  void put_back_state();

  torch::optim::Optimizer& optimizer_;
  std::vector<TensorCopy> tensors_;
  ModuleModes modes_;
  std::vector<GroupCopy> groups_;
  std::vector<StateCopy> states_;
  StateMap set_aside_;  // states that cannot be copied, out of the optimizer during the test
  std::vector<std::string> set_aside_types_;
  std::vector<GeneratorState> generators_;
  bool active_ = true;
};

/// The values a training step changes (every parameter and buffer, and the optimizer's
/// per-parameter state) as CPU copies (a user's state type: see checkpoint_serialized) that can
/// be put back any number of times: each trial of
/// the refined suggestion starts from one. Unlike TrainingSnapshot it keeps no identities: it
/// writes values into the state objects the optimizer has then (same type) or gives it new ones,
/// and drops the entries it did not have. A state type it cannot copy (no usable serialize())
/// is dropped too, so that parameter's state starts afresh: `complete()` says whether that happens.
class TrainingCheckpoint {
 public:
  TrainingCheckpoint(torch::nn::Module& model, torch::optim::Optimizer& optimizer);
  void restore() const;
  bool complete() const noexcept { return uncopyable_types_.empty(); }
  const std::vector<std::string>& uncopyable_types() const noexcept { return uncopyable_types_; }

 private:
  using StateMap = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
  using StateKey = StateMap::key_type;
  using StatePtr = std::unique_ptr<torch::optim::OptimizerParamState>;
  struct StateValues {
    StateKey key;
    // Puts the values into the slot's object when it has the right type, else into a new one.
    std::function<void(StatePtr& slot)> put;
  };

  torch::optim::Optimizer& optimizer_;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> tensors_;  // (tensor, CPU copy of its values)
  std::vector<StateValues> states_;
  std::vector<std::string> uncopyable_types_;
};

/// The default random generators' states (the CPU's, and each initialised GPU's), to start
/// several trials from the same random stream (the same dropout masks for every candidate).
class GeneratorStates {
 public:
  GeneratorStates();
  void restore() const;

 private:
  std::vector<std::pair<at::Generator, torch::Tensor>> states_;
};

}  // namespace torchlr::detail
