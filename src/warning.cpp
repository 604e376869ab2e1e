#include <iostream>
#include <string>
#include <typeinfo>

#include "internal.h"
#include "torch_compat.h"

namespace torchlr::detail {

void warn(const std::string& message) {
  const c10::WarningHandler* handler = compat::current_warning_handler();
  // LibTorch's default handler is a plain c10::WarningHandler; any other was installed on
  // purpose (a test capturing warnings, Python's bridge) and gets the warning as it is.
  if (handler != nullptr && typeid(*handler) != typeid(c10::WarningHandler)) {
    compat::emit_warning(c10::SourceLocation{"torchlr::detail::warn", __FILE__, __LINE__}, message);
    return;
  }
  // One write, so that warnings from several threads do not interleave within a line.
  std::cerr << ("torchlr warning: " + message + "\n") << std::flush;
}

}  // namespace torchlr::detail
