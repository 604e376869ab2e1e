#include "training_snapshot.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>
#include <torch/serialize/archive.h>

namespace torchlr::detail {
namespace {

torch::Tensor cpu_copy(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
}

std::vector<at::Generator> default_generators() {
  std::vector<at::Generator> generators{at::globalContext().defaultGenerator(c10::DeviceType::CPU)};
  if (at::hasCUDA()) {
    const auto gpus = at::detail::getCUDAHooks().getNumGPUs();
    for (int i = 0; i < gpus; ++i) {
      generators.push_back(at::globalContext().defaultGenerator(
          c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(i))));
    }
  }
  return generators;
}

}  // namespace

TrainingSnapshot::TrainingSnapshot(torch::nn::Module& model, torch::optim::Optimizer& optimizer)
    : model_(model), optimizer_(optimizer), model_training_(model.is_training()) {
  torch::NoGradGuard no_grad;
  for (const auto& p : model.parameters()) {
    values_.push_back({p, cpu_copy(p)});
    grads_.push_back({p, p.grad().defined() ? cpu_copy(p.grad()) : torch::Tensor()});
  }
  for (const auto& b : model.buffers()) values_.push_back({b, cpu_copy(b)});
  for (const auto& m : model.modules(/*include_self=*/false)) training_.emplace_back(m, m->is_training());

  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  optimizer_state_ = bytes.str();
  for (const auto& group : optimizer.param_groups()) group_options_.push_back(group.options().clone());

  for (auto& generator : default_generators()) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generators_.push_back({generator, generator.get_state()});
  }
}

void TrainingSnapshot::restore() {
  {
    torch::NoGradGuard no_grad;
    for (auto& v : values_) v.target.copy_(v.saved);
    for (auto& g : grads_) {
      if (g.saved.defined()) {
        g.param.mutable_grad() = g.saved.to(g.param.device(), /*non_blocking=*/false, /*copy=*/true);
      } else {
        g.param.mutable_grad() = torch::Tensor();
      }
    }
  }
  model_.train(model_training_);
  for (auto& [module, training] : training_) module->train(training);

  // LibTorch's optimizer load only adds the saved entries: clear what the test created first.
  optimizer_.state().clear();
  torch::serialize::InputArchive archive;
  std::istringstream bytes(optimizer_state_);
  archive.load_from(bytes);
  optimizer_.load(archive);
  auto& groups = optimizer_.param_groups();
  for (std::size_t g = 0; g < groups.size() && g < group_options_.size(); ++g) {
    groups[g].set_options(group_options_[g]->clone());
  }

  for (auto& g : generators_) {
    std::lock_guard<std::mutex> lock(g.generator.mutex());
    g.generator.set_state(g.state);
  }
}

TrainingSnapshot::~TrainingSnapshot() {
  if (!active_) return;
  try {
    restore();
  } catch (const std::exception& e) {
    // A destructor must not throw; failing to restore is reported loudly instead.
    TORCH_WARN("lr_find could not restore the model and optimizer: ", e.what());
  }
}

}  // namespace torchlr::detail
