// What the LR finder costs on top of the training it does: wall time of lr_find against a plain
// loop of as many training steps on the same model and data (interleaved repetitions, medians),
// the time of the snapshot and the restore, and the peak extra memory against the size of the
// model and optimizer state. Then the same ratio as the model grows, and a model with tied
// weights (one layer registered twice, so parameters() lists its weight twice): the snapshot
// holds each tensor once, so its memory is that of the distinct tensors.
//
//   ./finder_overhead [--quick]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>

#include <torchlr/lr_finder.h>

#include "training_snapshot.h"  // internal: timed on its own below

namespace {

struct MLP : torch::nn::Module {
  MLP(int64_t width, bool tied) : tied(tied) {
    fc1 = register_module("fc1", torch::nn::Linear(width, width));
    fc2 = register_module("fc2", torch::nn::Linear(width, width));
    if (tied) register_module("fc2_again", fc2);
    fc3 = register_module("fc3", torch::nn::Linear(width, 10));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::relu(fc2->forward(torch::relu(fc1->forward(x))));
    if (tied) h = torch::relu(fc2->forward(h));
    return fc3->forward(h);
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
  bool tied;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Peak resident memory since the last reset, in bytes (Linux: VmHWM, reset through clear_refs).
void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }
double peak_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  double kb = 0;
  while (status >> key) {
    if (key == "VmHWM:") {
      status >> kb;
      break;
    }
  }
  return kb * 1024;
}

struct Setup {
  Setup(int64_t width, int64_t batch, bool tied)
      : model(width, tied), optimizer(model.parameters(), torch::optim::AdamOptions(1e-3)) {
    torch::manual_seed(0);
    x = torch::randn({batch, width});
    y = torch::randint(0, 10, {batch});
    // Adam's state exists from the first step on, as in a run that has started training.
    step(1e-3);
  }
  torch::Tensor loss() { return torch::nn::functional::cross_entropy(model.forward(x), y); }
  void step(double lr) {
    for (auto& g : optimizer.param_groups()) g.options().set_lr(lr);
    optimizer.zero_grad();
    loss().backward();
    optimizer.step();
  }
  // What the snapshot copies: each distinct parameter, its gradient and Adam's two moments.
  double state_bytes() {
    double bytes = 0;
    std::set<const void*> seen;
    for (const auto& p : model.parameters()) {
      if (seen.insert(p.unsafeGetTensorImpl()).second) bytes += static_cast<double>(p.numel() * p.element_size());
    }
    return bytes * 4;
  }
  MLP model;
  torch::optim::Adam optimizer;
  torch::Tensor x, y;
};

struct Measured {
  double plain, finder, snapshot, restore, extra_memory, state;
};

Measured measure(int64_t width, int64_t batch, int64_t steps, int repetitions, bool tied = false) {
  Setup s(width, batch, tied);
  const auto options = torchlr::LRFinderOptions()
                           .min_lr(1e-6)
                           .max_lr(1e-3)  // stays stable: every step runs, none stops early
                           .num_iter(steps)
                           .early_stop_threshold(std::nullopt)
                           .progress_bar(false);
  std::vector<double> plain, finder, snapshot, restore, plain_peak, finder_peak;
  for (int r = 0; r < repetitions; ++r) {
    reset_peak();
    const double base = peak_bytes();
    auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < steps; ++i) s.step(1e-4);
    plain.push_back(seconds_since(start));
    plain_peak.push_back(peak_bytes() - base);

    reset_peak();
    const double base2 = peak_bytes();
    start = std::chrono::steady_clock::now();
    torchlr::lr_find(s.model, s.optimizer, [&] { return s.loss(); }, options);
    finder.push_back(seconds_since(start));
    finder_peak.push_back(peak_bytes() - base2);

    start = std::chrono::steady_clock::now();
    torchlr::detail::TrainingSnapshot snap(s.model, s.optimizer);
    snapshot.push_back(seconds_since(start));
    start = std::chrono::steady_clock::now();
    snap.restore();
    restore.push_back(seconds_since(start));
  }
  return {median(plain), median(finder), median(snapshot), median(restore),
          std::max(0.0, median(finder_peak) - median(plain_peak)), s.state_bytes()};
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const int reps = quick ? 1 : 5;
  std::printf("LR finder overhead: MLP 3 layers, Adam, batch 128, CPU, %d repetitions (medians)\n\n", reps);
  std::printf("| width | steps | plain loop (s) | lr_find (s) | ratio | snapshot (ms) | restore (ms) | extra peak memory (MiB) | snapshot: params, grads, Adam state (MiB) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  auto row = [&](int64_t width, int64_t steps, int repetitions, bool tied = false) {
    const Measured m = measure(width, 128, steps, repetitions, tied);
    std::printf("| %lld%s | %lld | %.3f | %.3f | %.3f | %.2f | %.2f | %.1f | %.1f |\n", static_cast<long long>(width), tied ? " tied" : "",
                static_cast<long long>(steps), m.plain, m.finder, m.finder / m.plain, 1e3 * m.snapshot, 1e3 * m.restore,
                m.extra_memory / (1 << 20), m.state / (1 << 20));
    std::fflush(stdout);
  };
  row(512, quick ? 20 : 200, reps);
  if (quick) return 0;
  std::printf("\nGrowth (10 steps each, 3 repetitions):\n\n");
  std::printf("| width | steps | plain loop (s) | lr_find (s) | ratio | snapshot (ms) | restore (ms) | extra peak memory (MiB) | snapshot: params, grads, Adam state (MiB) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (int64_t width : {64, 256, 1024, 2048}) row(width, 10, 3);
  row(2048, 10, 3, /*tied=*/true);
  return 0;
}
