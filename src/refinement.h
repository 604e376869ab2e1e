#pragma once

// The rules of the refined suggestion (README, "The LR finder": "Trials"): the candidates,
// the steps of each round, a trial's stop and score, who survives a round and who wins. Pure
// functions, so the rules are tested without training anything. Internal to the LR finder.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace torchlr::detail::refinement {

constexpr int kCandidates = 7;         // lr_stop · 10^(−j/2), j = 1 … 7
constexpr int kRounds = 3;             // 7, then 4, then 2 candidates
constexpr int kScoreWindow = 5;        // a score is the mean of the last 5 losses
constexpr double kStopFactor = 10;     // a trial stops at a loss above 10× its first
constexpr double kTieTolerance = 0.1;  // scores within 10% of the best count as tied

/// The candidates' lrs, highest first.
std::vector<double> candidate_lrs(double lr_stop);
/// How many candidates each round runs.
std::array<std::size_t, kRounds> candidates_per_round();
/// Each round's steps per trial: ⌊⌊budget/3⌋ / candidates in the round⌋.
std::array<int64_t, kRounds> steps_per_trial(int64_t budget);
/// The smallest budget that gives every trial a step.
int64_t minimum_budget();
/// Whether a trial stops at `loss` (not finite, or above 10× the trial's first loss; for a
/// negative first loss, above first + 9·|first|; after a first loss of exactly 0, any loss above 0).
bool stops(double loss, double first_loss);
/// The mean of the last min(5, n) losses; +∞ for a stopped trial or one without losses.
double score(const std::vector<double>& losses, bool stopped);
/// The `keep` candidates that go on: those tied with the best score (within 10%) first, the
/// highest lrs among them first, then the next-best scores (the lower lr on an exact tie).
/// Stopped candidates (score +∞) never go on. Returned in the order of `candidates`.
std::vector<std::size_t> survivors(const std::vector<std::size_t>& candidates, const std::vector<double>& lrs,
                                   const std::vector<double>& scores, std::size_t keep);
/// The lowest finite score (the lower lr on an exact tie), or none when all stopped.
std::optional<std::size_t> winner(const std::vector<std::size_t>& candidates, const std::vector<double>& lrs,
                                  const std::vector<double>& scores);

}  // namespace torchlr::detail::refinement
