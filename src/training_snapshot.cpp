#include "training_snapshot.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>
#include <c10/util/Type.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/lbfgs.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/archive.h>

#include "internal.h"

namespace torchlr::detail {
namespace {

using torch::optim::OptimizerOptions;
using torch::optim::OptimizerParamState;

torch::Tensor cpu_copy(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
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

// The tensors of LibTorch's own optimizer states, field by field.
template <typename F> void for_each_tensor(torch::optim::SGDParamState& s, F&& f) { f(s.momentum_buffer()); }
template <typename F> void for_each_tensor(torch::optim::AdamParamState& s, F&& f) {
  f(s.exp_avg()), f(s.exp_avg_sq()), f(s.max_exp_avg_sq());
}
template <typename F> void for_each_tensor(torch::optim::AdamWParamState& s, F&& f) {
  f(s.exp_avg()), f(s.exp_avg_sq()), f(s.max_exp_avg_sq());
}
template <typename F> void for_each_tensor(torch::optim::RMSpropParamState& s, F&& f) {
  f(s.square_avg()), f(s.momentum_buffer()), f(s.grad_avg());
}
template <typename F> void for_each_tensor(torch::optim::AdagradParamState& s, F&& f) { f(s.sum()); }
template <typename F> void for_each_tensor(torch::optim::LBFGSParamState& s, F&& f) {
  f(s.d()), f(s.H_diag()), f(s.prev_flat_grad());
  for (auto& t : s.old_dirs()) f(t);
  for (auto& t : s.old_stps()) f(t);
  for (auto& t : s.ro()) f(t);
  if (s.al()) {
    for (auto& t : *s.al()) f(t);
  }
}

// A state of one of LibTorch's types: a copy of the object (its fields and tensor handles) and
// CPU copies of its tensors' values. Putting back assigns the fields (handles the test replaced
// come back) and copies the values into the original tensors.
template <typename State, typename Saved, typename WriteBack>
bool save_known(const OptimizerParamState& live, Saved& saved, WriteBack& write_back) {
  if (typeid(live) != typeid(State)) return false;
  auto fields = std::make_unique<State>(static_cast<const State&>(live));
  std::vector<torch::Tensor> values;
  for_each_tensor(*fields, [&](torch::Tensor& t) { values.push_back(t.defined() ? cpu_copy(t) : torch::Tensor()); });
  write_back = [original = fields.get(), values = std::move(values)](OptimizerParamState& target) {
    auto& state = static_cast<State&>(target);
    if (&state != original) state = *original;
    torch::NoGradGuard no_grad;
    std::size_t i = 0;
    for_each_tensor(state, [&](torch::Tensor& t) {
      const torch::Tensor& value = values[i++];
      if (t.defined() && value.defined()) t.copy_(value);
    });
  };
  saved = std::move(fields);
  return true;
}

// The bytes a state's serialize() writes, or none for a type whose serialize() is not
// implemented (LibTorch's base classes throw) or writes nothing.
std::optional<std::string> serialized_bytes(const OptimizerParamState& state) {
  std::string bytes;
  try {
    torch::serialize::OutputArchive out;
    state.serialize(out);
    std::ostringstream stream;
    out.save_to(stream);
    bytes = stream.str();
  } catch (const c10::Error&) {
    return std::nullopt;
  }
  torch::serialize::InputArchive written;
  written.load_from(bytes.data(), bytes.size());
  if (written.keys().empty()) return std::nullopt;
  return bytes;
}

// A clone of the state, or null when its clone() is not implemented.
std::unique_ptr<OptimizerParamState> clone_of(const OptimizerParamState& state) {
  try {
    return state.clone();
  } catch (const c10::Error&) {
    return nullptr;
  }
}

// Another state type, through its serialize(): the bytes it writes, read back into the object
// (LibTorch's InputArchive reads a tensor into the defined tensor it is given). False for a type
// without a usable serialize() or clone(): such a state cannot be put back once the test has
// changed it.
template <typename Saved, typename WriteBack>
bool save_serialized(const OptimizerParamState& live, Saved& saved, WriteBack& write_back) {
  auto bytes = serialized_bytes(live);
  auto clone = bytes ? clone_of(live) : nullptr;
  if (!clone) return false;
  saved = std::move(clone);
  write_back = [bytes = std::move(*bytes)](OptimizerParamState& target) {
    torch::serialize::InputArchive in;
    in.load_from(bytes.data(), bytes.size());
    target.serialize(in);
  };
  return true;
}

}  // namespace

ModuleModes::ModuleModes(torch::nn::Module& model) : model_(model), model_training_(model.is_training()) {
  for (const auto& m : model.modules(/*include_self=*/false)) submodules_.emplace_back(m, m->is_training());
}

void ModuleModes::restore() const {
  // Pre-order: each train() call also sets everything below, which the later calls correct.
  model_.train(model_training_);
  for (const auto& [module, training] : submodules_) module->train(training);
}

bool ModuleModes::any_training() const {
  if (model_training_) return true;
  for (const auto& entry : submodules_) {
    if (entry.second) return true;
  }
  return false;
}

TrainingSnapshot::TrainingSnapshot(torch::nn::Module& model, torch::optim::Optimizer& optimizer)
    : optimizer_(optimizer), modes_(model) {
  // First everything that can fail, while nothing is changed yet.
  {
    torch::NoGradGuard no_grad;
    for (const auto& t : changeable_tensors(model, optimizer)) {
      const torch::Tensor& grad = t.grad();
      tensors_.push_back({t, cpu_copy(t), grad, grad.defined() ? cpu_copy(grad) : torch::Tensor()});
    }
  }
  for (const auto& group : optimizer.param_groups()) {
    groups_.push_back({group.params(), group.options().clone()});
  }
  for (auto& generator : default_generators()) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generators_.push_back({generator, generator.get_state()});
  }
  std::vector<StateKey> uncopyable;
  namespace optim = torch::optim;
  for (const auto& [key, state] : optimizer.state()) {
    StateCopy copy{key, state.get(), nullptr, nullptr};
    const bool saved =
        !state || save_known<optim::SGDParamState>(*state, copy.saved, copy.write_back) ||
        save_known<optim::AdamParamState>(*state, copy.saved, copy.write_back) ||
        save_known<optim::AdamWParamState>(*state, copy.saved, copy.write_back) ||
        save_known<optim::RMSpropParamState>(*state, copy.saved, copy.write_back) ||
        save_known<optim::AdagradParamState>(*state, copy.saved, copy.write_back) ||
        save_known<optim::LBFGSParamState>(*state, copy.saved, copy.write_back) ||
        save_serialized(*state, copy.saved, copy.write_back);
    if (saved) {
      states_.push_back(std::move(copy));
    } else {
      uncopyable.push_back(key);
      const std::string type = c10::demangle(typeid(*state).name());
      if (std::find(set_aside_types_.begin(), set_aside_types_.end(), type) == set_aside_types_.end()) {
        set_aside_types_.push_back(type);
      }
    }
  }
  // Then the changes, none of which can fail. A state that cannot be put back once changed is
  // taken out of the optimizer for the test, untouched.
  for (const auto& key : uncopyable) {
    auto it = optimizer.state().find(key);
    set_aside_.emplace(key, std::move(it->second));
    optimizer.state().erase(it);
  }
  // Every step begins with zero_grad, so the test never reads the gradients: their memory (on
  // the device) is given back until the restore puts the same gradient objects back.
  for (auto& t : tensors_) {
    if (!t.grad.defined()) continue;
    t.target.mutable_grad() = torch::Tensor();
    t.grad.set_();
  }
}

void TrainingSnapshot::restore() {
  active_ = false;
  put_back();
}

namespace {

// Removes the optimizer's state entries whose keys are not among `entries`' (each has a `key`).
template <typename Map, typename Entries>
void erase_entries_except(Map& state, const Entries& entries) {
  std::unordered_set<typename Map::key_type> kept;
  for (const auto& entry : entries) kept.insert(entry.key);
  std::vector<typename Map::key_type> others;
  for (const auto& entry : state) {
    if (!kept.count(entry.first)) others.push_back(entry.first);
  }
  for (const auto& key : others) state.erase(key);
}

// Runs each put-back step, keeps going past failures, and rethrows the first one at the end.
class Attempts {
 public:
  template <typename F>
  void operator()(F&& put) {
    try {
      put();
    } catch (...) {
      if (!failure_) failure_ = std::current_exception();
    }
  }
  void rethrow_first() const {
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  std::exception_ptr failure_;
};

}  // namespace

void TrainingSnapshot::put_back() {
  Attempts attempt;
  attempt([&] { put_back_state(); });
  for (auto& t : tensors_) {
    attempt([&] {
      torch::NoGradGuard no_grad;
      t.target.copy_(t.values);
      if (t.grad.defined()) t.grad.set_(t.grad_values.to(t.target.device()));
      t.target.mutable_grad() = t.grad;
    });
  }
  attempt([&] { modes_.restore(); });
  attempt([&] {
    auto& groups = optimizer_.param_groups();
    TORCH_CHECK(groups.size() >= groups_.size(), "lr_find: the optimizer had ", groups_.size(),
                " param groups before the range test and has ", groups.size(), " after it");
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
  attempt.rethrow_first();
}

void TrainingSnapshot::put_back_state() {
  auto& state = optimizer_.state();
  // Entries the test created go; the ones set aside come back first, since that cannot fail.
  erase_entries_except(state, states_);
  for (auto& entry : set_aside_) state[entry.first] = std::move(entry.second);
  set_aside_.clear();

  Attempts attempt;
  for (auto& copy : states_) {
    attempt([&] {
      auto& slot = state[copy.key];
      if (!copy.live) {
        slot = nullptr;
      } else if (slot.get() == copy.live) {
        copy.write_back(*slot);  // the very object the optimizer had
      } else {
        copy.write_back(*copy.saved);  // the optimizer replaced it: an equal one in its place
        slot = std::move(copy.saved);
      }
    });
  }
  attempt.rethrow_first();
}

TrainingSnapshot::~TrainingSnapshot() {
  if (!active_) return;
  try {
    put_back();
  } catch (const std::exception& e) {
    // Unwinding already: a destructor must not throw, so the failure is reported loudly instead.
    detail::warn(std::string("lr_find could not restore the model and optimizer: ") + e.what());
  } catch (...) {
    detail::warn("lr_find could not restore the model and optimizer");
  }
}

}  // namespace torchlr::detail

// ---- checkpoints for the trials -------------------------------------------------------------

namespace torchlr::detail {
namespace {

using StatePtr = std::unique_ptr<OptimizerParamState>;

// A state of one of LibTorch's types: its fields with CPU copies of its tensors. Putting it back
// copies the values into the slot's tensors where they match (no new device memory: the trials
// would otherwise hold a second copy beside the snapshot's originals), and assigns the fields
// with new tensors on their devices otherwise.
template <typename State>
bool checkpoint_known(const OptimizerParamState& live, std::function<void(StatePtr&)>& put) {
  if (typeid(live) != typeid(State)) return false;
  State fields = static_cast<const State&>(live);
  std::vector<torch::Device> devices;
  for_each_tensor(fields, [&](torch::Tensor& t) {
    devices.push_back(t.defined() ? t.device() : torch::Device(torch::kCPU));
    if (t.defined()) t = cpu_copy(t);
  });
  put = [fields = std::move(fields), devices = std::move(devices)](StatePtr& slot) {
    torch::NoGradGuard no_grad;
    if (slot && typeid(*slot) == typeid(State)) {
      // In place when every tensor has the same definedness, shape, type and device.
      auto& target = static_cast<State&>(*slot);
      std::vector<torch::Tensor> live_tensors, saved;
      for_each_tensor(target, [&](torch::Tensor& t) { live_tensors.push_back(t); });
      State copy = fields;
      for_each_tensor(copy, [&](torch::Tensor& t) { saved.push_back(t); });
      bool same = live_tensors.size() == saved.size();
      for (std::size_t i = 0; same && i < saved.size(); ++i) {
        same = live_tensors[i].defined() == saved[i].defined() &&
               (!saved[i].defined() || (live_tensors[i].sizes() == saved[i].sizes() &&
                                        live_tensors[i].scalar_type() == saved[i].scalar_type() &&
                                        live_tensors[i].device() == devices[i]));
      }
      if (same) {
        std::size_t i = 0;
        for_each_tensor(copy, [&](torch::Tensor& t) {
          if (t.defined()) t = live_tensors[i].copy_(saved[i]);
          ++i;
        });
        target = std::move(copy);  // the other fields (step counts), the same tensors
        return;
      }
    }
    auto fresh = std::make_unique<State>(fields);
    std::size_t i = 0;
    for_each_tensor(*fresh, [&](torch::Tensor& t) {
      const torch::Device device = devices[i++];
      if (t.defined()) t = t.to(torch::TensorOptions().device(device), /*non_blocking=*/false, /*copy=*/true);
    });
    if (slot && typeid(*slot) == typeid(State)) {
      static_cast<State&>(*slot) = std::move(*fresh);
    } else {
      slot = std::move(fresh);
    }
  };
  return true;
}

// Another type, through its serialize() (as TrainingSnapshot does): read back into the slot's
// object, or into a clone of the state as it was when it has none of that type. The clone shares
// the state's tensors (clone() copies handles), so those stay alive, on their device, with the
// checkpoint: a user's state type costs device memory per checkpoint where LibTorch's do not.
bool checkpoint_serialized(const OptimizerParamState& live, std::function<void(StatePtr&)>& put) {
  auto bytes = serialized_bytes(live);
  std::shared_ptr<OptimizerParamState> prototype = bytes ? clone_of(live) : nullptr;
  if (!prototype) return false;
  put = [bytes = std::move(*bytes), prototype = std::move(prototype)](StatePtr& slot) {
    if (!slot || typeid(*slot) != typeid(*prototype)) slot = prototype->clone();
    torch::serialize::InputArchive in;
    in.load_from(bytes.data(), bytes.size());
    slot->serialize(in);
  };
  return true;
}

}  // namespace

TrainingCheckpoint::TrainingCheckpoint(torch::nn::Module& model, torch::optim::Optimizer& optimizer)
    : optimizer_(optimizer) {
  {
    torch::NoGradGuard no_grad;
    for (const auto& t : changeable_tensors(model, optimizer)) tensors_.emplace_back(t, cpu_copy(t));
  }
  namespace optim = torch::optim;
  for (const auto& [key, state] : optimizer.state()) {
    StateValues values{key, nullptr};
    if (!state) {
      values.put = [](StatePtr& slot) { slot.reset(); };
    } else if (!(checkpoint_known<optim::SGDParamState>(*state, values.put) ||
                 checkpoint_known<optim::AdamParamState>(*state, values.put) ||
                 checkpoint_known<optim::AdamWParamState>(*state, values.put) ||
                 checkpoint_known<optim::RMSpropParamState>(*state, values.put) ||
                 checkpoint_known<optim::AdagradParamState>(*state, values.put) ||
                 checkpoint_known<optim::LBFGSParamState>(*state, values.put) ||
                 checkpoint_serialized(*state, values.put))) {
      const std::string type = c10::demangle(typeid(*state).name());
      if (std::find(uncopyable_types_.begin(), uncopyable_types_.end(), type) == uncopyable_types_.end()) {
        uncopyable_types_.push_back(type);
      }
      continue;  // dropped on restore: that state starts afresh
    }
    states_.push_back(std::move(values));
  }
}

void TrainingCheckpoint::restore() const {
  {
    torch::NoGradGuard no_grad;
    for (const auto& [tensor, values] : tensors_) tensor.copy_(values);
  }
  auto& state = optimizer_.state();
  erase_entries_except(state, states_);
  for (const auto& s : states_) s.put(state[s.key]);
}

GeneratorStates::GeneratorStates() {
  for (auto& generator : default_generators()) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    states_.emplace_back(generator, generator.get_state());
  }
}

void GeneratorStates::restore() const {
  for (const auto& [generator, state] : states_) {
    auto g = generator;  // a handle: setting its state sets the default generator's
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(state);
  }
}

}  // namespace torchlr::detail
