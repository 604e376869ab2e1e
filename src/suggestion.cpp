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

// The steepest least-squares slope of y against x over windows of x ± kHalfWindow, one window
// around each point; `at` indexes x and y, or is x.size() when no window has 3 points and a spread.
struct SteepestWindow {
  double slope = std::numeric_limits<double>::infinity();
  std::size_t at;
};

constexpr double kHalfWindow = 0.5 + 1e-12;

// Linear in the number of points for a sorted ladder (n log n otherwise, for the sort): the
// points are visited in order of x, so each window is a contiguous run that only moves forward,
// and its sums are updated as points enter and leave it. The sums are taken relative to an
// anchor point that is moved along (and the sums recomputed) whenever the window has travelled
// a decade from it, which keeps the centred sums free of cancellation; each point is summed
// afresh at most a few times, so this stays linear. Ties go to the earliest point, as a direct
// search over the points in their given order would have it.
SteepestWindow steepest_window(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = x.size();
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  if (!std::is_sorted(x.begin(), x.end())) {
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  }
  struct Sums {
    double x0 = 0, y0 = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    void add(double xv, double yv, double sign) {
      const double dx = xv - x0, dy = yv - y0;
      sx += sign * dx;
      sy += sign * dy;
      sxx += sign * dx * dx;
      sxy += sign * dx * dy;
    }
  } sums;
  constexpr double kReanchorDistance = 1.0;
  auto reanchor = [&](std::size_t i, std::size_t lo, std::size_t hi) {
    sums = Sums{x[i], y[i]};
    for (std::size_t k = lo; k < hi; ++k) sums.add(x[order[k]], y[order[k]], 1);
  };
  reanchor(order.front(), 0, 0);

  SteepestWindow best{std::numeric_limits<double>::infinity(), n};
  std::size_t lo = 0, hi = 0;  // the window: order[lo..hi)
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = order[k];
    for (; hi < n && x[order[hi]] - x[i] <= kHalfWindow; ++hi) sums.add(x[order[hi]], y[order[hi]], 1);
    for (; x[i] - x[order[lo]] > kHalfWindow; ++lo) sums.add(x[order[lo]], y[order[lo]], -1);
    if (std::abs(x[i] - sums.x0) > kReanchorDistance) reanchor(i, lo, hi);
    const std::size_t count = hi - lo;
    if (count < 3) continue;
    const double mx = sums.sx / static_cast<double>(count);
    const double my = sums.sy / static_cast<double>(count);
    const double sxx = sums.sxx - sums.sx * mx;
    const double sxy = sums.sxy - sums.sx * my;
    // All x alike (up to rounding of the sums): no slope.
    if (!(sxx > 1e-12 * sums.sxx)) continue;
    const double slope = sxy / sxx;
    if (slope < best.slope || (slope == best.slope && i < best.at)) best = {slope, i};
  }
  return best;
}

// A descent of less than 5% from the first kept point to the minimum is no real descent; nor is
// none at all, which the 5% alone misses for a curve that starts at 0. `y`: the finite points kept.
std::string no_descent_warning(const std::vector<double>& y) {
  if (y.empty()) return "";
  const double descent = y.front() - *std::min_element(y.begin(), y.end());
  return descent <= 0 || descent < 0.05 * std::abs(y.front()) ? kNoDescent : "";
}

// The warning for a curve read by any rule: the finite points after `skip_begin`.
std::string curve_warning(const std::vector<double>& lrs, const std::vector<double>& smoothed, int64_t skip_begin) {
  std::vector<double> y;
  for (std::size_t i = static_cast<std::size_t>(std::max<int64_t>(skip_begin, 0)); i < lrs.size(); ++i) {
    if (lrs[i] > 0 && std::isfinite(lrs[i]) && std::isfinite(smoothed[i])) y.push_back(smoothed[i]);
  }
  return no_descent_warning(y);
}

// torchlr's steepest least-squares slope of the smoothed loss against log10(lr)
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
  // Fewer points make no slope at all, and lr_min / 10 would be a guess, not a suggestion.
  if (x.size() < 3) {
    return none("the steepest-slope rule needs at least 3 finite points, but only " + std::to_string(x.size()) +
                " remain after skipping the first " + std::to_string(skip_begin) +
                " (run more steps, or lower skip_begin)");
  }
  const std::size_t at_min = static_cast<std::size_t>(std::min_element(y.begin(), y.end()) - y.begin());
  const double lr_min = lr[at_min];
  const SteepestWindow steepest = steepest_window(x, y);
  const double lr_steep = (steepest.at < x.size() && steepest.slope < 0) ? lr[steepest.at] : lr_min / 10;
  return {std::min(std::max(lr_steep, lr_min / 10), lr_min), "", no_descent_warning(y)};
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
    case Suggestion::automatic: {
      // The curve rule as it is, with the warning about a curve that does not descend.
      SuggestionResult result = suggest_lr(lrs, smoothed, kCurveRule, skip_begin, num_iter);
      if (result.lr && result.warning.empty()) result.warning = curve_warning(lrs, smoothed, skip_begin);
      return result;
    }
  }
  TORCH_CHECK_VALUE(false, "suggest_lr: unknown method");
}

}  // namespace torchlr
