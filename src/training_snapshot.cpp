#include "training_snapshot.h"

#include <exception>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/lbfgs.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/archive.h>

namespace torchlr::detail {
namespace {

using torch::optim::OptimizerOptions;
using torch::optim::OptimizerParamState;

torch::Tensor cpu_copy(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
}

torch::Tensor deep(const torch::Tensor& t) { return t.defined() ? t.detach().clone() : t; }

template <typename Container>
Container deep_all(Container tensors) {
  for (auto& t : tensors) t = deep(t);
  return tensors;
}

// The default generators the test may draw from: the CPU's always, a GPU's only where that GPU
// already has a context (asking for its generator must not initialise CUDA in a CPU program).
std::vector<at::Generator> default_generators() {
  std::vector<at::Generator> generators{at::globalContext().defaultGenerator(c10::DeviceType::CPU)};
  if (at::hasCUDA()) {
    const auto& cuda = at::detail::getCUDAHooks();
    for (int i = 0; i < cuda.getNumGPUs(); ++i) {
      if (!cuda.hasPrimaryContext(i)) continue;
      generators.push_back(at::globalContext().defaultGenerator(
          c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(i))));
    }
  }
  return generators;
}

// Every tensor a step can change, once each: tied weights are listed twice by parameters(), and
// a param group may hold tensors the model does not own.
std::vector<torch::Tensor> changeable_tensors(torch::nn::Module& model, torch::optim::Optimizer& optimizer) {
  std::vector<torch::Tensor> tensors;
  std::unordered_set<const void*> seen;
  auto add = [&](const torch::Tensor& t) {
    if (t.defined() && seen.insert(t.unsafeGetTensorImpl()).second) tensors.push_back(t);
  };
  for (const auto& group : optimizer.param_groups()) {
    for (const auto& p : group.params()) add(p);
  }
  for (const auto& p : model.parameters()) add(p);
  for (const auto& b : model.buffers()) add(b);
  return tensors;
}

// Puts `saved` back into `live` in place when both are one of LibTorch's option types (so a
// reference the program holds to its group's options stays valid); otherwise replaces them.
template <typename... Options>
void assign_options(torch::optim::OptimizerParamGroup& group, const OptimizerOptions& saved) {
  OptimizerOptions& live = group.options();
  const bool done = ((typeid(live) == typeid(Options) && typeid(saved) == typeid(Options) &&
                      (static_cast<Options&>(live) = static_cast<const Options&>(saved), true)) ||
                     ...);
  if (!done) group.set_options(saved.clone());
}

template <typename State, typename CopyTensors>
std::unique_ptr<OptimizerParamState> copy_as(const OptimizerParamState& state, CopyTensors copy_tensors) {
  auto copy = std::make_unique<State>(static_cast<const State&>(state));
  copy_tensors(*copy);
  return copy;
}

// A state type LibTorch does not know: its tensors are reachable only through serialize(),
// which the base class implements by throwing.
std::unique_ptr<OptimizerParamState> copy_through_archive(const OptimizerParamState& state) {
  torch::serialize::OutputArchive out;
  try {
    state.serialize(out);
  } catch (const c10::Error&) {
    return nullptr;
  }
  std::ostringstream bytes;
  out.save_to(bytes);
  const std::string data = bytes.str();
  torch::serialize::InputArchive in;
  in.load_from(data.data(), data.size());
  if (in.keys().empty()) return nullptr;
  auto copy = state.clone();
  copy->serialize(in);
  return copy;
}

}  // namespace

std::unique_ptr<OptimizerParamState> deep_copy(const OptimizerParamState& state) {
  namespace optim = torch::optim;
  torch::NoGradGuard no_grad;
  const std::type_info& type = typeid(state);
  if (type == typeid(optim::SGDParamState)) {
    return copy_as<optim::SGDParamState>(state, [](auto& s) { s.momentum_buffer(deep(s.momentum_buffer())); });
  }
  if (type == typeid(optim::AdamParamState)) {
    return copy_as<optim::AdamParamState>(state, [](auto& s) {
      s.exp_avg(deep(s.exp_avg())).exp_avg_sq(deep(s.exp_avg_sq())).max_exp_avg_sq(deep(s.max_exp_avg_sq()));
    });
  }
  if (type == typeid(optim::AdamWParamState)) {
    return copy_as<optim::AdamWParamState>(state, [](auto& s) {
      s.exp_avg(deep(s.exp_avg())).exp_avg_sq(deep(s.exp_avg_sq())).max_exp_avg_sq(deep(s.max_exp_avg_sq()));
    });
  }
  if (type == typeid(optim::RMSpropParamState)) {
    return copy_as<optim::RMSpropParamState>(state, [](auto& s) {
      s.square_avg(deep(s.square_avg())).momentum_buffer(deep(s.momentum_buffer())).grad_avg(deep(s.grad_avg()));
    });
  }
  if (type == typeid(optim::AdagradParamState)) {
    return copy_as<optim::AdagradParamState>(state, [](auto& s) { s.sum(deep(s.sum())); });
  }
  if (type == typeid(optim::LBFGSParamState)) {
    return copy_as<optim::LBFGSParamState>(state, [](auto& s) {
      s.d(deep(s.d())).H_diag(deep(s.H_diag())).prev_flat_grad(deep(s.prev_flat_grad()));
      s.old_dirs(deep_all(s.old_dirs())).old_stps(deep_all(s.old_stps())).ro(deep_all(s.ro()));
      if (s.al()) s.al(deep_all(*s.al()));
    });
  }
  return copy_through_archive(state);
}

ModuleModes::ModuleModes(torch::nn::Module& model) : model_(model), model_training_(model.is_training()) {
  for (const auto& m : model.modules(/*include_self=*/false)) submodules_.emplace_back(m, m->is_training());
}

void ModuleModes::restore() const {
  // Pre-order: each train() call also sets everything below, which the later calls correct.
  model_.train(model_training_);
  for (const auto& [module, training] : submodules_) module->train(training);
}

TrainingSnapshot::TrainingSnapshot(torch::nn::Module& model, torch::optim::Optimizer& optimizer)
    : optimizer_(optimizer), modes_(model) {
  torch::NoGradGuard no_grad;
  for (const auto& t : changeable_tensors(model, optimizer)) {
    const torch::Tensor& grad = t.grad();
    tensors_.push_back({t, cpu_copy(t), grad, grad.defined() ? cpu_copy(grad) : torch::Tensor()});
  }
  for (const auto& group : optimizer.param_groups()) {
    groups_.push_back({group.params(), group.options().clone()});
  }
  for (auto& generator : default_generators()) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generators_.push_back({generator, generator.get_state()});
  }
  // Last, so that nothing above can throw with the optimizer's state already taken out.
  StateMap working;
  for (const auto& [key, state] : optimizer.state()) {
    if (auto copy = deep_copy(*state)) working.emplace(key, std::move(copy));
  }
  std::swap(original_state_, optimizer.state());
  optimizer.state() = std::move(working);
}

void TrainingSnapshot::restore() {
  active_ = false;
  put_back();
}

void TrainingSnapshot::put_back() {
  // Everything that can be put back is, whatever fails on the way; then the first failure is
  // rethrown. The state first: moving it cannot fail.
  optimizer_.state() = std::move(original_state_);
  std::exception_ptr failure;
  auto attempt = [&](auto&& put) {
    try {
      put();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  };
  {
    torch::NoGradGuard no_grad;
    for (auto& t : tensors_) {
      attempt([&] {
        t.target.copy_(t.values);
        if (t.grad.defined()) t.grad.copy_(t.grad_values);
        t.target.mutable_grad() = t.grad;
      });
    }
  }
  attempt([&] { modes_.restore(); });
  attempt([&] {
    auto& groups = optimizer_.param_groups();
    while (groups.size() > groups_.size()) groups.pop_back();  // groups added during the test
    for (std::size_t g = 0; g < groups.size(); ++g) {
      groups[g].params() = groups_[g].params;
      namespace optim = torch::optim;
      assign_options<optim::SGDOptions, optim::AdamOptions, optim::AdamWOptions, optim::RMSpropOptions,
                     optim::AdagradOptions, optim::LBFGSOptions>(groups[g], *groups_[g].options);
    }
  });
  for (auto& g : generators_) {
    attempt([&] {
      std::lock_guard<std::mutex> lock(g.generator.mutex());
      g.generator.set_state(g.state);
    });
  }
  if (failure) std::rethrow_exception(failure);
}

TrainingSnapshot::~TrainingSnapshot() {
  if (!active_) return;
  try {
    put_back();
  } catch (const std::exception& e) {
    // Unwinding already: a destructor must not throw, so the failure is reported loudly instead.
    TORCH_WARN("lr_find could not restore the model and optimizer: ", e.what());
  }
}

}  // namespace torchlr::detail
