#pragma once

// The learning-rate range test ("LR finder"): train with an exponentially (or linearly) growing
// lr, smooth the loss, stop when it diverges, suggest an lr, and put the model, the optimizer
// and the random generators back exactly as they were. Nothing is written to disk.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <torchlr/distributed.h>

namespace torchlr {

enum class LadderMode { exponential, linear };

/// Why a range test ended.
enum class StopReason {
  completed,        // all num_iter steps ran
  diverged,         // the smoothed loss crossed the early-stop threshold (that point is recorded)
  non_finite_loss,  // a loss was NaN or ±Inf (that point is not recorded)
};
const char* to_string(StopReason reason);

/// How to pick an lr.
enum class Suggestion {
  steepest,   // steepest least-squares slope over ±half a decade, kept within [lr_min/10,
              // lr_min] (lr_min: lr at the lowest smoothed loss)
  valley,     // fastai's default ("valley", longest descending run)
  minimum,    // lr at the lowest smoothed loss, divided by 10 (fastai's "minimum")
  lightning,  // Lightning's current rule: torch.gradient with lr spacing, skip 10 / 1
  automatic,  // the default: the winner of the trials (LRFinderOptions::trial_budget) when they
              // ran and one did not stop; otherwise the curve rule kCurveRule, with a warning
              // when the curve does not descend
};

/// The rule `Suggestion::automatic` reads the curve with when there are no trials to go by:
/// fastai's valley, which failed badly least often on problems no rule was tuned on
/// (docs/benchmarks.md, "The refined suggestion").
inline constexpr Suggestion kCurveRule = Suggestion::valley;

/// The default trial budget (LRFinderOptions::trial_budget) in steps per range-test step: twice
/// the range test, which held up on problems it was not tuned on where once did not
/// (docs/benchmarks.md, "The refined suggestion").
inline constexpr int64_t kTrialBudgetPerStep = 2;

/// Which part of lr_find a step belongs to.
enum class FinderPhase { range_test, trial };
const char* to_string(FinderPhase phase);

/// One step as it happened, for progress reporting.
struct LRFinderStep {
  int64_t step;     // 0-based, within the range test or within the trial
  double lr;        // the lr of group 0 during this step's optimizer.step()
  double loss;      // the recorded (raw) loss
  double smoothed;  // the bias-corrected EMA (in a trial: the loss itself)
  FinderPhase phase = FinderPhase::range_test;
  int64_t round = -1;      // a trial's round: 0, 1 or 2
  int64_t candidate = -1;  // a trial's candidate: an index into Refinement::candidates
};

struct LRFinderOptions {
  TORCH_ARG(double, min_lr) = 1e-7;
  TORCH_ARG(double, max_lr) = 10.0;
  /// Number of optimizer steps (lrs on the ladder), at least 2.
  TORCH_ARG(int64_t, num_iter) = 100;
  TORCH_ARG(LadderMode, mode) = LadderMode::exponential;
  /// EMA weight of the past (0.98: about the last 50 steps).
  TORCH_ARG(double, beta) = 0.98;
  /// Stop when smoothed > best + (threshold − 1)·|best| (4·best for a positive loss); nullopt
  /// disables the test.
  TORCH_ARG(std::optional<double>, early_stop_threshold) = 4.0;
  /// All groups get the ladder's lr (false), or keep their lr ratio to group 0 (true).
  TORCH_ARG(bool, keep_group_ratios) = false;
  /// Micro-batches per optimizer step; the recorded loss is their mean.
  TORCH_ARG(int64_t, accumulation_steps) = 1;
  /// With a validation source: validation batches averaged after each step.
  TORCH_ARG(int64_t, val_batches) = 1;
  /// Recorded points the suggestion ignores at the start.
  TORCH_ARG(int64_t, skip_begin) = 10;
  /// Put everything back after the test (false keeps the trained state).
  TORCH_ARG(bool, restore) = true;
  /// A one-line progress bar on stderr; by default only when stderr is a terminal (and, with
  /// `distributed`, only on rank 0).
  TORCH_ARG(std::optional<bool>, progress_bar) = std::nullopt;
  /// Called after every recorded step, of the range test and of the trials.
  TORCH_ARG(std::function<void(const LRFinderStep&)>, on_step) = nullptr;
  /// Optimizer steps for the refined suggestion (0: none): after the range test, short trials
  /// of 7 candidate lrs from half a decade to 3.5 decades below the lr where it stopped, narrowed
  /// by successive halving over 3 rounds; each candidate starts from the state the range test
  /// started from and sees the same batches. `Suggestion::automatic` is the winner. At least 21
  /// (one step per trial); needs `restore`. Unset (the default): kTrialBudgetPerStep × num_iter
  /// (at least 21) through the data-loader entry points with `restore` on, none otherwise (a loss function
  /// reads a new batch at every call, so its trials could not share batches). Costs these steps,
  /// copies of the parameters, buffers and optimizer state in host memory (the start state until
  /// the first round is over, and each candidate's after its trial, so survivors continue from
  /// their own: 8 copies at most), and the batches of one round (⌊budget/6⌋ · accumulation_steps).
  /// A round's trials have fixed lengths (⌊⌊budget/3⌋/7⌋, ⌊⌊budget/3⌋/4⌋, ⌊⌊budget/3⌋/2⌋ steps),
  /// also when fewer candidates are left. The winner is the best of the last round, or of the
  /// latest round in which a trial did not stop.
  TORCH_ARG(std::optional<int64_t>, trial_budget) = std::nullopt;
  /// Data-parallel over several processes (torchlr/distributed.h): each step's loss is averaged
  /// over the ranks, in the same collective as each rank's "my loss function threw" and "my loss
  /// was not finite" flags, so every rank records the same curve, stops at the same step for the
  /// same reason (a throw on one rank throws on every rank), and gets the same suggestion. Each
  /// rank reads its own shard of the data. The default is one process.
  TORCH_ARG(Distributed, distributed) = Distributed();
  /// With `distributed`: average the gradients over the ranks after each backward pass, as
  /// PyTorch's DDP does (LibTorch has no DDP module). Turn it off when your code averages them
  /// already (a gradient hook, say). Without `distributed` it does nothing.
  TORCH_ARG(bool, sync_gradients) = true;
  /// `distributed(Distributed(process_group))`: a c10d process group (Gloo, NCCL, ...).
  LRFinderOptions& process_group(const c10::intrusive_ptr<c10d::ProcessGroup>& group) {
    distributed_ = Distributed(group);
    return *this;
  }
};

/// One trial of the refined suggestion: a candidate's steps in one round.
struct Trial {
  int64_t round;              // 0, 1 or 2
  std::size_t candidate;      // an index into Refinement::candidates
  double lr;                  // group 0's lr
  std::vector<double> losses; // one per optimizer step (the training loss, the mean of its micro-batches)
  double score;               // the mean of the last min(5, steps) losses; +inf when stopped
  bool stopped;               // at a non-finite loss, or a loss above 10× the trial's first
};

/// What the trials after the range test found (LRFinderOptions::trial_budget).
struct Refinement {
  double lr_stop = 0;                // the lr of the range test's last recorded point
  std::vector<double> candidates;    // lr_stop · 10^(−j/2), j = 1 … 7
  std::vector<Trial> trials;         // in the order they ran
  std::optional<double> lr;          // the winner: the best of the latest round in which a trial
                                     // did not stop; empty when every trial stopped (or none ran)
  std::optional<double> curve_lr;    // what the curve rule (kCurveRule) suggests
  std::string verdict;               // whether the curve's own suggestion was trusted, and why
  std::string warning;               // e.g. the range test never diverged
  int64_t steps = 0;                 // optimizer steps the trials took
};

namespace detail {
struct ReportedWarnings;  // src/lr_finder.cpp
}  // namespace detail

/// A suggestion, or why there is none.
struct SuggestionResult {
  std::optional<double> lr;
  std::string reason;   // set when `lr` is empty
  std::string warning;  // e.g. "no clear descent: widen the range or check the model"
};

class LRFinderResult {
 public:
  LRFinderResult(std::vector<double> lrs, std::vector<double> raw_losses,
                 std::vector<double> losses, StopReason stop_reason, LRFinderOptions options,
                 std::vector<double> group_ratios, std::optional<Refinement> refinement = std::nullopt);

  const std::vector<double>& lrs() const noexcept { return lrs_; }
  /// The smoothed losses.
  const std::vector<double>& losses() const noexcept { return losses_; }
  const std::vector<double>& raw_losses() const noexcept { return raw_losses_; }
  StopReason stop_reason() const noexcept { return stop_reason_; }
  const LRFinderOptions& options() const noexcept { return options_; }
  /// The trials, when `trial_budget` asked for them.
  const std::optional<Refinement>& refinement() const noexcept { return refinement_; }

  /// The suggested lr, or empty (see `suggest` for the reason).
  std::optional<double> suggestion(Suggestion method = Suggestion::automatic) const;
  /// The suggestion, or why there is none. Its warning (no clear descent, a test that never
  /// diverged, trials that all stopped) is also reported through torchlr's warnings, each text
  /// once per result however often it is asked for.
  SuggestionResult suggest(Suggestion method = Suggestion::automatic) const;

  /// Writes the suggestion into every group (scaled by the groups' original ratios with
  /// keep_group_ratios). Throws c10::ValueError when there is no suggestion.
  double apply(torch::optim::Optimizer& optimizer, Suggestion method = Suggestion::automatic) const;

  /// `step,lr,loss,smoothed_loss` per recorded point.
  void to_csv(const std::string& path) const;
  void to_json(const std::string& path) const;
  /// A self-contained SVG: log-scale lr axis (exponential mode), raw loss faint, smoothed loss
  /// bold, the suggestion marked and labelled; with trials, a second panel of each round's
  /// scores against the candidates' lrs, the winner marked.
  void plot_svg(const std::string& path, Suggestion method = Suggestion::automatic) const;

 private:
  SuggestionResult quiet_suggest(Suggestion method) const;  // suggest() without the warning

  std::vector<double> lrs_, raw_losses_, losses_;
  StopReason stop_reason_;
  LRFinderOptions options_;
  std::vector<double> group_ratios_;
  std::optional<Refinement> refinement_;
  std::shared_ptr<detail::ReportedWarnings> warned_;  // what suggest() has warned of (copies share it)
};

/// The suggestion rules on a recorded curve (what LRFinderResult::suggest uses), for curves
/// recorded elsewhere. `num_iter` is the planned number of steps (fastai's trimming uses it).
/// `Suggestion::automatic` is kCurveRule here (there are no trials).
SuggestionResult suggest_lr(const std::vector<double>& lrs, const std::vector<double>& smoothed,
                            Suggestion method, int64_t skip_begin = 10, int64_t num_iter = 100);

/// The lr ladder: `num_iter` values from `min_lr` to exactly `max_lr`.
std::vector<double> lr_ladder(double min_lr, double max_lr, int64_t num_iter, LadderMode mode);

/// The range test on any training step: `loss_of_next_batch` runs the forward pass on the next
/// batch and returns the loss (a scalar tensor); the finder does zero_grad, backward,
/// optimizer.step, the lr ladder, smoothing, stopping and the restore. With `val_loss_of_next_batch`
/// the recorded loss is the mean over `val_batches` of it, under NoGradGuard and eval mode.
///
/// Every step calls `optimizer.step(closure)`. LibTorch's first-order optimizers evaluate the
/// closure once, and get the loss already computed; an optimizer that evaluates it again (LBFGS)
/// calls `loss_of_next_batch` again each time, so through this entry point it sees a new batch
/// per evaluation unless the function returns the loss of a fixed batch (full-batch LBFGS). The
/// data-loader entry point below re-evaluates the same batch.
///
/// What is put back afterwards, bit for bit, after a normal return and after an exception:
/// every tensor of every param group and every parameter and buffer of `model` (each once, tied
/// weights included) with its gradient object and values; the optimizer's per-parameter state
/// (the very state objects it had: the test steps from copies of them); every group's params and
/// options; the train/eval flag of `model` and of each submodule; the CPU random generator and
/// the generator of each GPU that already has a CUDA context. Not put back: anything else your
/// optimizer or loss function keeps (members outside `optimizer.state()`), and the position in
/// your data. Training steps run in the modes the modules are in (a frozen BatchNorm stays
/// frozen; a model entirely in eval mode trains in eval mode, with a warning). A failed restore
/// on a normal return throws.
LRFinderResult lr_find(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                       const std::function<torch::Tensor()>& loss_of_next_batch,
                       const LRFinderOptions& options = LRFinderOptions(),
                       const std::function<torch::Tensor()>& val_loss_of_next_batch = nullptr);

namespace detail {

/// What the range test reads its data from.
struct BatchSource {
  /// Takes the next training batch and returns its loss, as a function that can be evaluated
  /// again on the same batch (for optimizers that re-evaluate, such as LBFGS).
  std::function<std::function<torch::Tensor()>()> next_batch;
  /// The loss of the next validation batch; empty without validation.
  std::function<torch::Tensor()> next_validation_loss;
  /// Whether a function from `next_batch` evaluates the same batch every time it is called
  /// (a loader's batch), so that every trial can be given the same batches.
  bool replayable = false;
  /// Called once when the test ends (normally or by an exception), before the restore, so that
  /// what it does with the data (finishing a loader's epoch) is undone by the restore too.
  std::function<void()> finish;
};

LRFinderResult run_range_test(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                              const BatchSource& source, const LRFinderOptions& options);

template <typename Loader, typename = void>
struct HasWorkerThreads : std::false_type {};
template <typename Loader>
struct HasWorkerThreads<Loader, std::void_t<decltype(std::declval<const Loader&>().options().workers)>>
    : std::true_type {};

/// Cycles over a LibTorch data loader, starting again from the beginning when it runs out.
///
/// A LibTorch loader with worker threads refuses a new iterator ("another iterator is not yet
/// exhausted") while batches of an abandoned epoch are still queued, and offers no way to drop
/// them. So `finish()` runs the open epoch to its end, discarding its batches: the cost of
/// loading the rest of one epoch (no forward or backward pass); for a stateful loader that is the
/// rest of its stream, and a loader whose epoch never ends (an endless sampler) would never
/// finish: use the callable entry point for those. Loaders without workers need nothing, and are
/// left as they are.
template <typename Loader>
class LoaderCycle {
 public:
  using Batch = std::decay_t<decltype(*std::declval<Loader&>().begin())>;

  explicit LoaderCycle(Loader& loader) : loader_(loader) {}
  LoaderCycle(const LoaderCycle&) = delete;
  LoaderCycle& operator=(const LoaderCycle&) = delete;
  ~LoaderCycle() {
    try {
      finish();
    } catch (...) {  // finish() already swallows what the loader throws; nothing may escape here
    }
  }

  Batch next() {
    if (!it_ || *it_ == loader_.end()) {
      it_ = std::make_unique<Iterator>(loader_.begin());
      TORCH_CHECK_VALUE(*it_ != loader_.end(), "lr_find: the data loader yielded no batch");
    }
    Batch batch = std::move(**it_);  // the iterator replaces it on ++
    ++*it_;
    return batch;
  }

  /// Leaves the loader ready for a new epoch.
  void finish() noexcept {
    if (!it_) return;
    if constexpr (HasWorkerThreads<Loader>::value) {
      if (loader_.options().workers > 0) drain();
    }
    it_.reset();
  }

 private:
  // Each failed fetch still consumes one queued batch, so this ends with the epoch.
  void drain() noexcept {
    for (;;) {
      try {
        if (*it_ == loader_.end()) return;
        ++*it_;
      } catch (...) {
        // A batch that failed to load (the dataset threw in a worker): skip it.
      }
    }
  }

  using Iterator = decltype(std::declval<Loader&>().begin());
  Loader& loader_;
  std::unique_ptr<Iterator> it_;
};

/// The device of the model's first parameter (CPU for a model without parameters).
torch::Device model_device(const torch::nn::Module& model);

/// The loss of a model on one (data, target) batch, moved to `device`.
template <typename Model, typename Batch, typename LossFn>
torch::Tensor batch_loss(Model& model, const Batch& batch, LossFn& loss_fn, const torch::Device& device) {
  return loss_fn(model.forward(batch.data.to(device)), batch.target.to(device));
}

/// The source for a model, a loader of (data, target) batches and a loss function.
template <typename Model, typename Loader, typename LossFn>
BatchSource loader_source(Model& model, LoaderCycle<Loader>& batches, LossFn& loss_fn, const torch::Device& device) {
  BatchSource source;
  source.next_batch = [&model, &batches, &loss_fn, device]() -> std::function<torch::Tensor()> {
    auto batch = std::make_shared<typename LoaderCycle<Loader>::Batch>(batches.next());
    return [&model, &loss_fn, device, batch] { return batch_loss(model, *batch, loss_fn, device); };
  };
  source.finish = [&batches] { batches.finish(); };
  source.replayable = true;
  return source;
}

}  // namespace detail

/// The range test on a model, a data loader of `torch::data::Example<>` batches (data, target)
/// and a loss function `loss_fn(output, target)`. Batches go to the model's device. The loader
/// stays usable afterwards, also with worker threads and also when the test throws: with
/// workers, the epoch the test opened is run to its end first (its remaining batches are loaded
/// and discarded), since LibTorch cannot abandon one. The next epoch starts from the beginning.
/// Call it between epochs: a loader with workers refuses a new epoch while one is open.
template <typename Model, typename Loader, typename LossFn,
          typename = std::enable_if_t<std::is_invocable_v<LossFn&, torch::Tensor, torch::Tensor>>>
LRFinderResult lr_find(Model& model, torch::optim::Optimizer& optimizer, Loader& loader,
                       LossFn loss_fn, const LRFinderOptions& options = LRFinderOptions()) {
  const torch::Device device = detail::model_device(model);
  detail::LoaderCycle<Loader> batches(loader);
  return detail::run_range_test(model, optimizer, detail::loader_source(model, batches, loss_fn, device), options);
}

/// As above, recording the mean loss over `options.val_batches()` batches of `val_loader` after
/// each step instead of the training loss.
template <typename Model, typename Loader, typename LossFn, typename ValLoader,
          typename = std::enable_if_t<std::is_invocable_v<LossFn&, torch::Tensor, torch::Tensor>>>
LRFinderResult lr_find(Model& model, torch::optim::Optimizer& optimizer, Loader& loader,
                       LossFn loss_fn, const LRFinderOptions& options, ValLoader& val_loader) {
  const torch::Device device = detail::model_device(model);
  detail::LoaderCycle<Loader> batches(loader);
  detail::LoaderCycle<ValLoader> val_batches(val_loader);
  detail::BatchSource source = detail::loader_source(model, batches, loss_fn, device);
  source.next_validation_loss = [&] { return detail::batch_loss(model, val_batches.next(), loss_fn, device); };
  source.finish = [&] {
    batches.finish();
    val_batches.finish();
  };
  return detail::run_range_test(model, optimizer, source, options);
}

}  // namespace torchlr
