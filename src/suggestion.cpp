// The rules that pick an lr from a range test's smoothed loss curve.

#include <algorithm>
#include <cmath>
#include <limits>

#include <c10/util/Exception.h>

#include <torchlr/lr_finder.h>

namespace torchlr {
namespace {

constexpr const char* kNoDescent = "no clear descent: widen the range or check the model";

SuggestionResult none(std::string reason) { return {std::nullopt, std::move(reason), ""}; }

// torchlr's default: the steepest least-squares slope of the smoothed loss against log10(lr)
// over a window of ±half a decade, kept within [lr_min / 10, lr_min].
SuggestionResult steepest(const std::vector<double>& lrs, const std::vector<double>& smoothed,
                          int64_t skip_begin) {
  std::vector<double> x, y, lr;
  for (std::size_t i = static_cast<std::size_t>(std::max<int64_t>(skip_begin, 0)); i < lrs.size(); ++i) {
    if (lrs[i] > 0 && std::isfinite(lrs[i]) && std::isfinite(smoothed[i])) {
      x.push_back(std::log10(lrs[i]));
      y.push_back(smoothed[i]);
      lr.push_back(lrs[i]);
    }
  }
  if (x.empty()) {
    return none("no finite points left after skipping the first " + std::to_string(skip_begin) +
                " (run more steps, or lower skip_begin)");
  }
  const std::size_t n = x.size();
  const std::size_t at_min = static_cast<std::size_t>(std::min_element(y.begin(), y.end()) - y.begin());
  const double lr_min = lr[at_min];

  constexpr double kHalfWindow = 0.5 + 1e-12;
  double best_slope = std::numeric_limits<double>::infinity();
  std::size_t at_steepest = n;
  for (std::size_t i = 0; i < n; ++i) {
    double sx = 0, sy = 0;
    std::size_t count = 0;
    for (std::size_t j = 0; j < n; ++j) {
      if (std::abs(x[j] - x[i]) <= kHalfWindow) {
        sx += x[j];
        sy += y[j];
        ++count;
      }
    }
    if (count < 3) continue;
    const double mx = sx / static_cast<double>(count);
    const double my = sy / static_cast<double>(count);
    double sxy = 0, sxx = 0;
    for (std::size_t j = 0; j < n; ++j) {
      if (std::abs(x[j] - x[i]) <= kHalfWindow) {
        sxy += (x[j] - mx) * (y[j] - my);
        sxx += (x[j] - mx) * (x[j] - mx);
      }
    }
    if (sxx <= 0) continue;
    const double slope = sxy / sxx;
    if (slope < best_slope) {
      best_slope = slope;
      at_steepest = i;
    }
  }
  const double lr_steep = (at_steepest < n && best_slope < 0) ? lr[at_steepest] : lr_min / 10;
  SuggestionResult result{std::min(std::max(lr_steep, lr_min / 10), lr_min), "", ""};
  // A descent of less than 5% from the first kept point to the minimum is no real descent.
  if (y.front() - y[at_min] < 0.05 * std::abs(y.front())) result.warning = kNoDescent;
  return result;
}

// fastai's preprocessing: skip num_it // 10 at the start and 5 at the end, cut at the first NaN.
// fastai holds the curve in float32 tensors, so its rules compare and return float32 values.
void fastai_trim(const std::vector<double>& lrs, const std::vector<double>& smoothed, int64_t num_iter,
                 std::vector<float>& out_lrs, std::vector<float>& out_losses) {
  const std::size_t begin = static_cast<std::size_t>(std::max<int64_t>(num_iter / 10, 0));
  const std::size_t end = lrs.size() >= 5 ? lrs.size() - 5 : 0;
  for (std::size_t i = begin; i < end; ++i) {
    if (std::isnan(smoothed[i])) break;
    out_lrs.push_back(static_cast<float>(lrs[i]));
    out_losses.push_back(static_cast<float>(smoothed[i]));
  }
}

SuggestionResult valley(const std::vector<double>& all_lrs, const std::vector<double>& all_losses,
                        int64_t num_iter) {
  std::vector<float> lrs, losses;
  fastai_trim(all_lrs, all_losses, num_iter, lrs, losses);
  const std::size_t n = losses.size();
  if (n < 2) return none("valley needs at least 2 points after fastai's trimming");
  // Longest strictly descending subsequence ending at each point.
  std::vector<std::size_t> run(n, 1);
  std::size_t max_start = 0, max_end = 0;
  for (std::size_t i = 1; i < n; ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (losses[i] < losses[j] && run[i] < run[j] + 1) run[i] = run[j] + 1;
      if (run[max_end] < run[i]) {
        max_end = i;
        max_start = max_end - run[max_end];
      }
    }
  }
  const double sections = static_cast<double>(max_end - max_start) / 3;
  const std::size_t idx = max_start + static_cast<std::size_t>(sections) + static_cast<std::size_t>(sections / 2);
  return {static_cast<double>(lrs[std::min(idx, n - 1)]), "", ""};
}

SuggestionResult minimum(const std::vector<double>& all_lrs, const std::vector<double>& all_losses,
                         int64_t num_iter) {
  std::vector<float> lrs, losses;
  fastai_trim(all_lrs, all_losses, num_iter, lrs, losses);
  if (losses.empty()) return none("minimum needs at least 1 point after fastai's trimming");
  const auto at = std::min_element(losses.begin(), losses.end()) - losses.begin();
  // fastai divides the Python float of the float32 lr (`.item()`), in double.
  return {static_cast<double>(lrs[static_cast<std::size_t>(at)]) / 10, "", ""};
}

// Lightning: drop the first 10 and the last point, drop non-finite ones, and take the argmin of
// torch.gradient(losses, spacing=[lrs]) computed, like torch.tensor of Python floats, in float32.
SuggestionResult lightning(const std::vector<double>& all_lrs, const std::vector<double>& all_losses) {
  constexpr std::size_t kSkipBegin = 10, kSkipEnd = 1;
  std::vector<float> x, y;
  std::vector<std::size_t> index;
  for (std::size_t i = kSkipBegin; i + kSkipEnd < all_lrs.size(); ++i) {
    const auto loss = static_cast<float>(all_losses[i]);
    if (!std::isfinite(loss)) continue;
    x.push_back(static_cast<float>(all_lrs[i]));
    y.push_back(loss);
    index.push_back(i);
  }
  const std::size_t n = y.size();
  if (n < 2) return none("Lightning's rule needs at least 2 finite points after skipping 10 and 1");
  std::vector<float> g(n);
  g[0] = (y[1] - y[0]) / (x[1] - x[0]);
  g[n - 1] = (y[n - 1] - y[n - 2]) / (x[n - 1] - x[n - 2]);
  for (std::size_t i = 1; i + 1 < n; ++i) {
    const float dx1 = x[i] - x[i - 1];
    const float dx2 = x[i + 1] - x[i];
    const float a = -(dx2 / (dx1 * (dx1 + dx2)));
    const float b = (dx2 - dx1) / (dx1 * dx2);
    const float c = dx1 / (dx2 * (dx1 + dx2));
    g[i] = a * y[i - 1] + b * y[i] + c * y[i + 1];
  }
  const auto at = std::min_element(g.begin(), g.end()) - g.begin();
  return {all_lrs[index[static_cast<std::size_t>(at)]], "", ""};
}

}  // namespace

SuggestionResult suggest_lr(const std::vector<double>& lrs, const std::vector<double>& smoothed,
                            Suggestion method, int64_t skip_begin, int64_t num_iter) {
  TORCH_CHECK_VALUE(lrs.size() == smoothed.size(), "suggest_lr: lrs has ", lrs.size(),
                    " values but smoothed has ", smoothed.size());
  switch (method) {
    case Suggestion::steepest: return steepest(lrs, smoothed, skip_begin);
    case Suggestion::valley: return valley(lrs, smoothed, num_iter);
    case Suggestion::minimum: return minimum(lrs, smoothed, num_iter);
    case Suggestion::lightning: return lightning(lrs, smoothed);
  }
  TORCH_CHECK_VALUE(false, "suggest_lr: unknown method");
}

}  // namespace torchlr
