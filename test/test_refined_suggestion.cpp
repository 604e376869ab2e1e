// The refined suggestion (LRFinderOptions::trial_budget): its rules on their own (src/refinement.h),
// then the trials inside lr_find: the same start and batches for every candidate, survivors that
// continue from their own state, what the result reports, and everything the range test promises
// (the bit-identical restore, a stop on non-finite losses, on_step, group ratios, accumulation,
// several ranks).

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/data.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include <torchlr/lr_finder.h>

#include "distributed_problem.h"
#include "finder_support.h"
#include "helpers.h"
#include "refinement.h"
#include "thread_communicator.h"

namespace {

namespace rules = torchlr::detail::refinement;
using torchlr::FinderPhase;
using torchlr::LRFinderOptions;
using torchlr::LRFinderResult;
using torchlr::Refinement;
using torchlr::Suggestion;
using torchlr::Trial;
using torchlr::testing::Fingerprint;
using torchlr::testing::Net;
using torchlr::testing::WarningCapture;

constexpr double kInf = std::numeric_limits<double>::infinity();

LRFinderOptions quiet() { return LRFinderOptions().progress_bar(false); }

// ---- the rules ------------------------------------------------------------------------------

TEST(RefinementRules, CandidatesAndStepsPerRound) {
  const auto lrs = rules::candidate_lrs(2.0);
  ASSERT_EQ(lrs.size(), 7u);
  for (int j = 1; j <= 7; ++j) EXPECT_DOUBLE_EQ(lrs[static_cast<std::size_t>(j - 1)], 2.0 * std::pow(10.0, -j / 2.0));
  EXPECT_EQ(rules::candidates_per_round(), (std::array<std::size_t, 3>{7, 4, 2}));
  // The reference document's figures: 4, 8, 16 at a budget of 100; 9, 16, 33 at 200.
  EXPECT_EQ(rules::steps_per_trial(100), (std::array<int64_t, 3>{4, 8, 16}));
  EXPECT_EQ(rules::steps_per_trial(200), (std::array<int64_t, 3>{9, 16, 33}));
  EXPECT_EQ(rules::minimum_budget(), 21);
  EXPECT_EQ(rules::steps_per_trial(21), (std::array<int64_t, 3>{1, 1, 3}));
}

TEST(RefinementRules, StopAndScore) {
  EXPECT_FALSE(rules::stops(10.0, 1.0));
  EXPECT_TRUE(rules::stops(10.0 + 1e-12, 1.0));
  EXPECT_TRUE(rules::stops(std::nan(""), 1.0));
  EXPECT_TRUE(rules::stops(kInf, 1.0));
  EXPECT_FALSE(rules::stops(-1.0 + 9.0, -1.0));  // a negative first loss: first + 9·|first|
  EXPECT_TRUE(rules::stops(-1.0 + 9.5, -1.0));
  EXPECT_EQ(rules::score({4, 3}, false), 3.5);
  EXPECT_EQ(rules::score({9, 1, 2, 3, 4, 5}, false), 3.0);  // the last 5 only
  EXPECT_EQ(rules::score({1, 2}, true), kInf);
  EXPECT_EQ(rules::score({}, false), kInf);
}

TEST(RefinementRules, TiedHighLrsSurviveFirstThenTheBestScores) {
  const std::vector<double> lrs{7, 6, 5, 4, 3, 2, 1};  // candidate c has lr 7 − c: highest first
  const std::vector<std::size_t> all{0, 1, 2, 3, 4, 5, 6};
  // Best 1.0 (lr 2); lrs 5 and 4 are within 10% of it; lr 6 stopped.
  const std::vector<double> scores{3.0, kInf, 1.05, 1.09, 1.5, 1.0, 1.2};
  // Tied: lrs 5, 4, 2, kept highest first; then the next-best score (1.2, lr 1).
  EXPECT_EQ(rules::survivors(all, lrs, scores, 4), (std::vector<std::size_t>{2, 3, 5, 6}));
  // Keeping 2 of the tied: the two highest lrs, not the best score.
  EXPECT_EQ(rules::survivors(all, lrs, scores, 2), (std::vector<std::size_t>{2, 3}));
  // A stopped candidate never goes on, even to fill up.
  EXPECT_EQ(rules::survivors({0, 1}, lrs, scores, 2), (std::vector<std::size_t>{0}));
  EXPECT_TRUE(rules::survivors({1}, lrs, scores, 2).empty());
}

TEST(RefinementRules, TheWinnerIsTheLowestScoreAndTheLowerLrOnATie) {
  const std::vector<double> lrs{7, 6, 5, 4, 3, 2, 1};
  EXPECT_EQ(rules::winner({2, 3}, lrs, {0, 0, 1.01, 1.0, 0, 0, 0}), std::optional<std::size_t>(3));
  EXPECT_EQ(rules::winner({2, 3}, lrs, {0, 0, 1.0, 1.0, 0, 0, 0}), std::optional<std::size_t>(3));  // lr 4 < 5
  EXPECT_EQ(rules::winner({2, 3}, lrs, {0, 0, kInf, kInf, 0, 0, 0}), std::nullopt);
}

// ---- the trials in lr_find ------------------------------------------------------------------

// Least squares on fixed data: batch k is rows 8k … 8k+7 (cycling), the same tensor every time
// it is asked for, so a source can hand out batches that are evaluated again (replayed).
struct LeastSquares {
  LeastSquares() {
    torch::manual_seed(11);
    x = torch::randn({64, 4}, torch::kDouble);
    y = x.matmul(torch::tensor({1.0, -2.0, 0.5, 3.0}, torch::kDouble).unsqueeze(1)) +
        0.1 * torch::randn({64, 1}, torch::kDouble);
    model = torch::nn::Linear(4, 1);
    model->to(torch::kDouble);
  }
  torch::Tensor loss_of_batch(int64_t k) {
    const int64_t start = (k % 8) * 8;
    return torch::mse_loss(model->forward(x.slice(0, start, start + 8)), y.slice(0, start, start + 8));
  }
  torch::Tensor full_loss() { return torch::mse_loss(model->forward(x), y); }

  torch::Tensor x, y;
  torch::nn::Linear model{nullptr};
};

// A replayable source over LeastSquares that counts the batches it hands out.
struct CountingSource {
  explicit CountingSource(LeastSquares& problem) : problem(problem) {
    source.replayable = true;
    source.next_batch = [this]() -> std::function<torch::Tensor()> {
      const int64_t k = handed_out++;
      return [this, k] { return this->problem.loss_of_batch(k); };
    };
  }
  LeastSquares& problem;
  int64_t handed_out = 0;
  torchlr::detail::BatchSource source;
};

LRFinderOptions trials_options(int64_t budget = 100) {
  return quiet().min_lr(1e-4).max_lr(100.0).num_iter(60).trial_budget(budget);
}

TEST(RefinedSuggestion, ReportsEveryTrialTheWinnerAndTheVerdict) {
  LeastSquares problem;
  torch::optim::SGD sgd(problem.model->parameters(), torch::optim::SGDOptions(0.01));
  CountingSource counting(problem);
  const LRFinderResult r = torchlr::detail::run_range_test(*problem.model, sgd, counting.source, trials_options());
  ASSERT_EQ(r.stop_reason(), torchlr::StopReason::diverged);
  ASSERT_TRUE(r.refinement().has_value());
  const Refinement& ref = *r.refinement();
  EXPECT_EQ(ref.lr_stop, r.lrs().back());
  EXPECT_EQ(ref.candidates, rules::candidate_lrs(r.lrs().back()));
  ASSERT_EQ(ref.trials.size(), 13u);  // 7 + 4 + 2
  int64_t steps = 0;
  for (std::size_t t = 0; t < ref.trials.size(); ++t) {
    const Trial& trial = ref.trials[t];
    const int64_t round = t < 7 ? 0 : t < 11 ? 1 : 2;
    EXPECT_EQ(trial.round, round) << "trial " << t;
    EXPECT_EQ(trial.lr, ref.candidates[trial.candidate]);
    if (!trial.stopped) {
      EXPECT_EQ(static_cast<int64_t>(trial.losses.size()), (std::array<int64_t, 3>{4, 8, 16})[round]);
    }
    EXPECT_EQ(trial.score, rules::score(trial.losses, trial.stopped));
    steps += static_cast<int64_t>(trial.losses.size());
  }
  for (std::size_t c = 0; c < 7; ++c) EXPECT_EQ(ref.trials[c].candidate, c);  // round 1: every candidate, in order
  EXPECT_EQ(ref.steps, steps);
  // The batches: the range test's, then each round's once (4, 8 and 16), however many candidates ran.
  EXPECT_EQ(counting.handed_out, static_cast<int64_t>(r.lrs().size()) + 4 + 8 + 16);
  // The winner is the lowest round-3 score; it is what Suggestion::automatic gives.
  ASSERT_TRUE(ref.lr.has_value());
  const Trial& a = ref.trials[11];
  const Trial& b = ref.trials[12];
  EXPECT_EQ(*ref.lr, a.score < b.score || (a.score == b.score && a.lr < b.lr) ? a.lr : b.lr);
  EXPECT_EQ(r.suggestion(), ref.lr);
  EXPECT_EQ(r.suggestion(Suggestion::automatic), ref.lr);
  EXPECT_EQ(ref.curve_lr, r.suggestion(torchlr::kCurveRule));
  EXPECT_NE(ref.verdict.find("trials' winner"), std::string::npos) << ref.verdict;
  EXPECT_TRUE(ref.warning.empty()) << ref.warning;
  // On a stable least-squares problem (L = largest eigenvalue of 2·XᵀX/n) the winner is stable.
  const double L = torch::linalg_eigvalsh(2 * problem.x.t().matmul(problem.x) / 64).max().item<double>();
  EXPECT_LT(*ref.lr, 2 / L);
}

TEST(RefinedSuggestion, EveryCandidateStartsFromTheStartStateOnTheSameBatches) {
  LeastSquares problem;
  torch::optim::SGD sgd(problem.model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  std::vector<std::vector<double>> first_round(7);
  CountingSource counting(problem);
  const auto options = trials_options().on_step([&](const torchlr::LRFinderStep& s) {
    if (s.phase == FinderPhase::trial && s.round == 0) first_round[static_cast<std::size_t>(s.candidate)].push_back(s.loss);
  });
  // The start state: what a step from it gives on batch k, for the check below.
  const double first_loss = problem.loss_of_batch(0).item<double>();
  torchlr::detail::run_range_test(*problem.model, sgd, counting.source, options);
  // The first loss of every first-round trial is the start state's loss on the round's first
  // batch (the range test read batches 0 … n−1, so the round's first is batch n).
  const int64_t n = counting.handed_out - 28;
  const double expected = problem.loss_of_batch(n).item<double>();
  for (std::size_t c = 0; c < 7; ++c) {
    ASSERT_FALSE(first_round[c].empty());
    EXPECT_EQ(first_round[c].front(), expected) << "candidate " << c;
  }
  EXPECT_EQ(problem.loss_of_batch(0).item<double>(), first_loss);  // restored afterwards
}

// With a loss of the whole data set (every batch the same), a candidate's trials in rounds 1 and
// 2 are exactly the first 4 + 8 steps of training at its lr from the start state.
TEST(RefinedSuggestion, SurvivorsContinueFromTheirOwnState) {
  LeastSquares problem;
  torch::optim::Adam adam(problem.model->parameters(), torch::optim::AdamOptions(1e-3));
  WarningCapture warnings;  // the callable entry point warns that it cannot replay batches
  const LRFinderResult r =
      torchlr::lr_find(*problem.model, adam, [&] { return problem.full_loss(); }, trials_options().max_lr(10.0));
  ASSERT_TRUE(r.refinement());
  bool warned = false;
  for (const auto& m : warnings.messages) warned = warned || m.find("data loader") != std::string::npos;
  EXPECT_TRUE(warned);
  const Refinement& ref = *r.refinement();
  const auto& survivor = ref.trials[7];  // the first of round 2
  ASSERT_FALSE(survivor.stopped);
  std::vector<double> continued = ref.trials[survivor.candidate].losses;
  continued.insert(continued.end(), survivor.losses.begin(), survivor.losses.end());

  // The same from the start state (lr_find restored it), by hand.
  torch::optim::Adam by_hand(problem.model->parameters(), torch::optim::AdamOptions(survivor.lr));
  const auto saved = problem.model->weight.detach().clone();
  const auto saved_bias = problem.model->bias.detach().clone();
  std::vector<double> expected;
  for (int i = 0; i < 12; ++i) {
    by_hand.zero_grad();
    auto loss = problem.full_loss();
    expected.push_back(loss.item<double>());
    loss.backward();
    by_hand.step();
  }
  EXPECT_EQ(continued, expected);
  torch::NoGradGuard no_grad;
  problem.model->weight.copy_(saved);
  problem.model->bias.copy_(saved_bias);
}

TEST(RefinedSuggestion, OnStepSaysThePhaseAndGroupsKeepTheirRatios) {
  LeastSquares problem;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{problem.model->weight}, std::make_unique<torch::optim::SGDOptions>(0.02));
  groups.emplace_back(std::vector<torch::Tensor>{problem.model->bias}, std::make_unique<torch::optim::SGDOptions>(0.01));
  torch::optim::SGD sgd(std::move(groups), torch::optim::SGDOptions(0.02));
  std::vector<torchlr::LRFinderStep> steps;
  std::vector<double> ratios;
  CountingSource counting(problem);
  auto loss = counting.source.next_batch;
  counting.source.next_batch = [&]() -> std::function<torch::Tensor()> {
    auto batch = loss();
    return [&, batch] {
      ratios.push_back(sgd.param_groups()[1].options().get_lr() / sgd.param_groups()[0].options().get_lr());
      return batch();
    };
  };
  const auto r = torchlr::detail::run_range_test(
      *problem.model, sgd, counting.source,
      trials_options().keep_group_ratios(true).on_step([&](const torchlr::LRFinderStep& s) { steps.push_back(s); }));
  const auto& ref = *r.refinement();
  ASSERT_EQ(steps.size(), r.lrs().size() + static_cast<std::size_t>(ref.steps));
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    if (i < r.lrs().size()) {
      EXPECT_EQ(s.phase, FinderPhase::range_test);
      EXPECT_EQ(s.step, static_cast<int64_t>(i));
      EXPECT_EQ(s.round, -1);
      EXPECT_EQ(s.candidate, -1);
    } else {
      EXPECT_EQ(s.phase, FinderPhase::trial);
      EXPECT_EQ(s.lr, ref.candidates[static_cast<std::size_t>(s.candidate)]);
      EXPECT_EQ(s.loss, s.smoothed);
    }
  }
  EXPECT_EQ(steps.back().round, 2);
  EXPECT_EQ(std::string(torchlr::to_string(FinderPhase::trial)), "trial");
  for (double ratio : ratios) EXPECT_DOUBLE_EQ(ratio, 0.5);
  EXPECT_EQ(sgd.param_groups()[1].options().get_lr(), 0.01);  // put back
}

TEST(RefinedSuggestion, AccumulationTakesItsMicroBatchesForEveryStep) {
  LeastSquares problem;
  torch::optim::SGD sgd(problem.model->parameters(), torch::optim::SGDOptions(0.01));
  CountingSource counting(problem);
  std::vector<std::pair<double, int64_t>> evaluated;  // (lr, batch) of every evaluation
  auto next = counting.source.next_batch;
  counting.source.next_batch = [&]() -> std::function<torch::Tensor()> {
    const int64_t k = counting.handed_out;
    auto batch = next();
    return [&, k, batch] {
      evaluated.emplace_back(sgd.param_groups()[0].options().get_lr(), k);
      return batch();
    };
  };
  const auto r = torchlr::detail::run_range_test(*problem.model, sgd, counting.source,
                                                 trials_options().accumulation_steps(3));
  ASSERT_TRUE(r.refinement());
  const int64_t range = 3 * static_cast<int64_t>(r.lrs().size());
  EXPECT_EQ(counting.handed_out, range + 3 * (4 + 8 + 16));
  // Each round reads its batches once (12, 24 and 48 micro-batches); trial step i of every
  // candidate evaluates micro-batches first + 3i, first + 3i + 1, first + 3i + 2 of its round.
  const std::array<int64_t, 4> round_start{range, range + 12, range + 36, range + 84};
  std::map<std::pair<double, int>, std::vector<int64_t>> per_trial;
  for (const auto& [lr, k] : evaluated) {
    if (k < range) continue;
    const int round = k < round_start[1] ? 0 : k < round_start[2] ? 1 : 2;
    per_trial[{lr, round}].push_back(k - round_start[static_cast<std::size_t>(round)]);
  }
  EXPECT_EQ(per_trial.size(), 13u);
  for (const auto& [key, ks] : per_trial) {
    for (std::size_t i = 0; i < ks.size(); ++i) EXPECT_EQ(ks[i], static_cast<int64_t>(i)) << "round " << key.second;
  }
}

// `throw_in_round` > 0: the loss throws at the second evaluation of that trial round (1-based),
// after survivors have been put back from their own states.
template <typename Optimizer>
void ExpectRestoredAfterTrials(Optimizer& optimizer, Net& net, int throw_in_round) {
  torch::manual_seed(5);
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  for (int i = 0; i < 3; ++i) {  // non-trivial state, gradients and buffers
    optimizer.zero_grad();
    torch::mse_loss(net.forward(x), y).backward();
    optimizer.step();
  }
  torch::manual_seed(7);
  const Fingerprint before(net, optimizer);  // draws from the generator: taken again at the same point
  torch::manual_seed(7);
  int64_t round_reported = -1;  // the round of the last trial step reported
  int calls_in_round = 0;
  auto loss = [&] {
    if (throw_in_round > 0 && round_reported + 1 == throw_in_round && ++calls_in_round == 2) throw std::runtime_error("data error in a trial");
    return torch::mse_loss(net.forward(x + 0.1 * torch::randn_like(x)), y);
  };
  const auto options = quiet().num_iter(30).min_lr(1e-4).max_lr(10.0).trial_budget(42).on_step(
      [&](const torchlr::LRFinderStep& s) { round_reported = s.phase == FinderPhase::trial ? s.round : -1; });
  if (throw_in_round > 0) {
    EXPECT_THROW(torchlr::lr_find(net, optimizer, loss, options), std::runtime_error);
    EXPECT_EQ(calls_in_round, 2);
  } else {
    const auto r = torchlr::lr_find(net, optimizer, loss, options);
    EXPECT_GT(r.refinement()->steps, 0);
  }
  before.ExpectSame(Fingerprint(net, optimizer));
}

TEST(RefinedSuggestion, RestoreIsBitIdenticalAfterTrials) {
  torch::manual_seed(1);
  Net net;
  torch::optim::Adam adam(net.parameters(), torch::optim::AdamOptions(1e-3));
  ExpectRestoredAfterTrials(adam, net, 0);
}

TEST(RefinedSuggestion, RestoreIsBitIdenticalWhenATrialThrows) {
  {
    torch::manual_seed(2);
    Net net;
    torch::optim::Adam adam(net.parameters(), torch::optim::AdamOptions(1e-3));
    ExpectRestoredAfterTrials(adam, net, 2);
  }
  torch::manual_seed(2);
  Net net;
  torch::optim::SGD sgd(net.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  ExpectRestoredAfterTrials(sgd, net, 3);
}

TEST(RefinedSuggestion, AnOptimizerStateThatCannotBeCopiedStartsAfreshAndIsPutBack) {
  torch::manual_seed(3);
  Net net;
  torchlr::testing::HeavyBall heavy_ball(net.parameters(), torchlr::testing::HeavyBallOptions(0.01));
  WarningCapture warnings;
  ExpectRestoredAfterTrials(heavy_ball, net, 0);
  bool warned = false;
  for (const auto& m : warnings.messages) warned = warned || m.find("goes on to the next round") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(RefinedSuggestion, NonFiniteLossesStopTrialsAndAllStoppedFallsBackToTheCurve) {
  LeastSquares problem;
  torch::optim::SGD sgd(problem.model->parameters(), torch::optim::SGDOptions(0.01));
  // Losses become NaN from the third evaluation at one lr on: in every trial after its second
  // step (the range test evaluates each of its lrs once, and no candidate is on its ladder).
  std::map<double, int> calls;
  auto loss = [&] {
    auto l = problem.full_loss();
    return ++calls[sgd.param_groups()[0].options().get_lr()] >= 3 ? l * std::nan("") : l;
  };
  WarningCapture warnings;
  const auto r = torchlr::lr_find(*problem.model, sgd, loss, trials_options());
  const auto& ref = *r.refinement();
  ASSERT_EQ(ref.trials.size(), 7u);  // nobody survived round 1
  for (const auto& t : ref.trials) {
    EXPECT_TRUE(t.stopped);
    EXPECT_EQ(t.losses.size(), 2u);
    EXPECT_EQ(t.score, kInf);
  }
  EXPECT_FALSE(ref.lr.has_value());
  EXPECT_NE(ref.warning.find("every trial stopped"), std::string::npos);
  r.suggest(Suggestion::steepest);  // asking another rule first hides nothing of the trials
  const auto s = r.suggest();
  EXPECT_EQ(s.lr, r.suggestion(torchlr::kCurveRule));
  EXPECT_NE(s.warning.find("every trial stopped"), std::string::npos);
  r.suggest();
  int reported = 0;
  for (const auto& m : warnings.messages) reported += m.find("every trial stopped") != std::string::npos;
  EXPECT_EQ(reported, 1);  // once per result
}

TEST(RefinedSuggestion, ALossTenTimesTheFirstStopsATrial) {
  LeastSquares problem;
  torch::optim::SGD sgd(problem.model->parameters(), torch::optim::SGDOptions(0.01));
  const auto r = torchlr::lr_find(*problem.model, sgd, [&] { return problem.full_loss(); },
                                  trials_options().max_lr(1e3).early_stop_threshold(1e6));
  const auto& ref = *r.refinement();
  // The highest candidates are far above 2/L: they blow up within their few steps.
  ASSERT_TRUE(ref.trials.front().stopped);
  const auto& losses = ref.trials.front().losses;
  EXPECT_TRUE(rules::stops(losses.back(), losses.front()));
  for (std::size_t i = 0; i + 1 < losses.size(); ++i) EXPECT_FALSE(rules::stops(losses[i], losses.front()));
}

TEST(RefinedSuggestion, ARangeTestThatNeverDivergedIsSaid) {
  LeastSquares problem;
  torch::optim::SGD sgd(problem.model->parameters(), torch::optim::SGDOptions(0.01));
  const auto r = torchlr::lr_find(*problem.model, sgd, [&] { return problem.full_loss(); },
                                  trials_options().max_lr(1e-2));
  ASSERT_EQ(r.stop_reason(), torchlr::StopReason::completed);
  EXPECT_NE(r.refinement()->warning.find("never diverged"), std::string::npos) << r.refinement()->warning;
  EXPECT_EQ(r.refinement()->lr_stop, 1e-2);
}

TEST(RefinedSuggestion, BadOptions) {
  LeastSquares problem;
  torch::optim::SGD sgd(problem.model->parameters(), torch::optim::SGDOptions(0.01));
  auto loss = [&] { return problem.full_loss(); };
  EXPECT_VALUE_ERROR(torchlr::lr_find(*problem.model, sgd, loss, quiet().trial_budget(20)),
                     "trial_budget must be 0 (no trials) or at least 21", "got 20");
  EXPECT_VALUE_ERROR(torchlr::lr_find(*problem.model, sgd, loss, quiet().trial_budget(-1)), "got -1");
  EXPECT_VALUE_ERROR(torchlr::lr_find(*problem.model, sgd, loss, quiet().trial_budget(100).restore(false)),
                     "trial_budget (100) needs restore");
}

// A loader whose batch i holds the number i, sequentially, and a model that records what it sees.
struct Numbers : torch::data::datasets::Dataset<Numbers> {
  torch::data::Example<> get(size_t i) override {
    return {torch::full({1}, static_cast<double>(i), torch::kDouble), torch::zeros({1}, torch::kDouble)};
  }
  torch::optional<size_t> size() const override { return 1000; }
};

struct Recorder : torch::nn::Module {
  Recorder() { weight = register_parameter("weight", torch::ones({1}, torch::kDouble)); }
  torch::Tensor forward(const torch::Tensor& x) {
    seen.push_back(x.item<double>());
    return x * weight;
  }
  torch::Tensor weight;
  std::vector<double> seen;
};

TEST(RefinedSuggestion, ByDefaultTwiceTheRangeTestThroughALoaderAndNoneOtherwise) {
  auto loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
      Numbers().map(torch::data::transforms::Stack<>()), torch::data::DataLoaderOptions().batch_size(1));
  Recorder model;
  torch::optim::SGD sgd(model.parameters(), torch::optim::SGDOptions(0.1));
  auto mse = [](const torch::Tensor& output, const torch::Tensor& target) { return torch::mse_loss(output, target); };
  // Without early stopping every run takes its 30 steps (the squared inputs grow with the batch).
  const auto options = quiet().num_iter(30).min_lr(1e-7).max_lr(1e-5).early_stop_threshold(std::nullopt);
  const auto r = torchlr::lr_find(model, sgd, *loader, mse, options);
  ASSERT_TRUE(r.refinement());
  EXPECT_EQ(torchlr::kTrialBudgetPerStep, 2);
  const auto steps = rules::steps_per_trial(torchlr::kTrialBudgetPerStep * 30);  // 2, 5, 10
  EXPECT_EQ(r.refinement()->steps, 7 * steps[0] + 4 * steps[1] + 2 * steps[2]);
  // Batches 0 … 29 for the range test; then each trial of a round reads the round's batches, from
  // 30 on: the first round's trials all see 30, 31, the second's 32 … 36, the third's 37 … 46.
  std::vector<double> expected;
  for (int i = 0; i < 30; ++i) expected.push_back(i);
  double next = 30;
  for (int round = 0; round < 3; ++round) {
    for (int c = 0; c < (round == 0 ? 7 : round == 1 ? 4 : 2); ++c) {
      for (int i = 0; i < steps[round]; ++i) expected.push_back(next + i);
    }
    next += static_cast<double>(steps[round]);
  }
  EXPECT_EQ(model.seen, expected);
  EXPECT_EQ(r.suggestion(), r.refinement()->lr);

  // Off through a loss function (its batches cannot be replayed) and with restore(false).
  auto loss = [&] { return torch::mse_loss(model.forward(torch::ones({1}, torch::kDouble)), torch::zeros({1}, torch::kDouble)); };
  EXPECT_FALSE(torchlr::lr_find(model, sgd, loss, options).refinement().has_value());
  EXPECT_FALSE(torchlr::lr_find(model, sgd, *loader, mse, LRFinderOptions(options).restore(false)).refinement().has_value());
  EXPECT_FALSE(torchlr::lr_find(model, sgd, *loader, mse, LRFinderOptions(options).trial_budget(0)).refinement().has_value());
  // A short range test still gets the smallest budget.
  const auto short_test = torchlr::lr_find(model, sgd, *loader, mse, LRFinderOptions(options).num_iter(5));
  ASSERT_TRUE(short_test.refinement());
  EXPECT_EQ(short_test.refinement()->steps, 7 * 1 + 4 * 1 + 2 * 3);
}

TEST(RefinedSuggestion, JsonAndSvgShowTheTrials) {
  LeastSquares problem;
  torch::optim::SGD sgd(problem.model->parameters(), torch::optim::SGDOptions(0.01));
  CountingSource counting(problem);
  const auto r = torchlr::detail::run_range_test(*problem.model, sgd, counting.source, trials_options());
  const auto dir = std::filesystem::temp_directory_path() / "torchlr_refined_test";
  std::filesystem::create_directories(dir);
  r.to_json((dir / "r.json").string());
  r.plot_svg((dir / "r.svg").string());
  std::ifstream json_in(dir / "r.json");
  const auto json = nlohmann::json::parse(json_in);
  EXPECT_EQ(json["suggestion"].get<double>(), *r.refinement()->lr);
  EXPECT_EQ(json["refinement"]["winner"].get<double>(), *r.refinement()->lr);
  EXPECT_EQ(json["refinement"]["trials"].size(), 13u);
  EXPECT_EQ(json["refinement"]["trials"][0]["losses"].get<std::vector<double>>(), r.refinement()->trials[0].losses);
  EXPECT_EQ(json["refinement"]["verdict"].get<std::string>(), r.refinement()->verdict);
  std::ifstream svg_in(dir / "r.svg");
  std::stringstream svg;
  svg << svg_in.rdbuf();
  EXPECT_NE(svg.str().find("trial score"), std::string::npos);
  EXPECT_NE(svg.str().find("trials&#39; winner"), std::string::npos);
  EXPECT_NE(svg.str().find("round 3"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(RefinedSuggestion, EveryRankRunsTheSameTrials) {
  const int size = 2;
  const torchlr::testing::Problem problem(size);
  std::vector<std::optional<LRFinderResult>> results(size);
  torchlr::testing::run_ranks(size, [&](int rank, const torchlr::Distributed& dist) {
    auto model = problem.replica();
    torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(1e-3).momentum(0.9));
    torchlr::detail::BatchSource source;
    source.replayable = true;
    int64_t i = 0;
    source.next_batch = [&]() -> std::function<torch::Tensor()> {
      const int64_t k = i++;
      return [&, k] {
        auto [x, y] = problem.batch(rank, k);
        return torch::mse_loss(model->forward(x), y);
      };
    };
    results[static_cast<std::size_t>(rank)] = torchlr::detail::run_range_test(
        *model, optimizer, source, quiet().min_lr(1e-4).max_lr(100.0).num_iter(60).trial_budget(63).distributed(dist));
  });
  const auto& a = *results[0]->refinement();
  const auto& b = *results[1]->refinement();
  ASSERT_EQ(a.trials.size(), b.trials.size());
  for (std::size_t t = 0; t < a.trials.size(); ++t) {
    EXPECT_EQ(a.trials[t].losses, b.trials[t].losses) << "trial " << t;  // averaged over the ranks
    EXPECT_EQ(a.trials[t].candidate, b.trials[t].candidate);
  }
  EXPECT_EQ(a.lr, b.lr);
  EXPECT_TRUE(a.lr.has_value());
}

TEST(RefinedSuggestion, WhenALaterRoundAllStopsTheWinnerIsTheBestOfTheRoundBefore) {
  LeastSquares problem;
  torch::optim::SGD sgd(problem.model->parameters(), torch::optim::SGDOptions(0.01));
  CountingSource counting(problem);
  // Round 3's batches (read after the 4 + 8 of rounds 1 and 2) give NaN losses.
  int64_t first_trial_batch = -1;
  auto next = counting.source.next_batch;
  counting.source.next_batch = [&]() -> std::function<torch::Tensor()> {
    const int64_t k = counting.handed_out;
    auto batch = next();
    return [&, k, batch] {
      const bool poisoned = first_trial_batch >= 0 && k >= first_trial_batch + 12;
      return poisoned ? batch() * std::nan("") : batch();
    };
  };
  const auto options = trials_options().on_step([&](const torchlr::LRFinderStep& s) {
    if (s.phase == FinderPhase::trial && first_trial_batch < 0) first_trial_batch = counting.handed_out - 4;
  });
  const auto r = torchlr::detail::run_range_test(*problem.model, sgd, counting.source, options);
  const auto& ref = *r.refinement();
  ASSERT_EQ(ref.trials.size(), 13u);
  EXPECT_TRUE(ref.trials[11].stopped);
  EXPECT_TRUE(ref.trials[12].stopped);
  // The winner: the best of round 2.
  double best = kInf, best_lr = 0;
  for (std::size_t t = 7; t < 11; ++t) {
    const auto& trial = ref.trials[t];
    if (trial.score < best || (trial.score == best && trial.lr < best_lr)) best = trial.score, best_lr = trial.lr;
  }
  ASSERT_TRUE(ref.lr.has_value());
  EXPECT_EQ(*ref.lr, best_lr);
  EXPECT_NE(ref.verdict.find("every trial of round 3 stopped, so it is round 2's best"), std::string::npos) << ref.verdict;
}

// Dropout and a shuffling loader whose epoch ends while a round's batches are read: every
// candidate of the first round still sees the same batches and dropout masks at its first step.
TEST(RefinedSuggestion, EveryFirstTrialDrawsTheSameRandomNumbers) {
  torch::manual_seed(4);
  struct Rows : torch::data::datasets::Dataset<Rows> {
    torch::Tensor x = torch::randn({6, 4}), y = torch::randn({6, 1});
    torch::data::Example<> get(size_t i) override { return {x[static_cast<int64_t>(i)], y[static_cast<int64_t>(i)]}; }
    torch::optional<size_t> size() const override { return 6; }
  };
  auto loader = torch::data::make_data_loader<torch::data::samplers::RandomSampler>(
      Rows().map(torch::data::transforms::Stack<>()), torch::data::DataLoaderOptions().batch_size(2));  // 3 a epoch
  torch::nn::Sequential model(torch::nn::Linear(4, 16), torch::nn::Dropout(0.5), torch::nn::Linear(16, 1));
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  std::vector<double> first_losses;
  const auto options = quiet().num_iter(20).min_lr(1e-4).max_lr(10.0).trial_budget(84).on_step(
      [&](const torchlr::LRFinderStep& s) {
        if (s.phase == FinderPhase::trial && s.round == 0 && s.step == 0) first_losses.push_back(s.loss);
      });
  auto mse = [](const torch::Tensor& output, const torch::Tensor& target) { return torch::mse_loss(output, target); };
  torchlr::lr_find(*model, adam, *loader, mse, options);
  ASSERT_EQ(first_losses.size(), 7u);
  for (double loss : first_losses) EXPECT_EQ(loss, first_losses.front());
}

TEST(RefinedSuggestion, ATrialThatThrowsOnOneRankStopsEveryRank) {
  const int size = 2;
  const torchlr::testing::Problem problem(size);
  std::vector<std::string> errors(size);
  std::vector<bool> restored(size, false);
  torchlr::testing::run_ranks(size, [&](int rank, const torchlr::Distributed& dist) {
    auto model = problem.replica();
    std::vector<torch::Tensor> before;
    for (const auto& p : model->parameters()) before.push_back(p.detach().clone());
    torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(1e-3).momentum(0.9));
    torchlr::detail::BatchSource source;
    source.replayable = true;
    int64_t i = 0;
    int64_t round_reported = -1;
    source.next_batch = [&]() -> std::function<torch::Tensor()> {
      const int64_t k = i++;
      return [&, k] {
        if (rank == 1 && round_reported == 1) throw std::runtime_error("rank 1's data failed in round 2");
        auto [x, y] = problem.batch(rank, k);
        return torch::mse_loss(model->forward(x), y);
      };
    };
    const auto options = quiet().min_lr(1e-4).max_lr(100.0).num_iter(60).trial_budget(63).distributed(dist).on_step(
        [&](const torchlr::LRFinderStep& s) { round_reported = s.phase == FinderPhase::trial ? s.round : -1; });
    try {
      torchlr::detail::run_range_test(*model, optimizer, source, options);
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(rank)] = e.what();
    }
    bool same = true;
    const auto after = model->parameters();
    for (std::size_t k = 0; k < after.size(); ++k) same = same && torch::equal(before[k], after[k]);
    restored[static_cast<std::size_t>(rank)] = same;
  });
  EXPECT_NE(errors[1].find("rank 1's data failed in round 2"), std::string::npos) << errors[1];
  EXPECT_NE(errors[0].find("trial round 2"), std::string::npos) << errors[0];
  EXPECT_TRUE(restored[0]);
  EXPECT_TRUE(restored[1]);
}

}  // namespace
