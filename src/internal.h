#pragma once

// Helpers shared by torchlr's sources; not part of the public API.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>

#include <torchlr/modes.h>
#include <torchlr/state_archive.h>

namespace torch::optim {
class Optimizer;
}

namespace torchlr::detail {

/// Every group's lr and momentum (NaN for a group without one), as read before a scheduler
/// that writes the optimizer ahead of its base class (CyclicLR, OneCycleLR) does so.
struct OptimizerValues {
  std::vector<double> lrs;
  std::vector<double> momenta;
  /// One per group for a scheduler that assigns PyTorch's `group["initial_lr"]` (OneCycleLR)
  /// instead of taking the remembered one; empty otherwise.
  std::vector<double> initial_lrs;
};
OptimizerValues read_optimizer_values(const torch::optim::Optimizer& optimizer);

/// PyTorch's `group.setdefault("initial_lr", group["lr"])` for every group of an optimizer, for a
/// scheduler that is not an LRScheduler (timm's): shared with the LRSchedulers on the same groups
/// (src/scheduler.cpp keeps the values) and held for as long as the lease lives.
class InitialLrLease {
 public:
  explicit InitialLrLease(const torch::optim::Optimizer& optimizer);
  ~InitialLrLease();
  InitialLrLease(const InitialLrLease&) = delete;
  InitialLrLease& operator=(const InitialLrLease&) = delete;
  /// Each group's initial lr.
  const std::vector<double>& values() const noexcept { return values_; }

 private:
  const torch::optim::Optimizer* optimizer_;
  std::vector<double> values_;
  std::vector<uint64_t> generations_;
};

/// Python's `a % b` for integers: the result has the sign of `b` (C++ truncates instead).
inline int64_t floor_mod(int64_t a, int64_t b) {
  const int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

/// Python's `a // b` for integers.
inline int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// Refuses a non-finite argument (NaN or ±Inf), naming it.
inline void check_finite(const char* scheduler, const char* argument, double value) {
  TORCH_CHECK_VALUE(std::isfinite(value), scheduler, ": ", argument,
                    " must be a finite number, but got ", value);
}

/// The largest integer a double holds exactly (2^53): epochs and counters beyond it are refused,
/// so that counting on from them can neither overflow nor lose steps.
constexpr int64_t kMaxExactInteger = int64_t{1} << 53;

/// Whether a counter read from a checkpoint is in [lowest, 2^53].
inline bool is_valid_count(int64_t value, int64_t lowest = 0) {
  return value >= lowest && value <= kMaxExactInteger;
}

/// Refuses a step count (or a step) beyond ±2^53, naming it: within that range sums of a few of
/// them and a step stay exact in int64_t and convert to double exactly, as Python's integers do.
inline void check_steps(const std::string& scheduler, const char* argument, int64_t value) {
  TORCH_CHECK_VALUE(is_valid_count(value, -kMaxExactInteger), scheduler, ": ", argument,
                    " must be within ±2^53, but got ", value);
}

/// A state field that is a std::optional: a flag `has_<key>` and, when set, the value (a
/// default-constructed one when not).
template <typename T>
void optional_field(StateArchive& archive, const std::string& key, std::optional<T>& value) {
  bool has = value.has_value();
  archive.field("has_" + key, has);
  T v = value.value_or(T{});
  archive.field(key, v);
  if (archive.loading()) value = has ? std::optional<T>(std::move(v)) : std::nullopt;
}

/// Refuses a checkpoint whose list `what` holds a NaN or an infinity.
template <typename Values>
void check_all_finite_in_checkpoint(const std::string& owner, const char* what, const Values& values) {
  for (double v : values) {
    TORCH_CHECK_VALUE(std::isfinite(v), owner, ": the checkpoint's ", what, " holds a non-finite value ", v);
  }
}

/// A mode in a checkpoint, as PyTorch's string; an unknown one is refused naming `owner`.
template <typename Mode>
void mode_field(StateArchive& archive, const std::string& key, Mode& mode, const std::string& owner) {
  std::string text = to_string(mode);
  archive.field(key, text);
  if (archive.loading()) {
    try {
      parse_config_enum(key, text, mode);
    } catch (const c10::ValueError&) {
      C10_THROW_ERROR(ValueError, c10::str(owner, ": the checkpoint holds an unknown ", key, " '", text, "'"));
    }
  }
}

/// Reports a warning. It goes to the warning handler a program or test installed
/// (c10::WarningUtils::WarningHandlerGuard), and otherwise to stderr as one plain line
/// "torchlr warning: <message>": LibTorch's default handler may log through glog, which
/// prefixes every line with noise about uninitialized logging (Debian's 1.13).
void warn(const std::string& message);

/// Whether `optimizer.step()` leaves per-parameter state behind, so that an empty state before
/// the first scheduler step means the optimizer was never stepped.
bool optimizer_creates_state_on_step(const torch::optim::Optimizer& optimizer);

}  // namespace torchlr::detail
