#pragma once

// Every difference between the LibTorch versions torchlr supports (Debian 12's 1.13, Debian 13's
// 2.6) lives here, so the library and the tests stay free of version checks.

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include <c10/util/Exception.h>
#include <torch/optim/optimizer.h>
#include <torch/version.h>

namespace torchlr::compat {

/// The key type of `Optimizer::state()`: a string (the TensorImpl's address printed) in 1.13,
/// the TensorImpl pointer itself in 2.x.
using OptimizerStateKey =
    typename std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

/// The key under which `optimizer.state()` keeps `param`'s state. (A template only so that the
/// branch for the other version is discarded.)
template <typename Key = OptimizerStateKey>
Key optimizer_state_key(const at::Tensor& param) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;  // what 1.13's c10::guts::to_string does
    key << param.unsafeGetTensorImpl();
    return key.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

/// LibTorch 2.x's `zero_grad()` sets gradients to none by default; 1.13 zeroes them in place.
inline constexpr bool zero_grad_sets_none = TORCH_VERSION_MAJOR >= 2;

}  // namespace torchlr::compat

namespace torchlr::compat {

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
