// The steepest rule (torchlr's default until the refined suggestion) on degenerate curves, its sliding-window search against the direct
// definition, and how its warning reaches the user: once per result, captured exactly by a
// warning handler, and as one plain line on stderr otherwise.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/optim/sgd.h>

#include <torchlr/lr_finder.h>
#include <torchlr/scheduler.h>
#include <torchlr/decay.h>

#include "helpers.h"

namespace {

using torchlr::Suggestion;
using torchlr::suggest_lr;
using torchlr::testing::SgdFixture;
using torchlr::testing::WarningCapture;

const std::string kNoDescentWarning = "lr_find: no clear descent: widen the range or check the model";

// The rule as documented, searched directly: for every point, the least-squares slope over the
// points within half a decade of it (at least 3, not all at one lr); the steepest negative one,
// earliest on ties, clamped to [lr_min / 10, lr_min].
double steepest_by_definition(const std::vector<double>& lrs, const std::vector<double>& losses) {
  std::vector<double> x, y;
  for (std::size_t i = 0; i < lrs.size(); ++i) {
    x.push_back(std::log10(lrs[i]));
    y.push_back(losses[i]);
  }
  const std::size_t at_min = static_cast<std::size_t>(std::min_element(y.begin(), y.end()) - y.begin());
  double best = std::numeric_limits<double>::infinity();
  std::size_t at = x.size();
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::vector<std::size_t> window;
    for (std::size_t j = 0; j < x.size(); ++j) {
      if (std::abs(x[j] - x[i]) <= 0.5 + 1e-12) window.push_back(j);
    }
    if (window.size() < 3) continue;
    double mx = 0, my = 0;
    for (auto j : window) mx += x[j], my += y[j];
    mx /= static_cast<double>(window.size());
    my /= static_cast<double>(window.size());
    double sxy = 0, sxx = 0;
    for (auto j : window) sxy += (x[j] - mx) * (y[j] - my), sxx += (x[j] - mx) * (x[j] - mx);
    if (sxx <= 0) continue;
    if (sxy / sxx < best) best = sxy / sxx, at = i;
  }
  const double lr_min = lrs[at_min];
  const double steep = (at < x.size() && best < 0) ? lrs[at] : lr_min / 10;
  return std::min(std::max(steep, lr_min / 10), lr_min);
}

// A noisy range-test curve: falling, a valley, then diverging.
std::vector<double> noisy_curve(const std::vector<double>& lrs, std::mt19937& rng) {
  std::normal_distribution<double> noise(0.0, 0.02);
  std::uniform_real_distribution<double> valley(-4.0, -1.0);
  const double at = valley(rng);
  std::vector<double> losses;
  for (double lr : lrs) {
    const double d = std::log10(lr) - at;
    losses.push_back(2.0 - 1.5 / (1.0 + std::exp(-3 * (d + 1.5))) + (d > 0 ? d * d : 0.0) + noise(rng));
  }
  return losses;
}

TEST(SteepestRule, SlidingWindowsAgreeWithTheDirectSearch) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> sizes(3, 400);
  for (int trial = 0; trial < 200; ++trial) {
    SCOPED_TRACE(trial);
    const auto lrs = torchlr::lr_ladder(1e-7, 10, sizes(rng), torchlr::LadderMode::exponential);
    const auto losses = noisy_curve(lrs, rng);
    const auto got = suggest_lr(lrs, losses, Suggestion::steepest, 0);
    ASSERT_TRUE(got.lr.has_value()) << got.reason;
    EXPECT_TRUE(torchlr::testing::RelClose(*got.lr, steepest_by_definition(lrs, losses), 1e-12));

    // The same points in another order (a curve recorded elsewhere): the same answer.
    std::vector<std::size_t> order(lrs.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<double> shuffled_lrs, shuffled_losses;
    for (auto i : order) shuffled_lrs.push_back(lrs[i]), shuffled_losses.push_back(losses[i]);
    const auto shuffled = suggest_lr(shuffled_lrs, shuffled_losses, Suggestion::steepest, 0);
    ASSERT_TRUE(shuffled.lr.has_value());
    EXPECT_TRUE(torchlr::testing::RelClose(*shuffled.lr, steepest_by_definition(shuffled_lrs, shuffled_losses), 1e-12));
  }
}

// The direct search visits every pair of points: minutes at this size. The sliding windows take
// milliseconds; a second is room for a loaded machine and the sanitizer build.
TEST(SteepestRule, IsLinearInThePoints) {
  std::mt19937 rng(11);
  const auto lrs = torchlr::lr_ladder(1e-7, 10, 200'000, torchlr::LadderMode::exponential);
  const auto losses = noisy_curve(lrs, rng);
  const auto start = std::chrono::steady_clock::now();
  const auto got = suggest_lr(lrs, losses, Suggestion::steepest, 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(got.lr.has_value());
  EXPECT_LT(seconds, 1.0);
}

TEST(SteepestRule, FewerThanThreeUsablePointsGiveNoSuggestion) {
  const auto lrs = torchlr::lr_ladder(1e-5, 1, 12, torchlr::LadderMode::exponential);
  std::vector<double> losses{3, 2.9, 2.8, 2.7, 2.6, 2.5, 2.4, 2.3, 2.2, 2.1, 2.0, 1.9};
  for (int64_t skip : {10, 11}) {
    const auto s = suggest_lr(lrs, losses, Suggestion::steepest, skip);
    EXPECT_FALSE(s.lr.has_value()) << "skip " << skip;
    EXPECT_NE(s.reason.find("needs at least 3 finite points, but only " + std::to_string(12 - skip) + " remain"),
              std::string::npos)
        << s.reason;
  }
  // Non-finite points do not count.
  losses[9] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(suggest_lr(lrs, losses, Suggestion::steepest, 9).lr.has_value());
  EXPECT_TRUE(suggest_lr(lrs, losses, Suggestion::steepest, 8).lr.has_value());
}

TEST(SteepestRule, ACurveStartingAtZeroWithoutDescentIsFlagged) {
  const auto lrs = torchlr::lr_ladder(1e-5, 1, 30, torchlr::LadderMode::exponential);
  const std::vector<double> zero(lrs.size(), 0.0);
  EXPECT_EQ(suggest_lr(lrs, zero, Suggestion::steepest, 0).warning, "no clear descent: widen the range or check the model");
  std::vector<double> rising;
  for (std::size_t i = 0; i < lrs.size(); ++i) rising.push_back(0.1 * static_cast<double>(i));
  EXPECT_FALSE(suggest_lr(lrs, rising, Suggestion::steepest, 0).warning.empty());
  // A curve from 0 down to below 0 does descend.
  std::vector<double> falling;
  for (std::size_t i = 0; i < lrs.size(); ++i) falling.push_back(-0.1 * static_cast<double>(i));
  EXPECT_TRUE(suggest_lr(lrs, falling, Suggestion::steepest, 0).warning.empty());
}

// A finished range test whose curve never descends: every suggestion carries a warning.
torchlr::LRFinderResult flat_result() {
  const auto lrs = torchlr::lr_ladder(1e-5, 1, 30, torchlr::LadderMode::exponential);
  const std::vector<double> flat(lrs.size(), 1.0);
  return torchlr::LRFinderResult(lrs, flat, flat, torchlr::StopReason::completed,
                                 torchlr::LRFinderOptions().num_iter(30).skip_begin(0), {1.0});
}

TEST(SuggestionWarning, IsReportedOncePerResultWithItsExactText) {
  WarningCapture capture;
  const auto result = flat_result();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(result.suggest().lr.has_value());
  SgdFixture f({0.1});
  result.apply(*f.optimizer);
  EXPECT_TRUE(result.suggestion().has_value());
  EXPECT_EQ(capture.messages, std::vector<std::string>{kNoDescentWarning});
  // Another result warns again.
  flat_result().suggest();
  EXPECT_EQ(capture.messages.size(), 2u);
}

// Without a handler of the program's own, a warning is one plain line on stderr: no logging
// framework's prefix (Debian's LibTorch 1.13 sends TORCH_WARN through glog).
TEST(SuggestionWarning, GoesToStderrAsOnePlainLineByDefault) {
  const auto result = flat_result();
  ::testing::internal::CaptureStderr();
  result.suggest();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "torchlr warning: " + kNoDescentWarning + "\n");
}

// The schedulers' warning takes the same way.
TEST(SchedulerWarning, StepBeforeOptimizerStepIsCapturedExactly) {
  WarningCapture capture;
  SgdFixture f({0.1});
  torchlr::StepLR scheduler(*f.optimizer, torchlr::StepLROptions(2));
  scheduler.step();
  ASSERT_EQ(capture.messages.size(), 1u);
  EXPECT_EQ(capture.messages[0],
            "Detected call of `lr_scheduler.step()` before `optimizer.step()`. You should call them in the "
            "opposite order: `optimizer.step()` before `lr_scheduler.step()`. Failure to do this will result "
            "in skipping the first value of the learning rate schedule.");
}

}  // namespace
