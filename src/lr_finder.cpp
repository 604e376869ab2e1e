#include <torchlr/lr_finder.h>

#include "platform.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <exception>
#include <limits>
#include <optional>

#include <torch/utils.h>

#include <torchlr/svg.h>

#include "internal.h"
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
  ProgressBar(bool enabled, int64_t total) : enabled_(enabled), total_(total) {}
  ~ProgressBar() {
    if (enabled_ && drawn_) std::fputc('\n', stderr);
  }
  void update(const LRFinderStep& s) {
    if (!enabled_) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * (s.step + 1) / total_);
    std::fprintf(stderr, "\rlr_find [%-*s] %lld/%lld  lr %.3g  loss %.4g", kWidth,
                 std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 static_cast<long long>(s.step + 1), static_cast<long long>(total_), s.lr, s.smoothed);
    std::fflush(stderr);
    drawn_ = true;
  }

 private:
  bool enabled_;
  int64_t total_;
  bool drawn_ = false;
};

}  // namespace

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
uint64_t settings_fingerprint(const LRFinderOptions& o, bool has_validation) {
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
                              static_cast<int64_t>(o.sync_gradients())};
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

  std::optional<TrainingSnapshot> snapshot;
  if (options.restore()) {
    snapshot.emplace(model, optimizer);
    for (const auto& type : snapshot->state_types_set_aside()) {
      detail::warn("lr_find: the optimizer state type " + type + " has no usable serialize(), so the range test "
                   "starts that state afresh; the optimizer gets its own state objects back afterwards");
    }
  }

  std::vector<double> lrs, raw, smoothed;
  StopReason reason = StopReason::completed;
  {
    // Destroyed before the restore below: what finishing the data does is undone too.
    FinishGuard finish_data(source.finish);
    const auto ladder = lr_ladder(options.min_lr(), options.max_lr(), options.num_iter(), options.mode());
    const double beta = options.beta();
    double average = 0;
    double best = std::numeric_limits<double>::infinity();
    const Distributed& dist = options.distributed();
    ProgressBar progress(options.progress_bar().value_or(dist.is_main() && platform::stderr_is_terminal()),
                         options.num_iter());
    // A rank that ran another test (another num_iter, say) would take another number of collectives.
    TORCH_CHECK_VALUE(dist.same_everywhere(settings_fingerprint(options, static_cast<bool>(source.next_validation_loss))),
                      "lr_find: the ranks run the range test with different options (min_lr, max_lr, num_iter, mode, "
                      "beta, early_stop_threshold, accumulation_steps, val_batches, skip_begin, sync_gradients or a "
                      "validation source differ)");
    std::exception_ptr pending;  // this rank's failure after a step's agreement, reported at the next one

    for (int64_t step = 0; step < options.num_iter(); ++step) {
      set_lrs(optimizer, ladder[static_cast<std::size_t>(step)], ratios);
      const double lr_used = groups[0].options().get_lr();
      std::optional<StepLoss> step_loss;
      // Reading the batches belongs to the rank's part: a loader that throws on one rank stops
      // every rank.
      const LocalOutcome trained = run_locally(dist, [&] {
        if (pending) std::rethrow_exception(pending);
        std::vector<std::function<torch::Tensor()>> micro_batches;
        for (int64_t micro = 0; micro < options.accumulation_steps(); ++micro) {
          micro_batches.push_back(source.next_batch());
        }
        step_loss.emplace(optimizer, std::move(micro_batches), dist, options.sync_gradients(), step);
        return step_loss->evaluate(/*stop_on_non_finite=*/true);
      });
      const std::optional<double> train_loss = agree(dist, trained, step, "a loss function");
      if (!train_loss) {
        reason = StopReason::non_finite_loss;
        break;
      }
      step_loss->sync_gradients();
      locally_or_pending(dist, pending, [&] { optimizer.step(step_loss->closure(*train_loss)); });
      double loss = *train_loss;
      if (source.next_validation_loss) {
        const LocalOutcome validated = run_locally(dist, [&]() -> std::optional<double> {
          if (pending) std::rethrow_exception(pending);
          const ModuleModes modes(model);
          model.eval();
          double val_sum = 0;
          try {
            torch::NoGradGuard no_grad;
            for (int64_t b = 0; b < options.val_batches(); ++b) {
              val_sum += scalar_loss(source.next_validation_loss(), "validation loss function");
            }
          } catch (...) {
            try {
              modes.restore();
            } catch (...) {  // the snapshot puts the modes back too; the first error is the one to report
            }
            throw;
          }
          modes.restore();
          const double mean = val_sum / static_cast<double>(options.val_batches());
          return std::isfinite(mean) ? std::optional<double>(mean) : std::nullopt;
        });
        const std::optional<double> val_loss = agree(dist, validated, step, "a validation loss function");
        if (!val_loss) {
          reason = StopReason::non_finite_loss;
          break;
        }
        loss = *val_loss;
      }
      // Bias-corrected EMA, k counting recorded points from 1.
      average = beta * average + (1 - beta) * loss;
      const double k = static_cast<double>(raw.size() + 1);
      const double smooth = average / (1 - std::pow(beta, k));
      lrs.push_back(lr_used);
      raw.push_back(loss);
      smoothed.push_back(smooth);
      const LRFinderStep record{step, lr_used, loss, smooth};
      progress.update(record);
      if (options.on_step()) locally_or_pending(dist, pending, [&] { options.on_step()(record); });
      best = std::min(best, smooth);
      if (options.early_stop_threshold() && smooth > best + (*options.early_stop_threshold() - 1) * std::abs(best)) {
        reason = StopReason::diverged;
        break;
      }
    }
    if (dist.active()) {
      // Every rank left the loop at the same step: one last word on failures since the last agreement.
      const double failed = dist.sum({pending ? 1.0 : 0.0}).front();
      if (pending) std::rethrow_exception(pending);
      TORCH_CHECK(failed == 0, "lr_find: ", failed, " of ", dist.size(),
                  " ranks failed in the last step (its optimizer step or on_step threw); every rank stops there");
    }
  }
  if (snapshot) snapshot->restore();
  return LRFinderResult(std::move(lrs), std::move(raw), std::move(smoothed), reason, options, std::move(ratios));
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

LRFinderResult::LRFinderResult(std::vector<double> lrs, std::vector<double> raw_losses,
                               std::vector<double> losses, StopReason stop_reason, LRFinderOptions options,
                               std::vector<double> group_ratios)
    : lrs_(std::move(lrs)),
      raw_losses_(std::move(raw_losses)),
      losses_(std::move(losses)),
      stop_reason_(stop_reason),
      options_(std::move(options)),
      group_ratios_(std::move(group_ratios)),
      warned_(std::make_shared<std::atomic<bool>>(false)) {
  options_.on_step(nullptr);  // the result must not call back into a finished test
  options_.distributed(Distributed());  // nor keep the process group (its threads and sockets) alive
}

SuggestionResult LRFinderResult::suggest(Suggestion method) const {
  SuggestionResult result = suggest_lr(lrs_, losses_, method, options_.skip_begin(), options_.num_iter());
  // The curve does not change, so neither does what is wrong with it: said once per result.
  if (!result.warning.empty() && !warned_->exchange(true)) detail::warn("lr_find: " + result.warning);
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
  const auto s = suggest_lr(lrs_, losses_, Suggestion::steepest, options_.skip_begin(), options_.num_iter());
  out << "  \"suggestion\": ";
  if (s.lr) {
    out << *s.lr;
  } else {
    out << "null";
  }
  out << ",\n  \"stop_reason\": \"" << to_string(stop_reason_) << "\"\n}\n";
  TORCH_CHECK(out.good(), "failed writing '", path, "'");
}

void LRFinderResult::plot_svg(const std::string& path, Suggestion method) const {
  svg::Chart chart;
  chart.title = "LR range test (" + std::to_string(lrs_.size()) + " steps, " + to_string(stop_reason_) + ")";
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
  const auto s = suggest_lr(lrs_, losses_, method, options_.skip_begin(), options_.num_iter());
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
  svg::write(chart, path);
}

}  // namespace torchlr
