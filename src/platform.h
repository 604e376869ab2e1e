#pragma once

// The one place torchlr touches the operating system beyond standard C++: whether a stream is a
// terminal, and the process id (for unique temporary names in tests and examples). POSIX and
// Windows each get their own spelling; nothing else in the project includes unistd.h or io.h.

#if defined(_WIN32)
#include <io.h>
#include <process.h>
#else
#include <unistd.h>
#endif

#include <cstdio>

namespace torchlr::platform {

/// π, because M_PI is not standard C++ (MSVC hides it behind _USE_MATH_DEFINES).
inline constexpr double kPi = 3.14159265358979323846;

inline bool stderr_is_terminal() {
#if defined(_WIN32)
  return _isatty(_fileno(stderr)) != 0;
#else
  return isatty(STDERR_FILENO) == 1;
#endif
}

inline bool stdout_is_terminal() {
#if defined(_WIN32)
  return _isatty(_fileno(stdout)) != 0;
#else
  return isatty(STDOUT_FILENO) == 1;
#endif
}

inline long process_id() {
#if defined(_WIN32)
  return static_cast<long>(_getpid());
#else
  return static_cast<long>(getpid());
#endif
}

}  // namespace torchlr::platform
