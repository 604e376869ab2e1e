#include <torchlr/lr_finder.h>

#include "platform.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <set>

#include <torch/utils.h>

#include <torchlr/svg.h>

#include "internal.h"
#include "refinement.h"
#include "training_snapshot.h"

namespace torchlr {
namespace {

void validate(const LRFinderOptions& o, bool has_validation) {
  TORCH_CHECK_VALUE(std::isfinite(o.min_lr()) && std::isfinite(o.max_lr()),
                    "lr_find: min_lr and max_lr must be finite, but got ", o.min_lr(), " and ", o.max_lr());
  if (o.mode() == LadderMode::exponential) {
    TORCH_CHECK_VALUE(o.min_lr() > 0, "lr_find: min_lr must be positive for an exponential ladder, but got ",
                      o.min_lr());
  } else {
    TORCH_CHECK_VALUE(o.min_lr() >= 0, "lr_find: min_lr must not be negative, but got ", o.min_lr());
  }
  TORCH_CHECK_VALUE(o.max_lr() > o.min_lr(), "lr_find: max_lr (", o.max_lr(), ") must be greater than min_lr (",
                    o.min_lr(), ")");
  TORCH_CHECK_VALUE(o.num_iter() >= 2, "lr_find: num_iter must be at least 2, but got ", o.num_iter());
  TORCH_CHECK_VALUE(o.beta() >= 0 && o.beta() < 1, "lr_find: beta must be in [0, 1), but got ", o.beta());
  if (o.early_stop_threshold()) {
    TORCH_CHECK_VALUE(std::isfinite(*o.early_stop_threshold()) && *o.early_stop_threshold() > 1,
                      "lr_find: early_stop_threshold must be greater than 1 (or nullopt to disable), but got ",
                      *o.early_stop_threshold());
  }
  TORCH_CHECK_VALUE(o.accumulation_steps() >= 1, "lr_find: accumulation_steps must be at least 1, but got ",
                    o.accumulation_steps());
  TORCH_CHECK_VALUE(!has_validation || o.val_batches() >= 1,
                    "lr_find: val_batches must be at least 1, but got ", o.val_batches());
  TORCH_CHECK_VALUE(o.skip_begin() >= 0, "lr_find: skip_begin must not be negative, but got ", o.skip_begin());
  if (const auto budget = o.trial_budget()) {
    TORCH_CHECK_VALUE(*budget == 0 || *budget >= detail::refinement::minimum_budget(),
                      "lr_find: trial_budget must be 0 (no trials) or at least ", detail::refinement::minimum_budget(),
                      " (a step for each of the first round's trials), but got ", *budget);
    TORCH_CHECK_VALUE(*budget == 0 || o.restore(), "lr_find: trial_budget (", *budget,
                      ") needs restore: every trial starts from the state the range test started from");
  }
}

// The trial budget a call runs with (LRFinderOptions::trial_budget: unset means the default).
int64_t trial_budget_of(const LRFinderOptions& o, bool replayable) {
  if (o.trial_budget()) return *o.trial_budget();
  if (!replayable || !o.restore()) return 0;
  return std::max(kTrialBudgetPerStep * o.num_iter(), detail::refinement::minimum_budget());
}

double scalar_loss(const torch::Tensor& loss, const char* what) {
  TORCH_CHECK_VALUE(loss.defined() && loss.numel() == 1, "lr_find: the ", what,
                    " must return a scalar loss tensor, but got ",
                    loss.defined() ? loss.sizes() : c10::IntArrayRef{});
  return loss.item<double>();
}

// Sets every group's lr to `lr`, or to `lr` times its original ratio to group 0.
void set_lrs(torch::optim::Optimizer& optimizer, double lr, const std::vector<double>& ratios) {
  auto& groups = optimizer.param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(lr * ratios[g]);
}

class ProgressBar {
 public:
  ProgressBar(bool enabled, int64_t total, const char* label) : enabled_(enabled), total_(total), label_(label) {}
  ~ProgressBar() {
    if (enabled_ && drawn_) std::fputc('\n', stderr);
  }
  /// `done` of `total` steps taken, the last at `lr` with `loss`.
  void update(int64_t done, double lr, double loss) {
    if (!enabled_) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * std::min(done, total_) / std::max<int64_t>(total_, 1));
    std::fprintf(stderr, "\r%s [%-*s] %lld/%lld  lr %.3g  loss %.4g", label_, kWidth,
                 std::string(static_cast<std::size_t>(filled), '#').c_str(), static_cast<long long>(done),
                 static_cast<long long>(total_), lr, loss);
    std::fflush(stderr);
    drawn_ = true;
  }

 private:
  bool enabled_;
  int64_t total_;
  const char* label_;
  bool drawn_ = false;
};

}  // namespace

const char* to_string(FinderPhase phase) {
  switch (phase) {
    case FinderPhase::range_test: return "range_test";
    case FinderPhase::trial: return "trial";
  }
  return "unknown";
}

const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::completed: return "completed";
    case StopReason::diverged: return "diverged";
    case StopReason::non_finite_loss: return "non_finite_loss";
  }
  return "unknown";
}

std::vector<double> lr_ladder(double min_lr, double max_lr, int64_t num_iter, LadderMode mode) {
  TORCH_CHECK_VALUE(num_iter >= 2, "lr_ladder: num_iter must be at least 2, but got ", num_iter);
  std::vector<double> ladder(static_cast<std::size_t>(num_iter));
  const double last = static_cast<double>(num_iter - 1);
  for (int64_t i = 0; i < num_iter; ++i) {
    const double r = static_cast<double>(i) / last;
    ladder[static_cast<std::size_t>(i)] =
        mode == LadderMode::exponential ? min_lr * std::pow(max_lr / min_lr, r) : min_lr + r * (max_lr - min_lr);
  }
  ladder.back() = max_lr;  // exactly, whatever the rounding of the power
  return ladder;
}

torch::Device detail::model_device(const torch::nn::Module& model) {
  const auto params = model.parameters();
  return params.empty() ? torch::Device(torch::kCPU) : params.front().device();
}

namespace {

// The loss of one optimizer step: `accumulation_steps` micro-batches, evaluated again whenever
// the optimizer asks (LBFGS's closure calls). The first evaluation is the one recorded; it stops
// at the first non-finite micro-batch, before its backward pass.
// What one rank's part of a step gave: its loss (empty when not finite), or what it threw.
struct LocalOutcome {
  std::optional<double> value;
  std::exception_ptr error;
};

// Runs one rank's part. On one process an exception simply propagates; with several it is kept,
// so that the rank still reaches the collective where every rank learns of it.
template <typename Part>
LocalOutcome run_locally(const Distributed& dist, Part&& part) {
  LocalOutcome outcome;
  if (!dist.active()) {
    outcome.value = part();
    return outcome;
  }
  try {
    outcome.value = part();
  } catch (...) {
    outcome.error = std::current_exception();
  }
  return outcome;
}

// The step's loss every rank agrees on: one collective of [loss, threw, not finite]. A throw on
// any rank throws on every rank (the rank's own exception where it threw); a non-finite loss on
// any rank makes it empty everywhere (unless `keep_non_finite`, when it is their mean anyway).
std::optional<double> agree(const Distributed& dist, const LocalOutcome& outcome, int64_t step, const char* what,
                            bool keep_non_finite = false) {
  if (!dist.active()) return outcome.value;
  const bool finite = !outcome.error && outcome.value && std::isfinite(*outcome.value);
  const double local = outcome.value && (finite || keep_non_finite) ? *outcome.value : 0.0;
  const auto sums = dist.sum({local, outcome.error ? 1.0 : 0.0, !outcome.error && !finite ? 1.0 : 0.0});
  if (sums[1] > 0) {
    if (outcome.error) std::rethrow_exception(outcome.error);
    TORCH_CHECK(false, "lr_find: ", sums[1], " of ", dist.size(), " ranks failed at step ", step, " (", what,
                ", or its data, optimizer step or on_step threw there); every rank stops there");
  }
  if (sums[2] > 0 && !keep_non_finite) return std::nullopt;
  return sums[0] / static_cast<double>(dist.size());
}

class StepLoss {
 public:
  StepLoss(torch::optim::Optimizer& optimizer, std::vector<std::function<torch::Tensor()>> micro_batches,
           const Distributed& dist, bool sync_gradients, int64_t step)
      : optimizer_(optimizer),
        micro_batches_(std::move(micro_batches)),
        dist_(dist),
        sync_gradients_(sync_gradients && dist.active()),
        step_(step) {}

  /// With several ranks: averages the gradients now in place (after the first evaluation).
  void sync_gradients() {
    if (sync_gradients_) dist_.average_gradients(optimizer_);
  }

  /// zero_grad, then the forward and backward pass of every micro-batch: their mean loss, or
  /// nullopt (without a backward pass for that micro-batch) when one is not finite and
  /// `stop_on_non_finite`.
  std::optional<double> evaluate(bool stop_on_non_finite) {
    optimizer_.zero_grad();
    const double count = static_cast<double>(micro_batches_.size());
    double sum = 0;
    for (auto& loss_of_batch : micro_batches_) {
      torch::Tensor loss = loss_of_batch();
      const double value = scalar_loss(loss, "loss function");
      if (stop_on_non_finite && !std::isfinite(value)) return std::nullopt;
      (loss / count).backward();
      sum += value;
    }
    return sum / count;
  }

  /// The closure for optimizer.step: the first call returns the loss `first` already computed
  /// (its gradients are in place), later calls evaluate again.
  torch::optim::Optimizer::LossClosure closure(double first) {
    return [this, first, fresh = true]() mutable {
      double loss = first;
      if (fresh) {
        fresh = false;
      } else {
        // A re-evaluation (LBFGS) is agreed on as the first one was, so that every rank's
        // optimizer sees the same loss and gradients and takes the same path.
        const LocalOutcome outcome = run_locally(dist_, [&] { return evaluate(/*stop_on_non_finite=*/false); });
        loss = *agree(dist_, outcome, step_, "loss function", /*keep_non_finite=*/true);
        sync_gradients();
      }
      return torch::tensor(loss, torch::kDouble);
    };
  }

 private:
  torch::optim::Optimizer& optimizer_;
  std::vector<std::function<torch::Tensor()>> micro_batches_;
  const Distributed& dist_;
  bool sync_gradients_;
  int64_t step_;
};

// Runs a rank's local work that comes after the step's agreement (the optimizer's step, on_step).
// On one process an exception propagates; with several it is kept, and reported at the next
// collective, where every rank learns of it, so that no rank waits in a collective alone.
template <typename Work>
void locally_or_pending(const Distributed& dist, std::exception_ptr& pending, Work&& work) {
  if (!dist.active()) {
    work();
    return;
  }
  if (pending) return;
  try {
    work();
  } catch (...) {
    pending = std::current_exception();
  }
}

// What decides the number of collectives the test takes (and its suggestion): the same on every rank.
uint64_t settings_fingerprint(const LRFinderOptions& o, bool has_validation, int64_t trial_budget) {
  uint64_t hash = 1469598103934665603ULL;
  auto mix = [&](const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
      hash ^= bytes[i];
      hash *= 1099511628211ULL;
    }
  };
  const double doubles[] = {o.min_lr(), o.max_lr(), o.beta(), o.early_stop_threshold().value_or(-1.0)};
  const int64_t integers[] = {o.num_iter(), static_cast<int64_t>(o.mode()), o.accumulation_steps(),
                              has_validation ? o.val_batches() : -1, o.skip_begin(),
                              static_cast<int64_t>(o.early_stop_threshold().has_value()),
                              static_cast<int64_t>(o.sync_gradients()), trial_budget};
  mix(doubles, sizeof(doubles));
  mix(integers, sizeof(integers));
  return hash;
}

// Ends the data side of the test (BatchSource::finish) when it is left, normally or not.
class FinishGuard {
 public:
  explicit FinishGuard(const std::function<void()>& finish) : finish_(finish) {}
  ~FinishGuard() {
    try {
      if (finish_) finish_();
    } catch (const std::exception& e) {
      detail::warn(std::string("lr_find could not finish reading its data: ") + e.what());
    } catch (...) {
      detail::warn("lr_find could not finish reading its data");
    }
  }
  FinishGuard(const FinishGuard&) = delete;
  FinishGuard& operator=(const FinishGuard&) = delete;

 private:
  const std::function<void()>& finish_;
};

}  // namespace

namespace {

using MicroBatches = std::vector<std::function<torch::Tensor()>>;

std::string lr_text(double lr) { return svg::format_number(lr); }

// One call of lr_find: the range test, then the trials, sharing how a step is taken, agreed on
// and reported.
class FinderRun {
 public:
  FinderRun(torch::nn::Module& model, torch::optim::Optimizer& optimizer, const detail::BatchSource& source,
            const LRFinderOptions& options, std::vector<double> ratios, int64_t trial_budget)
      : budget_(trial_budget),
        model_(model),
        optimizer_(optimizer),
        source_(source),
        options_(options),
        dist_(options.distributed()),
        ratios_(std::move(ratios)),
        show_progress_(options.progress_bar().value_or(dist_.is_main() && platform::stderr_is_terminal())) {}

  // Fills lrs_, raw_, smoothed_ and reason_.
  void range_test();
  // Keeps the state the range test starts from, for the trials.
  void save_start();
  // The trials, from the state save_start() kept (which they free once every first trial has started).
  Refinement trials();
  // Every rank left at the same point: one last word on failures since the last agreement.
  void final_agreement();

  std::vector<double> lrs_, raw_, smoothed_;
  StopReason reason_ = StopReason::completed;
  const int64_t budget_;  // the trials' steps

 private:
  // One optimizer step on the micro-batches `read` gives (read in the rank's part, so a loader
  // that throws on one rank stops every rank): the loss every rank agrees on, or empty when it
  // was not finite (and no step was taken).
  std::optional<double> train_step(int64_t step, const char* what, const std::function<MicroBatches()>& read) {
    std::optional<StepLoss> step_loss;
    const LocalOutcome trained = run_locally(dist_, [&] {
      if (pending_) std::rethrow_exception(pending_);
      step_loss.emplace(optimizer_, read(), dist_, options_.sync_gradients(), step);
      return step_loss->evaluate(/*stop_on_non_finite=*/true);
    });
    const std::optional<double> loss = agree(dist_, trained, step, what);
    if (!loss) return std::nullopt;
    step_loss->sync_gradients();
    locally_or_pending(dist_, pending_, [&] { optimizer_.step(step_loss->closure(*loss)); });
    return loss;
  }

  MicroBatches read_fresh() {
    MicroBatches micro_batches;
    for (int64_t micro = 0; micro < options_.accumulation_steps(); ++micro) micro_batches.push_back(source_.next_batch());
    return micro_batches;
  }

  std::optional<double> validation_loss(int64_t step);

  void report(const LRFinderStep& record) {
    if (options_.on_step()) locally_or_pending(dist_, pending_, [&] { options_.on_step()(record); });
  }

  torch::nn::Module& model_;
  torch::optim::Optimizer& optimizer_;
  const detail::BatchSource& source_;
  const LRFinderOptions& options_;
  const Distributed& dist_;
  std::vector<double> ratios_;
  bool show_progress_;
  std::exception_ptr pending_;  // this rank's failure after a step's agreement, reported at the next one
  std::optional<detail::TrainingCheckpoint> start_;
};

std::optional<double> FinderRun::validation_loss(int64_t step) {
  const LocalOutcome validated = run_locally(dist_, [&]() -> std::optional<double> {
    if (pending_) std::rethrow_exception(pending_);
    const detail::ModuleModes modes(model_);
    model_.eval();
    double val_sum = 0;
    try {
      torch::NoGradGuard no_grad;
      for (int64_t b = 0; b < options_.val_batches(); ++b) {
        val_sum += scalar_loss(source_.next_validation_loss(), "validation loss function");
      }
    } catch (...) {
      try {
        modes.restore();
      } catch (...) {  // the snapshot puts the modes back too; the first error is the one to report
      }
      throw;
    }
    modes.restore();
    const double mean = val_sum / static_cast<double>(options_.val_batches());
    return std::isfinite(mean) ? std::optional<double>(mean) : std::nullopt;
  });
  return agree(dist_, validated, step, "a validation loss function");
}

void FinderRun::range_test() {
  const auto ladder = lr_ladder(options_.min_lr(), options_.max_lr(), options_.num_iter(), options_.mode());
  const double beta = options_.beta();
  double average = 0;
  double best = std::numeric_limits<double>::infinity();
  ProgressBar progress(show_progress_, options_.num_iter(), "lr_find");
  for (int64_t step = 0; step < options_.num_iter(); ++step) {
    set_lrs(optimizer_, ladder[static_cast<std::size_t>(step)], ratios_);
    const double lr_used = optimizer_.param_groups()[0].options().get_lr();
    const std::optional<double> train_loss = train_step(step, "a loss function", [this] { return read_fresh(); });
    if (!train_loss) {
      reason_ = StopReason::non_finite_loss;
      return;
    }
    double loss = *train_loss;
    if (source_.next_validation_loss) {
      const std::optional<double> val_loss = validation_loss(step);
      if (!val_loss) {
        reason_ = StopReason::non_finite_loss;
        return;
      }
      loss = *val_loss;
    }
    // Bias-corrected EMA, k counting recorded points from 1.
    average = beta * average + (1 - beta) * loss;
    const double k = static_cast<double>(raw_.size() + 1);
    const double smooth = average / (1 - std::pow(beta, k));
    lrs_.push_back(lr_used);
    raw_.push_back(loss);
    smoothed_.push_back(smooth);
    progress.update(step + 1, lr_used, smooth);
    report({step, lr_used, loss, smooth});
    best = std::min(best, smooth);
    if (options_.early_stop_threshold() && smooth > best + (*options_.early_stop_threshold() - 1) * std::abs(best)) {
      reason_ = StopReason::diverged;
      return;
    }
  }
}

void FinderRun::save_start() {
  locally_or_pending(dist_, pending_, [&] { start_.emplace(model_, optimizer_); });
}

Refinement FinderRun::trials() {
  namespace rules = detail::refinement;
  Refinement result;
  result.curve_lr = suggest_lr(lrs_, smoothed_, kCurveRule, options_.skip_begin(), options_.num_iter()).lr;
  if (lrs_.empty() || !(lrs_.back() > 0)) {
    result.warning = lrs_.empty() ? "the range test recorded no point (its first loss was not finite), so no trial ran"
                                  : "the range test stopped at lr 0, so there is no lr to start the trials from";
    result.verdict = "no trials: the curve's suggestion stands";
    return result;
  }
  result.lr_stop = lrs_.back();
  if (reason_ == StopReason::completed) {
    result.warning = options_.early_stop_threshold()
                         ? "the range test never diverged (it reached max_lr " + lr_text(lrs_.back()) +
                               "), so every candidate may be too small: raise max_lr"
                         : "the range test ran to max_lr " + lr_text(lrs_.back()) +
                               " without early stopping, so the candidates start below max_lr, not below where it "
                               "diverged";
  }
  result.candidates = rules::candidate_lrs(result.lr_stop);
  // Fixed steps per round (7, 4 and 2 trials' worth) even when fewer candidates are left: a
  // round's trials are as long as the reference measured them.
  const auto steps = rules::steps_per_trial(budget_);
  const auto counts = rules::candidates_per_round();
  int64_t planned = 0;
  for (int r = 0; r < rules::kRounds; ++r) planned += steps[r] * static_cast<int64_t>(counts[r]);
  ProgressBar progress(show_progress_, planned, "lr_find trials");

  const std::size_t accumulation = static_cast<std::size_t>(options_.accumulation_steps());
  std::vector<std::size_t> alive(result.candidates.size());
  for (std::size_t c = 0; c < alive.size(); ++c) alive[c] = c;
  std::vector<double> scores(result.candidates.size(), std::numeric_limits<double>::infinity());
  std::vector<std::optional<detail::TrainingCheckpoint>> states(result.candidates.size());
  std::optional<std::size_t> winner;
  int winner_round = -1;
  bool warned_uncopyable = false;
  for (int round = 0; round < rules::kRounds && !alive.empty(); ++round) {
    // Every candidate of the round sees these batches and starts from these random streams. The
    // batches are read first: reading may draw random numbers (a sampler's reshuffle).
    MicroBatches batches;
    const LocalOutcome read = run_locally(dist_, [&] {
      if (pending_) std::rethrow_exception(pending_);
      for (int64_t i = 0; i < steps[round] * options_.accumulation_steps(); ++i) batches.push_back(source_.next_batch());
      return 0.0;
    });
    agree(dist_, read, 0, "reading the batches of a trial round");
    std::optional<detail::GeneratorStates> generators;
    locally_or_pending(dist_, pending_, [&] { generators.emplace(); });
    for (std::size_t c : alive) {
      const std::string where = "a loss function (trial round " + std::to_string(round + 1) + ", lr " +
                                lr_text(result.candidates[c]) + ")";
      locally_or_pending(dist_, pending_, [&] {
        if (round == 0) {
          start_->restore();
        } else {
          states[c]->restore();
        }
        generators->restore();
        set_lrs(optimizer_, result.candidates[c], ratios_);
      });
      Trial trial{round, c, result.candidates[c], {}, std::numeric_limits<double>::infinity(), false};
      const double lr_used = result.candidates[c] * ratios_[0];
      for (int64_t i = 0; i < steps[round]; ++i) {
        const std::size_t end = static_cast<std::size_t>(i + 1) * accumulation;
        const std::optional<double> loss = train_step(i, where.c_str(), [&] {
          return MicroBatches(batches.begin() + static_cast<std::ptrdiff_t>(end - accumulation),
                              batches.begin() + static_cast<std::ptrdiff_t>(end));
        });
        if (!loss) {
          trial.stopped = true;
          break;
        }
        trial.losses.push_back(*loss);
        ++result.steps;
        progress.update(result.steps, lr_used, *loss);
        report({i, lr_used, *loss, *loss, FinderPhase::trial, round, static_cast<int64_t>(c)});
        if (rules::stops(*loss, trial.losses.front())) {
          trial.stopped = true;
          break;
        }
      }
      trial.score = rules::score(trial.losses, trial.stopped);
      scores[c] = trial.score;
      states[c].reset();
      if (round + 1 < rules::kRounds && !trial.stopped) {
        locally_or_pending(dist_, pending_, [&] {
          states[c].emplace(model_, optimizer_);
          if (!states[c]->complete() && !warned_uncopyable) {
            warned_uncopyable = true;
            detail::warn("lr_find: the optimizer state type " + states[c]->uncopyable_types().front() +
                         " cannot be copied (no usable serialize()), so a candidate that goes on to the next round "
                         "starts that state afresh");
          }
        });
      }
      result.trials.push_back(std::move(trial));
    }
    if (round == 0) start_.reset();  // every first trial has started from it
    // The best of the latest round with a trial that did not stop (normally the last round's).
    if (const auto best = rules::winner(alive, result.candidates, scores)) {
      winner = best;
      winner_round = round;
    }
    if (round + 1 < rules::kRounds) {
      alive = rules::survivors(alive, result.candidates, scores, counts[round + 1]);
      for (std::size_t c = 0; c < states.size(); ++c) {
        if (std::find(alive.begin(), alive.end(), c) == alive.end()) states[c].reset();
      }
    }
  }
  if (winner) result.lr = result.candidates[*winner];

  std::string early;  // when the winner comes from an earlier round than the last
  if (winner && winner_round + 1 < rules::kRounds) {
    early = " (every trial of round " + std::to_string(winner_round + 2) + " stopped, so it is round " +
            std::to_string(winner_round + 1) + "'s best)";
  }
  if (!result.lr) {
    result.verdict = "every trial stopped, so the curve's suggestion stands";
    result.warning += std::string(result.warning.empty() ? "" : "; ") +
                      "every trial stopped (a non-finite loss or one above 10x its first): the curve's suggestion is used";
  } else if (!result.curve_lr || !(*result.curve_lr > 0)) {
    result.verdict = "the curve gave no suggestion; the trials' winner " + lr_text(*result.lr) + early + " is used";
  } else {
    const double decades = std::abs(std::log10(*result.lr / *result.curve_lr));
    char distance[32];
    std::snprintf(distance, sizeof distance, "%.1f", decades);
    result.verdict = decades >= 1
                         ? "the trials' winner " + lr_text(*result.lr) + early + " is " + distance +
                               " decades from the curve's suggestion " + lr_text(*result.curve_lr) +
                               ": the curve alone was misleading"
                         : "the trials' winner " + lr_text(*result.lr) + early +
                               " is within a decade of the curve's suggestion " + lr_text(*result.curve_lr) +
                               ": the curve was about right";
  }
  return result;
}

void FinderRun::final_agreement() {
  if (!dist_.active()) return;
  const double failed = dist_.sum({pending_ ? 1.0 : 0.0}).front();
  if (pending_) std::rethrow_exception(pending_);
  TORCH_CHECK(failed == 0, "lr_find: ", failed, " of ", dist_.size(),
              " ranks failed in the last step (its optimizer step or on_step threw); every rank stops there");
}

}  // namespace

LRFinderResult detail::run_range_test(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                                      const BatchSource& source, const LRFinderOptions& options) {
  validate(options, static_cast<bool>(source.next_validation_loss));
  auto& groups = optimizer.param_groups();
  TORCH_CHECK_VALUE(!groups.empty(), "lr_find: the optimizer has no param groups");
  std::vector<double> ratios(groups.size(), 1.0);
  if (options.keep_group_ratios()) {
    const double lr0 = groups[0].options().get_lr();
    TORCH_CHECK_VALUE(lr0 > 0, "lr_find: keep_group_ratios needs a positive lr in group 0, but it is ", lr0);
    for (std::size_t g = 0; g < groups.size(); ++g) ratios[g] = groups[g].options().get_lr() / lr0;
  }
  if (!ModuleModes(model).any_training()) {
    detail::warn("lr_find: the model is in eval mode, so the range test trains it in eval mode (no dropout, "
                 "BatchNorm on its running statistics); call model->train() first to test it as it trains");
  }
  const int64_t budget = trial_budget_of(options, source.replayable);
  if (budget > 0 && !source.replayable && options.distributed().is_main()) {
    detail::warn("lr_find: a loss function reads a new batch at every call, so the trials' candidates see different "
                 "batches (which, as measured, halves what the trials gain); give lr_find a data loader to give "
                 "every candidate the same batches");
  }

  std::optional<TrainingSnapshot> snapshot;
  if (options.restore()) {
    snapshot.emplace(model, optimizer);
    for (const auto& type : snapshot->state_types_set_aside()) {
      detail::warn("lr_find: the optimizer state type " + type + " has no usable serialize(), so the range test "
                   "starts that state afresh; the optimizer gets its own state objects back afterwards");
    }
  }

  FinderRun run(model, optimizer, source, options, ratios, budget);
  std::optional<Refinement> refinement;
  {
    // Destroyed before the restore below: what finishing the data does is undone too.
    FinishGuard finish_data(source.finish);
    // A rank that ran another test (another num_iter, say) would take another number of collectives.
    TORCH_CHECK_VALUE(options.distributed().same_everywhere(
                          settings_fingerprint(options, static_cast<bool>(source.next_validation_loss), budget)),
                      "lr_find: the ranks run the range test with different options (min_lr, max_lr, num_iter, mode, "
                      "beta, early_stop_threshold, accumulation_steps, val_batches, skip_begin, sync_gradients, "
                      "trial_budget or a validation source differ)");
    if (budget > 0) run.save_start();
    run.range_test();
    if (budget > 0) refinement = run.trials();
    run.final_agreement();
  }
  if (snapshot) snapshot->restore();
  return LRFinderResult(std::move(run.lrs_), std::move(run.raw_), std::move(run.smoothed_), run.reason_, options,
                        std::move(ratios), std::move(refinement));
}

LRFinderResult lr_find(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                       const std::function<torch::Tensor()>& loss_of_next_batch,
                       const LRFinderOptions& options,
                       const std::function<torch::Tensor()>& val_loss_of_next_batch) {
  TORCH_CHECK_VALUE(static_cast<bool>(loss_of_next_batch), "lr_find: loss_of_next_batch is empty");
  detail::BatchSource source;
  source.next_batch = [&loss_of_next_batch]() -> std::function<torch::Tensor()> {
    return [&loss_of_next_batch] { return loss_of_next_batch(); };
  };
  source.next_validation_loss = val_loss_of_next_batch;
  return detail::run_range_test(model, optimizer, source, options);
}

// ---- result ---------------------------------------------------------------------------------

// The warnings a result has reported: the curve and the trials do not change, so neither does
// what is wrong with them, and each is said once.
struct detail::ReportedWarnings {
  bool first_time(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex);
    return texts.insert(text).second;
  }
  std::mutex mutex;
  std::set<std::string> texts;
};

LRFinderResult::LRFinderResult(std::vector<double> lrs, std::vector<double> raw_losses,
                               std::vector<double> losses, StopReason stop_reason, LRFinderOptions options,
                               std::vector<double> group_ratios, std::optional<Refinement> refinement)
    : lrs_(std::move(lrs)),
      raw_losses_(std::move(raw_losses)),
      losses_(std::move(losses)),
      stop_reason_(stop_reason),
      options_(std::move(options)),
      group_ratios_(std::move(group_ratios)),
      refinement_(std::move(refinement)),
      warned_(std::make_shared<detail::ReportedWarnings>()) {
  options_.on_step(nullptr);  // the result must not call back into a finished test
  options_.distributed(Distributed());  // nor keep the process group (its threads and sockets) alive
}

SuggestionResult LRFinderResult::quiet_suggest(Suggestion method) const {
  SuggestionResult result = suggest_lr(lrs_, losses_, method, options_.skip_begin(), options_.num_iter());
  if (method == Suggestion::automatic && refinement_) {
    if (refinement_->lr) {
      result = {refinement_->lr, "", refinement_->warning};
    } else if (!refinement_->warning.empty()) {
      result.warning = refinement_->warning + (result.warning.empty() ? "" : "; " + result.warning);
    }
  }
  return result;
}

SuggestionResult LRFinderResult::suggest(Suggestion method) const {
  SuggestionResult result = quiet_suggest(method);
  // The curve does not change, so neither does what is wrong with it: said once per result.
  if (!result.warning.empty() && warned_->first_time(result.warning)) detail::warn("lr_find: " + result.warning);
  return result;
}

std::optional<double> LRFinderResult::suggestion(Suggestion method) const { return suggest(method).lr; }

double LRFinderResult::apply(torch::optim::Optimizer& optimizer, Suggestion method) const {
  const SuggestionResult s = suggest(method);
  TORCH_CHECK_VALUE(s.lr.has_value(), "lr_find: no suggestion to apply: ", s.reason);
  auto& groups = optimizer.param_groups();
  TORCH_CHECK_VALUE(groups.size() == group_ratios_.size(), "lr_find: the optimizer has ", groups.size(),
                    " param groups, but the range test ran with ", group_ratios_.size());
  set_lrs(optimizer, *s.lr, group_ratios_);
  return *s.lr;
}

namespace {

std::string json_string(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      quoted += escaped;
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

// Each round's scores against the candidates' lrs (stopped trials left out), the winner marked.
svg::Panel trials_panel(const Refinement& r) {
  static const char* const kRoundColors[] = {"#9ecae1", "#4292c6", "#08519c"};
  svg::Panel panel;
  panel.y_label = "trial score (mean of last losses)";
  for (int64_t round = 0; round < detail::refinement::kRounds; ++round) {
    svg::Series series{"round " + std::to_string(round + 1), {}, {}, kRoundColors[round], 1.6, 1.0};
    std::vector<std::pair<double, double>> points;
    for (const Trial& t : r.trials) {
      if (t.round == round && std::isfinite(t.score)) points.emplace_back(t.lr, t.score);
    }
    std::sort(points.begin(), points.end());
    for (const auto& [lr, score] : points) {
      series.x.push_back(lr);
      series.y.push_back(score);
    }
    if (!series.x.empty()) panel.series.push_back(std::move(series));
  }
  if (r.lr) {
    double y = std::numeric_limits<double>::quiet_NaN();
    for (const Trial& t : r.trials) {
      if (t.lr == *r.lr && std::isfinite(t.score)) y = t.score;  // its last round's score
    }
    panel.markers.push_back({*r.lr, y, "trials' winner " + svg::format_number(*r.lr)});
  }
  return panel;
}

}  // namespace

void LRFinderResult::to_csv(const std::string& path) const {
  std::ofstream out(path);
  TORCH_CHECK(out.good(), "cannot write '", path, "'");
  out.precision(17);
  out << "step,lr,loss,smoothed_loss\n";
  for (std::size_t i = 0; i < lrs_.size(); ++i) {
    out << i << ',' << lrs_[i] << ',' << raw_losses_[i] << ',' << losses_[i] << '\n';
  }
  TORCH_CHECK(out.good(), "failed writing '", path, "'");
}

void LRFinderResult::to_json(const std::string& path) const {
  std::ofstream out(path);
  TORCH_CHECK(out.good(), "cannot write '", path, "'");
  out.precision(17);
  auto list = [&](const char* key, const std::vector<double>& v) {
    out << "  \"" << key << "\": [";
    for (std::size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
    out << "],\n";
  };
  out << "{\n";
  list("lrs", lrs_);
  list("losses", losses_);
  list("raw_losses", raw_losses_);
  auto number_or_null = [&](const std::optional<double>& v) {
    if (v && std::isfinite(*v)) {
      out << *v;
    } else {
      out << "null";
    }
  };
  out << "  \"suggestion\": ";
  number_or_null(quiet_suggest(Suggestion::automatic).lr);
  out << ",\n  \"stop_reason\": \"" << to_string(stop_reason_) << "\"";
  if (refinement_) {
    const Refinement& r = *refinement_;
    out << ",\n  \"refinement\": {\n    \"lr_stop\": " << r.lr_stop << ",\n    \"winner\": ";
    number_or_null(r.lr);
    out << ",\n    \"curve_lr\": ";
    number_or_null(r.curve_lr);
    out << ",\n    \"steps\": " << r.steps << ",\n    \"verdict\": " << json_string(r.verdict)
        << ",\n    \"warning\": " << json_string(r.warning) << ",\n    \"trials\": [";
    for (std::size_t t = 0; t < r.trials.size(); ++t) {
      const Trial& trial = r.trials[t];
      out << (t ? "," : "") << "\n      {\"round\": " << trial.round << ", \"candidate\": " << trial.candidate
          << ", \"lr\": " << trial.lr << ", \"score\": ";
      number_or_null(trial.score);
      out << ", \"stopped\": " << (trial.stopped ? "true" : "false") << ", \"losses\": [";
      for (std::size_t i = 0; i < trial.losses.size(); ++i) {
        out << (i ? ", " : "");
        number_or_null(trial.losses[i]);
      }
      out << "]}";
    }
    out << "\n    ]\n  }";
  }
  out << "\n}\n";
  TORCH_CHECK(out.good(), "failed writing '", path, "'");
}

void LRFinderResult::plot_svg(const std::string& path, Suggestion method) const {
  svg::Chart chart;
  chart.title = "LR range test (" + std::to_string(lrs_.size()) + " steps, " + to_string(stop_reason_) + ")";
  if (refinement_ && !refinement_->trials.empty()) {
    chart.title += " and " + std::to_string(refinement_->trials.size()) + " trials (" +
                   std::to_string(refinement_->steps) + " steps)";
  }
  chart.x_label = options_.mode() == LadderMode::exponential ? "learning rate (log scale)" : "learning rate";
  chart.log_x = options_.mode() == LadderMode::exponential;
  svg::Panel panel;
  panel.y_label = "loss";
  panel.series.push_back({"raw loss", lrs_, raw_losses_, "#1f77b4", 1.2, 0.3});
  // The axis follows the smoothed loss: a raw spike at divergence would flatten everything else.
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : losses_) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (std::isfinite(lo) && hi > lo) panel.y_range = std::make_pair(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo));
  panel.series.push_back({"smoothed loss", lrs_, losses_, "#1f77b4", 2.6, 1.0});
  const auto s = quiet_suggest(method);
  if (s.lr) {
    const auto it = std::find(lrs_.begin(), lrs_.end(), *s.lr);
    // The suggestion may lie between recorded points (lr_min / 10): place it on the curve.
    double y = losses_.empty() ? 0.0 : losses_.front();
    if (it != lrs_.end()) {
      y = losses_[static_cast<std::size_t>(it - lrs_.begin())];
    } else {
      for (std::size_t i = 0; i + 1 < lrs_.size(); ++i) {
        if (lrs_[i] <= *s.lr && *s.lr <= lrs_[i + 1]) y = losses_[i];
      }
    }
    panel.markers.push_back({*s.lr, y, "suggested lr " + svg::format_number(*s.lr)});
  }
  chart.panels.push_back(std::move(panel));
  if (refinement_ && !refinement_->trials.empty()) chart.panels.push_back(trials_panel(*refinement_));
  svg::write(chart, path);
}

}  // namespace torchlr
