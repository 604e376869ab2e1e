#pragma once

// Every difference between the LibTorch versions torchlr supports (Debian 12's 1.13, Debian 13's
// 2.6) lives here, so the library and the tests stay free of version checks.

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>
#include <torch/optim/optimizer.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#include <torch/optim/schedulers/reduce_on_plateau_scheduler.h>
#endif

/// LibTorch 2.x has its own `torch::optim::ReduceLROnPlateauScheduler`; 1.13 does not.
#define TORCHLR_COMPAT_HAS_TORCH_PLATEAU_SCHEDULER (TORCH_VERSION_MAJOR >= 2)

namespace torchlr::compat {

/// The key type of `Optimizer::state()`: a string (the TensorImpl's address printed) in 1.13,
/// the TensorImpl pointer itself in 2.x.
using OptimizerStateKey =
    typename std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

namespace detail {
// A template, so that only the branch for this version's key type is ever instantiated.
template <typename Key>
Key state_key(const at::Tensor& param) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;  // what 1.13's c10::guts::to_string does
    key << param.unsafeGetTensorImpl();
    return key.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}
}  // namespace detail

/// The key under which `optimizer.state()` keeps `param`'s state.
inline OptimizerStateKey optimizer_state_key(const at::Tensor& param) {
  return detail::state_key<OptimizerStateKey>(param);
}

/// LibTorch 2.x's `zero_grad()` sets gradients to none by default; 1.13 zeroes them in place.
inline constexpr bool zero_grad_sets_none = TORCH_VERSION_MAJOR >= 2;

/// LibTorch 2.x's `torch::load` of an optimizer assigns each saved group's options to the group's
/// options object (in place: the same object, new values); 1.13 restores only the per-parameter
/// state and leaves the options as they were.
inline constexpr bool optimizer_load_restores_options = TORCH_VERSION_MAJOR >= 2;

/// Whether any CUDA device has a context yet: false when this LibTorch has no CUDA at all.
inline bool cuda_context_created() {
  if (!at::hasCUDA()) return false;
  const auto& hooks = at::detail::getCUDAHooks();
  for (int i = 0; i < hooks.getNumGPUs(); ++i) {
    if (hooks.hasPrimaryContext(i)) return true;
  }
  return false;
}

/// A warning handler that sees each TORCH_WARN message's text: `c10::WarningHandler::process`
/// takes a `c10::Warning` in 2.x and (location, message, verbatim) in 1.13.
class MessageWarningHandler : public c10::WarningHandler {
 public:
  virtual void message(const std::string& text) = 0;
#if TORCH_VERSION_MAJOR >= 2
  void process(const c10::Warning& warning) override { message(warning.msg()); }
#else
  void process(const c10::SourceLocation&, const std::string& text, const bool) override { message(text); }
#endif
};

/// Installs a warning handler for its lifetime (the guard moved from c10::Warning to
/// c10::WarningUtils in 2.x).
#if TORCH_VERSION_MAJOR >= 2
using WarningHandlerGuard = c10::WarningUtils::WarningHandlerGuard;
#else
using WarningHandlerGuard = c10::Warning::WarningHandlerGuard;
#endif


/// The warning handler in effect (LibTorch's default one unless a program or test installed its
/// own): `c10::Warning::` in 1.13, `c10::WarningUtils::` in 2.x.
inline c10::WarningHandler* current_warning_handler() {
#if TORCH_VERSION_MAJOR >= 2
  return c10::WarningUtils::get_warning_handler();
#else
  return c10::Warning::get_warning_handler();
#endif
}

/// Hands `message` to the current warning handler, as a verbatim user warning.
inline void emit_warning(const c10::SourceLocation& where, const std::string& message) {
#if TORCH_VERSION_MAJOR >= 2
  c10::warn(c10::Warning(c10::UserWarning(), where, message, /*verbatim=*/true));
#else
  c10::Warning::warn(where, message, /*verbatim=*/true);
#endif
}

}  // namespace torchlr::compat

#ifdef TORCHLR_COMPAT_GLOO
// c10d's Gloo process group (src/gloo.cpp only: it needs the gloo headers).
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace torchlr::compat {

/// LibTorch 2.4+'s TCPStore uses libuv by default, and Debian's LibTorch has none (its store then
/// throws "use_libuv was requested but PyTorch was build without libuv support"); 1.13 has no
/// such option.
inline void use_tcp_store_without_libuv(c10d::TCPStoreOptions& options) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  options.useLibUV = false;
#else
  (void)options;
#endif
}

/// 1.13's ProcessGroupGloo is a ProcessGroup; 2.x's is a Backend, which a ProcessGroup wraps.
inline c10::intrusive_ptr<c10d::ProcessGroup> make_gloo_process_group(
    const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
    const c10::intrusive_ptr<c10d::ProcessGroupGloo::Options>& options) {
  auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
#if TORCH_VERSION_MAJOR >= 2
  auto group = c10::make_intrusive<c10d::ProcessGroup>(store, rank, size);
  group->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
  group->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
  return group;
#else
  return gloo;
#endif
}

}  // namespace torchlr::compat
#endif  // TORCHLR_COMPAT_GLOO
