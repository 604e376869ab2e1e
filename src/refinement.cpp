#include "refinement.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace torchlr::detail::refinement {

std::vector<double> candidate_lrs(double lr_stop) {
  std::vector<double> lrs;
  for (int j = 1; j <= kCandidates; ++j) lrs.push_back(lr_stop * std::pow(10.0, -j / 2.0));
  return lrs;
}

std::array<std::size_t, kRounds> candidates_per_round() { return {kCandidates, (kCandidates + 1) / 2, 2}; }

std::array<int64_t, kRounds> steps_per_trial(int64_t budget) {
  const int64_t per_round = budget / kRounds;
  std::array<int64_t, kRounds> steps{};
  const auto counts = candidates_per_round();
  for (int r = 0; r < kRounds; ++r) steps[r] = per_round / static_cast<int64_t>(counts[r]);
  return steps;
}

int64_t minimum_budget() { return kRounds * kCandidates; }

bool stops(double loss, double first_loss) {
  return !std::isfinite(loss) || loss > first_loss + (kStopFactor - 1) * std::abs(first_loss);
}

double score(const std::vector<double>& losses, bool stopped) {
  if (stopped || losses.empty()) return std::numeric_limits<double>::infinity();
  const std::size_t n = std::min<std::size_t>(kScoreWindow, losses.size());
  double sum = 0;
  for (std::size_t i = losses.size() - n; i < losses.size(); ++i) sum += losses[i];
  return sum / static_cast<double>(n);
}

namespace {

// Candidates ordered by score, the lower lr first on an exact tie; stopped ones left out.
std::vector<std::size_t> by_score(const std::vector<std::size_t>& candidates, const std::vector<double>& lrs,
                                  const std::vector<double>& scores) {
  std::vector<std::size_t> order;
  for (std::size_t c : candidates) {
    if (std::isfinite(scores[c])) order.push_back(c);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return scores[a] != scores[b] ? scores[a] < scores[b] : lrs[a] < lrs[b];
  });
  return order;
}

}  // namespace

std::vector<std::size_t> survivors(const std::vector<std::size_t>& candidates, const std::vector<double>& lrs,
                                   const std::vector<double>& scores, std::size_t keep) {
  const auto order = by_score(candidates, lrs, scores);
  std::vector<std::size_t> kept;
  if (order.empty()) return kept;
  const double best = scores[order.front()];
  std::vector<std::size_t> tied;
  for (std::size_t c : order) {
    if (scores[c] <= best + kTieTolerance * std::abs(best)) tied.push_back(c);
  }
  std::stable_sort(tied.begin(), tied.end(), [&](std::size_t a, std::size_t b) { return lrs[a] > lrs[b]; });
  for (std::size_t c : tied) {
    if (kept.size() < keep) kept.push_back(c);
  }
  for (std::size_t c : order) {
    if (kept.size() < keep && std::find(kept.begin(), kept.end(), c) == kept.end()) kept.push_back(c);
  }
  std::vector<std::size_t> in_order;
  for (std::size_t c : candidates) {
    if (std::find(kept.begin(), kept.end(), c) != kept.end()) in_order.push_back(c);
  }
  return in_order;
}

std::optional<std::size_t> winner(const std::vector<std::size_t>& candidates, const std::vector<double>& lrs,
                                  const std::vector<double>& scores) {
  const auto order = by_score(candidates, lrs, scores);
  if (order.empty()) return std::nullopt;
  return order.front();
}

}  // namespace torchlr::detail::refinement
