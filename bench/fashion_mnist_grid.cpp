// Automatic against grid search on Fashion-MNIST: does the lr the range test picks, without
// hand-tuning, train as well as the best lr of a grid? The demo's network and recipe
// (examples/support/fashion_mnist.h), the same epoch budget for every entry, over several seeds:
//
//   automatic   the range test, then OneCycleLR at its suggestion (the demo; finder time included)
//   constant    Adam at a constant lr, for each lr of the grid
//   onecycle    OneCycleLR with each lr of the grid as its peak
//   classic     Adam at 1e-3, then StepLR(gamma 0.1) for the last third of the epochs
//
// Prints the table of docs/benchmarks.md, and writes into --out: results.jsonl (one line per
// run), accuracy_vs_lr.svg, and recipe.json (the first seed's automatic run: its settings, data
// order and per-step lrs, for bench/fashion_mnist_pytorch.py to repeat in Python).
//
//   fashion_mnist_grid [--out DIR] [--data DIR] [--seeds N] [--epochs N] [--limit N] [--threads N] [--kinds LIST]
//   fashion_mnist_grid --report DIR/results.jsonl [--out DIR]   the tables and plot again, no training
//
// --kinds: a comma-separated subset of automatic,classic,constant,onecycle (default all), e.g. to
// run the automatic entries again after a change to the finder and join them with earlier rows;
// a subset's rows go to results.partial.jsonl.
//
// --threads defaults to OMP_NUM_THREADS, else every core.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <torch/data.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <nlohmann/json.hpp>
#include <torchlr/torchlr.h>

#include "support/fashion_mnist.h"

namespace {

namespace fm = fashion_mnist;
using Clock = std::chrono::steady_clock;

// The grid: 8 lrs, half a decade apart, 1e-4 to 10^-0.5.
std::vector<double> grid() {
  std::vector<double> lrs;
  for (int i = 0; i < 8; ++i) lrs.push_back(std::pow(10.0, -4.0 + 0.5 * i));
  return lrs;
}
constexpr double kClassicLr = 1e-3;  // Adam's default
constexpr double kClassicGamma = 0.1;

struct Run {
  std::string kind;  // automatic, constant, onecycle, classic
  uint64_t seed = 0;
  double lr = 0;  // the constant lr, the peak, or the suggestion
  double accuracy = 0;
  double seconds = 0;  // training, and the range test and its trials for automatic; not the final evaluation
  std::map<std::string, double> other_rules;  // automatic: what the other suggestion rules say
};

struct Data {
  fm::Tensors train;
  torch::Tensor test_images, test_labels;
};

// What recipe.json holds about the first automatic run.
struct Trace {
  std::vector<uint64_t> epoch_seeds;  // the seed of each training epoch's order (after the range test's)
  torchlr::ScheduleRecord schedule;  // lr and beta1 after every step, from step 0
  std::vector<double> losses;
  std::vector<double> epoch_seconds;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

uint64_t order_seed(uint64_t seed) { return 1000 * seed; }

Run train(const Data& data, const fm::Recipe& recipe, int64_t epochs, const std::string& kind, uint64_t seed,
          double lr, Trace* trace) {
  const auto start = Clock::now();
  const int64_t size = data.train.labels.size(0);
  fm::SeededShuffle shuffle(static_cast<size_t>(size), order_seed(seed));
  const auto drawn_seeds = shuffle.drawn_seeds();
  auto loader = torch::data::make_data_loader(fm::Dataset(data.train), std::move(shuffle),
                                              torch::data::DataLoaderOptions().batch_size(recipe.batch_size));
  const int64_t batches = (size + recipe.batch_size - 1) / recipe.batch_size;
  torch::manual_seed(seed);
  fm::ConvNet model;
  torch::optim::Adam optimizer(model.parameters(),
                               torch::optim::AdamOptions(kind == "classic" ? kClassicLr : recipe.adam_lr));
  auto cross_entropy = [](const torch::Tensor& logits, const torch::Tensor& target) {
    return torch::nn::functional::cross_entropy(logits, target);
  };
  Run run;
  run.kind = kind;
  run.seed = seed;
  run.lr = lr;
  if (kind == "automatic") {
    const auto found = torchlr::lr_find(model, optimizer, *loader, cross_entropy,
                                        torchlr::LRFinderOptions()
                                            .min_lr(recipe.finder_min_lr)
                                            .max_lr(recipe.finder_max_lr)
                                            .num_iter(recipe.finder_num_iter)
                                            .progress_bar(false));
    const auto suggestion = found.suggest();
    TORCH_CHECK(suggestion.lr, "seed ", seed, ": no suggestion: ", suggestion.reason);
    run.lr = *suggestion.lr;
    for (auto [name, rule] : {std::pair{"steepest", torchlr::Suggestion::steepest},
                              std::pair{"valley", torchlr::Suggestion::valley},
                              std::pair{"minimum", torchlr::Suggestion::minimum},
                              std::pair{"lightning", torchlr::Suggestion::lightning}}) {
      if (auto other = found.suggestion(rule)) run.other_rules[name] = *other;
    }
  }
  if (kind == "constant") {
    for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
  }
  std::unique_ptr<torchlr::OneCycleLR> one_cycle;
  std::unique_ptr<torchlr::StepLR> step_lr;
  if (kind == "automatic" || kind == "onecycle") {
    one_cycle = std::make_unique<torchlr::OneCycleLR>(
        optimizer, torchlr::OneCycleLROptions(run.lr).epochs(epochs).steps_per_epoch(batches));
  } else if (kind == "classic") {
    run.lr = kClassicLr;
    step_lr = std::make_unique<torchlr::StepLR>(
        optimizer, torchlr::StepLROptions(std::max<int64_t>(1, 2 * epochs / 3)).gamma(kClassicGamma));
  }
  const size_t orders_before_training = drawn_seeds->size();  // the range test's
  if (trace) trace->schedule.record(optimizer, 0);
  auto epoch_start = Clock::now();
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    for (auto& batch : *loader) {
      optimizer.zero_grad();
      auto loss = cross_entropy(model.forward(batch.data), batch.target);
      loss.backward();
      optimizer.step();
      if (one_cycle) one_cycle->step();
      if (trace) {
        trace->losses.push_back(loss.item<double>());
        trace->schedule.record(optimizer, static_cast<int64_t>(trace->losses.size()));
      }
    }
    if (step_lr) step_lr->step();
    if (trace) {
      trace->epoch_seconds.push_back(seconds_since(epoch_start));
      epoch_start = Clock::now();
    }
  }
  run.seconds = seconds_since(start);
  if (trace) trace->epoch_seeds.assign(drawn_seeds->begin() + static_cast<std::ptrdiff_t>(orders_before_training), drawn_seeds->end());
  run.accuracy = fm::accuracy(model, data.test_images, data.test_labels);
  return run;
}

}  // namespace

namespace {

struct Summary {
  double mean = 0, sd = 0, seconds = 0;
};

// Accuracy: mean and sample standard deviation over the seeds. Time: the median over the seeds,
// which a run disturbed by something else on the machine does not move.
Summary summarize(const std::vector<const Run*>& runs) {
  TORCH_CHECK(!runs.empty(), "fashion_mnist_grid: no runs to summarize");
  Summary s;
  std::vector<double> seconds;
  for (const Run* r : runs) {
    s.mean += r->accuracy;
    seconds.push_back(r->seconds);
  }
  s.mean /= static_cast<double>(runs.size());
  std::sort(seconds.begin(), seconds.end());
  const size_t middle = seconds.size() / 2;
  s.seconds = seconds.size() % 2 ? seconds[middle] : (seconds[middle - 1] + seconds[middle]) / 2;
  for (const Run* r : runs) s.sd += (r->accuracy - s.mean) * (r->accuracy - s.mean);
  s.sd = runs.size() > 1 ? std::sqrt(s.sd / static_cast<double>(runs.size() - 1)) : 0;
  return s;
}

// The accuracy a curve of (lr, accuracy) points reaches at `lr`, linear in log(lr) between its
// neighbours; empty outside the curve.
std::optional<double> read_off(const std::vector<double>& lrs, const std::vector<double>& accuracies, double lr) {
  for (size_t i = 0; i + 1 < lrs.size(); ++i) {
    if (lr >= lrs[i] && lr <= lrs[i + 1]) {
      const double t = std::log(lr / lrs[i]) / std::log(lrs[i + 1] / lrs[i]);
      return accuracies[i] + t * (accuracies[i + 1] - accuracies[i]);
    }
  }
  return std::nullopt;
}

std::string percent(double accuracy) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", 100 * accuracy);
  return text;
}

std::string lr_text(double lr) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", lr);
  return text;
}

// Prints the tables and writes the plot, from the runs of a training session or a results file.
void report(const std::vector<Run>& runs, int64_t epochs, const std::filesystem::path& out) {
  std::vector<uint64_t> seed_list;
  for (const Run& r : runs) {
    if (std::find(seed_list.begin(), seed_list.end(), r.seed) == seed_list.end()) seed_list.push_back(r.seed);
  }
  const auto seeds = static_cast<int64_t>(seed_list.size());
  // The table.
  auto select = [&](const std::string& kind, std::optional<double> lr) {
    std::vector<const Run*> chosen;
    for (const Run& r : runs) {
      if (r.kind == kind && (!lr || r.lr == *lr)) chosen.push_back(&r);
    }
    return chosen;
  };
  std::printf("\n| entry | lr | test accuracy, %% (mean ± sd over %lld seeds) | wall time per run, s (median) |\n|---|---|---|---|\n",
              static_cast<long long>(seeds));
  const auto automatic = select("automatic", std::nullopt);
  const Summary auto_summary = summarize(automatic);
  std::string suggested;
  for (const Run* r : automatic) suggested += (suggested.empty() ? "" : ", ") + lr_text(r->lr);
  std::printf("| **automatic**: range test, then OneCycleLR at its suggestion | %s | **%s ± %s** | %.0f |\n",
              suggested.c_str(), percent(auto_summary.mean).c_str(), percent(auto_summary.sd).c_str(),
              auto_summary.seconds);
  const Summary classic = summarize(select("classic", std::nullopt));
  std::printf("| classic: Adam at %g, StepLR(step_size=%lld, gamma=%g) per epoch | %g | %s ± %s | %.0f |\n", kClassicLr,
              static_cast<long long>(std::max<int64_t>(1, 2 * epochs / 3)), kClassicGamma, kClassicLr,
              percent(classic.mean).c_str(), percent(classic.sd).c_str(), classic.seconds);
  std::string best_name;
  Summary best;
  double grid_seconds = 0;
  std::map<std::string, std::vector<double>> curve_accuracy;
  for (const std::string kind : {"constant", "onecycle"}) {
    for (double lr : grid()) {
      const Summary s = summarize(select(kind, lr));
      curve_accuracy[kind].push_back(s.mean);
      grid_seconds += s.seconds;
      const std::string name = (kind == "constant" ? "constant lr " : "OneCycleLR, peak ") + lr_text(lr);
      std::printf("| %s | %s | %s ± %s | %.0f |\n", name.c_str(), lr_text(lr).c_str(), percent(s.mean).c_str(),
                  percent(s.sd).c_str(), s.seconds);
      if (s.mean > best.mean) {
        best = s;
        best_name = name;
      }
    }
  }
  std::printf("\nBest grid entry: %s, %s%%. Automatic: %s%% (%+.2f points), in one run of %.0f s; the grid's 16 "
              "entries took %.0f s per seed.\n",
              best_name.c_str(), percent(best.mean).c_str(), percent(auto_summary.mean).c_str(),
              100 * (auto_summary.mean - best.mean), auto_summary.seconds, grid_seconds);

  // The other suggestion rules on the same curves, read off the OneCycleLR grid.
  std::printf("\n| seed | rule | suggested lr | OneCycleLR accuracy there (read off the grid), %% |\n|---|---|---|---|\n");
  for (const Run* r : automatic) {
    std::map<std::string, double> rules = r->other_rules;
    rules["automatic (default)"] = r->lr;
    for (const auto& [name, lr] : rules) {
      const auto there = read_off(grid(), curve_accuracy["onecycle"], lr);
      std::printf("| %llu | %s | %s | %s |\n", static_cast<unsigned long long>(r->seed), name.c_str(), lr_text(lr).c_str(),
                  there ? percent(*there).c_str() : "outside the grid");
    }
  }

  // Accuracy against lr, the suggestions marked.
  torchlr::svg::Chart chart;
  chart.title = "Fashion-MNIST, " + std::to_string(epochs) + " epochs: test accuracy against lr (mean of " +
                std::to_string(seeds) + " seeds)";
  chart.x_label = "lr (constant, or OneCycleLR's peak)";
  chart.log_x = true;
  torchlr::svg::Panel panel;
  panel.y_label = "test accuracy, %";
  torchlr::svg::Series constant{"constant lr", grid(), {}, "#1f77b4"};
  torchlr::svg::Series one_cycle{"OneCycleLR at that peak", grid(), {}, "#ff7f0e"};
  for (double a : curve_accuracy["constant"]) constant.y.push_back(100 * a);
  for (double a : curve_accuracy["onecycle"]) one_cycle.y.push_back(100 * a);
  panel.series = {constant, one_cycle};
  for (const Run* r : automatic) {
    // One circle per seed; one label for all, which would otherwise overlap.
    panel.markers.push_back({r->lr, 100 * r->accuracy, r == automatic.front() ? "automatic (one per seed)" : "",
                             "#2ca02c"});
  }
  // Diverged entries (10%) would flatten the rest: show the top few points, clipping lower ones.
  panel.y_range = std::pair{100 * best.mean - 6, 100 * best.mean + 2.5};  // room for the legend
  panel.markers.push_back({kClassicLr, 100 * classic.mean, "classic StepLR", "#9467bd"});
  chart.panels = {panel};
  torchlr::svg::write(chart, (out / "accuracy_vs_lr.svg").string());
  std::printf("\nWritten: %s\n", (out / "accuracy_vs_lr.svg").c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const fm::Recipe recipe;
  std::filesystem::path out = "fashion_mnist_bench", data_dir = fm::default_dir();
  int64_t seeds = 3, epochs = recipe.epochs;
  std::optional<int64_t> limit, threads_requested;
  std::optional<std::filesystem::path> report_file;
  std::set<std::string> kinds{"automatic", "classic", "constant", "onecycle"};
  try {
    const auto options = fm::parse_options(
        argc, argv, {"--out", "--data", "--seeds", "--epochs", "--limit", "--threads", "--report", "--kinds"});
    for (const auto& [name, value] : options) {
      if (name == "--out") out = value;
      if (name == "--data") data_dir = value;
      if (name == "--seeds") seeds = fm::integer_option(name, value, 1);
      if (name == "--epochs") epochs = fm::integer_option(name, value, 1);
      if (name == "--limit") limit = fm::integer_option(name, value, 1);
      if (name == "--threads") threads_requested = fm::integer_option(name, value, 1);
      if (name == "--report") report_file = value;
      if (name == "--kinds") {
        kinds.clear();
        std::stringstream list(value);
        for (std::string kind; std::getline(list, kind, ',');) {
          TORCH_CHECK_VALUE(kind == "automatic" || kind == "classic" || kind == "constant" || kind == "onecycle",
                            "--kinds: unknown kind '", kind, "' (automatic, classic, constant, onecycle)");
          kinds.insert(kind);
        }
        TORCH_CHECK_VALUE(!kinds.empty(), "--kinds: name at least one of automatic, classic, constant, onecycle");
      }
    }
  } catch (const c10::ValueError& e) {
    std::cerr << "error: " << e.what_without_backtrace()
              << "\nusage: fashion_mnist_grid [--out DIR] [--data DIR] [--seeds N] [--epochs N] [--limit N] [--threads N] [--kinds LIST]\n"
                 "       fashion_mnist_grid --report RESULTS_JSONL [--out DIR] [--epochs N]\n";
    return 2;
  }
  std::filesystem::create_directories(out);
  if (report_file) {
    // The tables and the plot again, from a results file: no training.
    std::ifstream in(*report_file);
    TORCH_CHECK_VALUE(in, "--report: cannot read ", report_file->string());
    std::vector<Run> runs;
    for (std::string text; std::getline(in, text);) {
      if (text.empty()) continue;
      const auto line = nlohmann::json::parse(text);
      Run run;
      run.kind = line.at("kind").get<std::string>();
      run.seed = line.at("seed").get<uint64_t>();
      run.lr = line.at("lr").get<double>();
      run.accuracy = line.at("accuracy").get<double>();
      run.seconds = line.at("seconds").get<double>();
      run.other_rules = line.at("other_rules").get<std::map<std::string, double>>();
      epochs = line.value("epochs", epochs);
      runs.push_back(std::move(run));
    }
    report(runs, epochs, out);
    return 0;
  }
  const int threads = fm::threads_to_use(threads_requested);
  torch::set_num_threads(threads);
  Data data;
  fm::Tensors test;
  try {
    data.train = fm::read(data_dir, fm::Split::kTrain, limit);
    test = fm::read(data_dir, fm::Split::kTest, limit);
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  }
  data.test_images = fm::normalize(test.images);
  data.test_labels = test.labels;
  const int64_t train_size = data.train.labels.size(0);
  std::printf("Fashion-MNIST: %lld training, %lld test images; %lld epochs of batch %lld; %lld seeds; %d threads\n",
              static_cast<long long>(train_size), static_cast<long long>(data.test_labels.size(0)),
              static_cast<long long>(epochs), static_cast<long long>(recipe.batch_size), static_cast<long long>(seeds),
              threads);

  std::vector<Run> runs;
  Trace trace;
  // A part of the grid goes to a file of its own, so that it never replaces a whole run's rows.
  const auto results_file = out / (kinds.size() < 4 ? "results.partial.jsonl" : "results.jsonl");
  std::ofstream results(results_file);
  auto finish = [&](Run run) {
    std::printf("  seed %llu  %-9s lr %-8s accuracy %s%%  %.1f s\n", static_cast<unsigned long long>(run.seed),
                run.kind.c_str(), lr_text(run.lr).c_str(), percent(run.accuracy).c_str(), run.seconds);
    std::fflush(stdout);
    nlohmann::json line = {{"kind", run.kind},         {"seed", run.seed},       {"lr", run.lr},
                           {"accuracy", run.accuracy}, {"seconds", run.seconds}, {"other_rules", run.other_rules},
                           {"epochs", epochs}};
    results << line.dump() << "\n" << std::flush;
    runs.push_back(std::move(run));
  };
  for (uint64_t seed = 1; seed <= static_cast<uint64_t>(seeds); ++seed) {
    if (kinds.count("automatic")) finish(train(data, recipe, epochs, "automatic", seed, 0, seed == 1 ? &trace : nullptr));
    if (kinds.count("classic")) finish(train(data, recipe, epochs, "classic", seed, kClassicLr, nullptr));
    for (double lr : grid()) {
      if (kinds.count("constant")) finish(train(data, recipe, epochs, "constant", seed, lr, nullptr));
      if (kinds.count("onecycle")) finish(train(data, recipe, epochs, "onecycle", seed, lr, nullptr));
    }
  }
  if (kinds.size() < 4) {  // a part of the grid: its rows, for joining with the rest
    std::printf("kinds run: %zu of 4; rows in %s\n", kinds.size(), results_file.string().c_str());
    return 0;
  }

  // The first automatic run, for the Python comparison.
  const Run& first = runs.front();
  nlohmann::json recipe_json = {
      {"data_dir", data_dir.string()},
      {"train_size", train_size},
      {"batch_size", recipe.batch_size},
      {"epochs", epochs},
      {"steps_per_epoch", (train_size + recipe.batch_size - 1) / recipe.batch_size},
      {"init_seed", first.seed},
      {"epoch_order_seeds", trace.epoch_seeds},
      {"test_size", data.test_labels.size(0)},
      {"classes", fm::kClasses},
      {"conv1_channels", fm::kConv1Channels},
      {"conv2_channels", fm::kConv2Channels},
      {"hidden_units", fm::kHiddenUnits},
      {"adam_lr", recipe.adam_lr},
      {"max_lr", first.lr},
      {"pixel_mean", fm::kPixelMean},
      {"pixel_std", fm::kPixelStd},
      {"threads", threads},
      {"lrs", trace.schedule.lrs.at(0)},
      {"betas", trace.schedule.momenta.at(0)},
      {"losses", trace.losses},
      {"epoch_seconds", trace.epoch_seconds},
      {"accuracy", first.accuracy},
  };
  std::ofstream(out / "recipe.json") << recipe_json.dump(1) << "\n";

  report(runs, epochs, out);
  std::printf("Written: %s, %s\n", (out / "results.jsonl").c_str(), (out / "recipe.json").c_str());
  return 0;
}
