#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include "torch_compat.h"

namespace torchlr::testing {

/// An SGD optimizer with one one-element parameter per group, at the given lrs.
struct SgdFixture {
  explicit SgdFixture(std::vector<double> lrs, double momentum = 0.9) {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    for (double lr : lrs) {
      params.push_back(torch::zeros({1}, torch::dtype(torch::kDouble)).requires_grad_());
      groups.emplace_back(std::vector<torch::Tensor>{params.back()},
                          std::make_unique<torch::optim::SGDOptions>(
                              torch::optim::SGDOptions(lr).momentum(momentum)));
    }
    optimizer = std::make_unique<torch::optim::SGD>(std::move(groups),
                                                    torch::optim::SGDOptions(lrs.front()));
  }

  /// A real optimizer step (zero gradient), as a training loop would do before scheduler.step().
  void optimizer_step() {
    for (auto& p : params) p.mutable_grad() = torch::zeros_like(p);
    optimizer->step();
  }

  double lr(std::size_t group = 0) const {
    return optimizer->param_groups()[group].options().get_lr();
  }
  void set_lr(double lr, std::size_t group = 0) {
    optimizer->param_groups()[group].options().set_lr(lr);
  }

  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::SGD> optimizer;
};

/// Relative comparison at PyTorch parity tolerance (1e-12), exact for zero.
inline ::testing::AssertionResult RelClose(double actual, double expected, double rel = 1e-12) {
  const double diff = std::abs(actual - expected);
  if (diff <= rel * std::abs(expected) || diff == 0.0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "actual " << actual << " vs expected " << expected
                                       << " (relative error " << diff / std::abs(expected) << ")";
}

/// Steps `scheduler` `steps` times (after an optimizer step each time) and returns the lr of
/// group 0 after construction and after each step.
template <typename Scheduler>
std::vector<double> trajectory(SgdFixture& f, Scheduler& scheduler, int steps) {
  std::vector<double> lrs{f.lr()};
  for (int i = 0; i < steps; ++i) {
    f.optimizer_step();
    scheduler.step();
    lrs.push_back(f.lr());
  }
  return lrs;
}

/// For expectations quoted to 10 significant digits (the semantics doc); exact parity is checked
/// at 1e-12 against the reference traces.
inline void ExpectSequence(const std::vector<double>& actual, const std::vector<double>& expected,
                           double rel = 1e-8) {
  ASSERT_GE(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(RelClose(actual[i], expected[i], rel)) << "at index " << i;
  }
}

/// Captures TORCH_WARN messages while alive.
class WarningCapture : public compat::MessageWarningHandler {
 public:
  WarningCapture() : guard_(this) {}
  void message(const std::string& text) override { messages.push_back(text); }
  std::vector<std::string> messages;

 private:
  compat::WarningHandlerGuard guard_;
};

/// The message of a c10::Error without LibTorch's backtrace.
inline std::string message_of(const c10::Error& e) { return e.what_without_backtrace(); }

}  // namespace torchlr::testing

/// Expects `statement` to throw c10::ValueError whose message contains every given fragment.
#define EXPECT_VALUE_ERROR(statement, ...)                                            \
  do {                                                                                \
    try {                                                                             \
      statement;                                                                      \
      ADD_FAILURE() << "expected c10::ValueError from " #statement;                   \
    } catch (const c10::ValueError& e) {                                              \
      const std::string msg = ::torchlr::testing::message_of(e);                      \
      for (const std::string& fragment : std::vector<std::string>{__VA_ARGS__}) {     \
        EXPECT_NE(msg.find(fragment), std::string::npos)                              \
            << "message '" << msg << "' lacks '" << fragment << "'";                  \
      }                                                                               \
    }                                                                                 \
  } while (0)
