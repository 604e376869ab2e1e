// Validation of the suggestion rules on problems they were not tuned on (issue 18): for each
// seeded problem, the ground truth is the final training loss after a fixed number of steps at a
// constant lr, for every lr of a fine grid; each rule's suggestion is trained the same way and
// scored by regret (its final loss ÷ the best grid lr's) and gap (the share of the achievable loss
// reduction it loses). Rules: torchlr's steepest, fastai's valley and minimum/10, Lightning's, and
// the refined suggestion (trials) at budgets of 1× and 2× the range test.
//
//   refine_validation [--out DIR] [--shard I/N] [--problems N] [--data DIR]   runs, writes DIR/results.I.jsonl
//   refine_validation --report FILE                                       the tables from a results file
//
// Problems (none from the reference document's benchmark): small convolutional nets on
// synthetic shapes, deep ReLU MLPs on rings, MLP regression with outliers (MSE and Huber), a
// LayerNorm MLP and Adagrad logistic regression (which barely diverge), RMSprop on a deep tanh
// regressor, and Fashion-MNIST slices (an MLP with Adam, a CNN with SGD) when the data is there;
// six seeds each, the seed also setting sizes. Not run by CI (about 4 minutes on 2 cores, one shard per core).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <torchlr/lr_finder.h>

#include "support/fashion_mnist.h"

namespace {

constexpr int64_t kTrainSteps = 200;  // the ground truth's horizon
constexpr int kGridPerDecade = 6;
constexpr double kGridLow = 1e-5, kGridHigh = 10.0;
constexpr int64_t kRangeTestSteps = 100;

using Loss = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;
using MakeOptimizer = std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<torch::Tensor>, double)>;

struct Problem {
  std::string name;
  int seed;
  torch::Tensor x, y;  // the training set
  int64_t batch;
  std::function<torch::nn::Sequential()> make_model;
  MakeOptimizer make_optimizer;
  Loss loss;
};

// ---- data -----------------------------------------------------------------------------------

// 12×12 images of one of 4 shapes (horizontal bar, vertical bar, diagonal, ring), shifted and noisy.
std::pair<torch::Tensor, torch::Tensor> shapes(int64_t n, double noise) {
  auto images = torch::zeros({n, 1, 12, 12});
  auto labels = torch::randint(0, 4, {n}, torch::kLong);
  auto shift = torch::randint(-2, 3, {n, 2}, torch::kLong);
  auto a = images.accessor<float, 4>();
  auto l = labels.accessor<int64_t, 1>();
  auto s = shift.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    for (int r = 0; r < 12; ++r) {
      for (int c = 0; c < 12; ++c) {
        const double dr = r - 5.5 - static_cast<double>(s[i][0]), dc = c - 5.5 - static_cast<double>(s[i][1]);
        bool on = false;
        switch (l[i]) {
          case 0: on = std::abs(dr) < 1.0 && std::abs(dc) < 4; break;
          case 1: on = std::abs(dc) < 1.0 && std::abs(dr) < 4; break;
          case 2: on = std::abs(dr - dc) < 1.0 && std::abs(dr) < 4; break;
          default: on = std::abs(std::hypot(dr, dc) - 3.0) < 0.8; break;
        }
        a[i][0][r][c] = on ? 1.0f : 0.0f;
      }
    }
  }
  return {images + noise * torch::randn_like(images), labels};
}

// Points in the plane, the class given by which of 3 rings around the origin they fall in.
std::pair<torch::Tensor, torch::Tensor> rings(int64_t n) {
  auto x = torch::randn({n, 2}) * 1.5;
  auto radius = x.norm(2, 1);
  auto y = (radius > 1.0).to(torch::kLong) + (radius > 2.0).to(torch::kLong);
  return {x, y};
}

// y = sin(x·w) + x·v with a share of targets thrown far off.
std::pair<torch::Tensor, torch::Tensor> outliers(int64_t n, int64_t dim, double share) {
  auto x = torch::randn({n, dim});
  auto w = torch::randn({dim, 1}) / std::sqrt(static_cast<double>(dim));
  auto v = torch::randn({dim, 1}) * 0.3;
  auto y = torch::sin(x.matmul(w) * 2) + x.matmul(v);
  auto far = (torch::rand({n, 1}) < share).to(torch::kFloat);
  return {x, y + far * 10 * torch::randn({n, 1})};
}

torch::Tensor cross_entropy(const torch::Tensor& out, const torch::Tensor& target) {
  return torch::nn::functional::cross_entropy(out, target);
}

// ---- the problems -----------------------------------------------------------------------------

template <typename Options, typename Optimizer>
MakeOptimizer optimizer_of(std::function<Options(double)> options) {
  return [options](std::vector<torch::Tensor> params, double lr) -> std::unique_ptr<torch::optim::Optimizer> {
    return std::make_unique<Optimizer>(std::move(params), options(lr));
  };
}

MakeOptimizer adam() { return optimizer_of<torch::optim::AdamOptions, torch::optim::Adam>([](double lr) { return torch::optim::AdamOptions(lr); }); }
MakeOptimizer sgd(double momentum) {
  return optimizer_of<torch::optim::SGDOptions, torch::optim::SGD>(
      [momentum](double lr) { return torch::optim::SGDOptions(lr).momentum(momentum); });
}
MakeOptimizer rmsprop() {
  return optimizer_of<torch::optim::RMSpropOptions, torch::optim::RMSprop>([](double lr) { return torch::optim::RMSpropOptions(lr); });
}
MakeOptimizer adagrad() {
  return optimizer_of<torch::optim::AdagradOptions, torch::optim::Adagrad>([](double lr) { return torch::optim::AdagradOptions(lr); });
}

torch::nn::Sequential small_cnn(int64_t width) {
  namespace nn = torch::nn;
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, width, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                        nn::Conv2d(nn::Conv2dOptions(width, 2 * width, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                        nn::Flatten(), nn::Linear(2 * width * 9, 4));
}

torch::nn::Sequential deep_mlp(int64_t in, int64_t width, int64_t depth, int64_t out, bool tanh_units) {
  namespace nn = torch::nn;
  nn::Sequential model;
  int64_t from = in;
  for (int64_t d = 0; d < depth; ++d) {
    model->push_back(nn::Linear(from, width));
    if (tanh_units) {
      model->push_back(nn::Tanh());
    } else {
      model->push_back(nn::ReLU());
    }
    from = width;
  }
  model->push_back(nn::Linear(from, out));
  return model;
}

std::vector<Problem> problems(const std::optional<std::filesystem::path>& fashion_dir) {
  namespace nn = torch::nn;
  std::vector<Problem> all;
  std::optional<fashion_mnist::Tensors> fashion;
  if (fashion_dir) fashion = fashion_mnist::read(*fashion_dir, fashion_mnist::Split::kTrain);  // once for every seed
  for (int seed : {101, 202, 303, 404, 505, 606}) {
    const int64_t k = 1 + (seed / 101 - 1) % 3;  // 1, 2, 3, 1, 2, 3: sizes vary with the seed
    torch::manual_seed(seed);
    {
      auto [x, y] = shapes(512 * k, 0.3);
      all.push_back({"cnn_shapes_adam", seed, x, y, 32, [k] { return small_cnn(4 * k); }, adam(), cross_entropy});
      auto [x2, y2] = shapes(512 * k, 0.5);
      all.push_back({"cnn_shapes_sgd_momentum", seed, x2, y2, 32, [k] { return small_cnn(4 * k); }, sgd(0.9), cross_entropy});
    }
    {
      auto [x, y] = rings(1024);
      all.push_back({"deep_relu_mlp_rings_sgd", seed, x, y, 16 * k, [k] { return deep_mlp(2, 16 * k, 5, 3, false); }, sgd(0.0),
                     cross_entropy});
      all.push_back({"deep_relu_mlp_rings_adam", seed, x, y, 16 * k, [k] { return deep_mlp(2, 16 * k, 5, 3, false); }, adam(),
                     cross_entropy});
    }
    {
      auto [x, y] = outliers(768, 4 * k, 0.1);
      all.push_back({"outlier_regression_mse_sgd_momentum", seed, x, y, 32, [k] { return deep_mlp(4 * k, 32, 2, 1, true); },
                     sgd(0.9), [](const torch::Tensor& o, const torch::Tensor& t) { return torch::mse_loss(o, t); }});
      all.push_back({"outlier_regression_huber_adam", seed, x, y, 32, [k] { return deep_mlp(4 * k, 32, 2, 1, true); }, adam(),
                     [](const torch::Tensor& o, const torch::Tensor& t) { return torch::smooth_l1_loss(o, t); }});
    }
    {
      auto [x, y] = rings(1024);
      all.push_back({"layernorm_mlp_rings_sgd", seed, x, y, 32,
                     [k] {
                       return nn::Sequential(nn::Linear(2, 32 * k), nn::LayerNorm(nn::LayerNormOptions({32 * k})), nn::ReLU(),
                                             nn::Linear(32 * k, 32), nn::LayerNorm(nn::LayerNormOptions({32})), nn::ReLU(),
                                             nn::Linear(32, 3));
                     },
                     sgd(0.0), cross_entropy});
      auto lx = torch::randn({1024, 10});
      auto ly = (lx.matmul(torch::randn({10, 1})).squeeze(1) + 0.5 * torch::randn({1024}) > 0).to(torch::kLong);
      all.push_back({"logistic_regression_adagrad", seed, lx, ly, 64, [] { return nn::Sequential(nn::Linear(10, 2)); }, adagrad(),
                     cross_entropy});
      auto rx = torch::rand({1024, 3}) * 4 - 2;
      auto ry = torch::sin(rx.sum(1, true) * 1.5) * torch::cos(rx.select(1, 0).unsqueeze(1));
      all.push_back({"deep_tanh_regression_rmsprop", seed, rx, ry, 32, [k] { return deep_mlp(3, 24, 3 + k, 1, true); }, rmsprop(),
                     [](const torch::Tensor& o, const torch::Tensor& t) { return torch::mse_loss(o, t); }});
    }
    if (fashion) {
      const auto& data = *fashion;
      const int64_t n = 2048;
      auto rows = torch::randperm(data.images.size(0), torch::kLong).slice(0, 0, n);
      auto images = fashion_mnist::normalize(data.images.index_select(0, rows));
      auto labels = data.labels.index_select(0, rows);
      all.push_back({"fashion_mlp_adam", seed, images.flatten(1), labels, 64,
                     [k] { return deep_mlp(784, 32 * k, 1, 10, false); }, adam(), cross_entropy});
      all.push_back({"fashion_cnn_sgd_momentum", seed, images, labels, 64,
                     [k] {
                       return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 4 * k, 5).stride(2)), nn::ReLU(),
                                             nn::Conv2d(nn::Conv2dOptions(4 * k, 8 * k, 3).stride(2)), nn::ReLU(),
                                             nn::Flatten(), nn::Linear(8 * k * 25, 10));
                     },
                     sgd(0.9), cross_entropy});
    }
  }
  return all;
}

// ---- training ---------------------------------------------------------------------------------

// The batches every run of a problem trains on, in order (a seeded shuffle per epoch).
std::vector<torch::Tensor> batch_order(const Problem& p, int64_t steps) {
  torch::manual_seed(p.seed + 7);
  std::vector<torch::Tensor> order;
  const int64_t n = p.x.size(0);
  torch::Tensor perm;
  int64_t at = n;
  while (static_cast<int64_t>(order.size()) < steps) {
    if (at + p.batch > n) {
      perm = torch::randperm(n, torch::kLong);
      at = 0;
    }
    order.push_back(perm.slice(0, at, at + p.batch));
    at += p.batch;
  }
  return order;
}

torch::nn::Sequential initial_model(const Problem& p) {
  torch::manual_seed(p.seed + 3);
  return p.make_model();
}

double full_loss(torch::nn::Sequential& model, const Problem& p) {
  torch::NoGradGuard no_grad;
  return p.loss(model->forward(p.x), p.y).item<double>();
}

// The final loss after kTrainSteps at a constant lr (the initial loss when training blew up or
// made it worse: such an lr achieves nothing).
double train_at(const Problem& p, const std::vector<torch::Tensor>& order, double lr, double initial) {
  auto model = initial_model(p);
  auto optimizer = p.make_optimizer(model->parameters(), lr);
  for (const auto& rows : order) {
    optimizer->zero_grad();
    auto loss = p.loss(model->forward(p.x.index_select(0, rows)), p.y.index_select(0, rows));
    if (!std::isfinite(loss.item<double>())) return initial;
    loss.backward();
    optimizer->step();
  }
  const double final_loss = full_loss(model, p);
  return std::isfinite(final_loss) ? std::min(final_loss, initial) : initial;
}

// A problem's training set as (data, target) examples, for a LibTorch data loader.
struct Pairs : torch::data::datasets::Dataset<Pairs> {
  torch::Tensor x, y;
  Pairs(torch::Tensor x, torch::Tensor y) : x(std::move(x)), y(std::move(y)) {}
  torch::data::Example<> get(size_t i) override { return {x[static_cast<int64_t>(i)], y[static_cast<int64_t>(i)]}; }
  torch::optional<size_t> size() const override { return static_cast<size_t>(x.size(0)); }
};

struct FinderRun {
  torchlr::LRFinderResult result;
  double seconds;
};

FinderRun find(const Problem& p, int64_t trial_budget) {
  auto model = initial_model(p);
  auto optimizer = p.make_optimizer(model->parameters(), 1e-3);
  torch::manual_seed(p.seed + 11);
  auto loader = torch::data::make_data_loader<torch::data::samplers::RandomSampler>(
      Pairs(p.x, p.y).map(torch::data::transforms::Stack<>()), static_cast<size_t>(p.batch));
  const auto options = torchlr::LRFinderOptions()
                           .min_lr(1e-6)
                           .max_lr(10.0)
                           .num_iter(kRangeTestSteps)
                           .trial_budget(trial_budget)
                           .progress_bar(false);
  const auto start = std::chrono::steady_clock::now();
  auto result = torchlr::lr_find(*model, *optimizer, *loader, p.loss, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {std::move(result), seconds};
}

std::vector<double> grid() {
  std::vector<double> lrs;
  const int decades = static_cast<int>(std::round(std::log10(kGridHigh / kGridLow)));
  for (int i = 0; i <= decades * kGridPerDecade; ++i) lrs.push_back(kGridLow * std::pow(10.0, static_cast<double>(i) / kGridPerDecade));
  return lrs;
}

nlohmann::json run_problem(const Problem& p) {
  const auto order = batch_order(p, kTrainSteps);
  auto model = initial_model(p);
  const double initial = full_loss(model, p);
  nlohmann::json row{{"problem", p.name}, {"seed", p.seed}, {"initial", initial}};
  double best = initial, best_lr = 0;
  nlohmann::json grid_losses = nlohmann::json::array();
  for (double lr : grid()) {
    const double final_loss = train_at(p, order, lr, initial);
    grid_losses.push_back({lr, final_loss});
    if (final_loss < best) best = final_loss, best_lr = lr;
  }
  row["grid"] = grid_losses;
  row["best"] = best;
  row["best_lr"] = best_lr;

  const FinderRun plain = find(p, 0);
  const FinderRun once = find(p, kRangeTestSteps);
  const FinderRun twice = find(p, 2 * kRangeTestSteps);
  row["stop_reason"] = torchlr::to_string(plain.result.stop_reason());
  row["seconds"] = {{"range_test", plain.seconds}, {"refined_1x", once.seconds}, {"refined_2x", twice.seconds}};
  const std::vector<std::pair<std::string, std::optional<double>>> suggestions{
      {"steepest", plain.result.suggestion(torchlr::Suggestion::steepest)},
      {"valley", plain.result.suggestion(torchlr::Suggestion::valley)},
      {"minimum", plain.result.suggestion(torchlr::Suggestion::minimum)},
      {"lightning", plain.result.suggestion(torchlr::Suggestion::lightning)},
      {"refined_1x", once.result.suggestion(torchlr::Suggestion::automatic)},
      {"refined_2x", twice.result.suggestion(torchlr::Suggestion::automatic)}};
  std::map<double, double> trained;  // lr -> final loss, each lr trained once
  for (const auto& [rule, lr] : suggestions) {
    // No suggestion: the rule leaves the user with nothing better than not training.
    double final_loss = initial;
    if (lr) {
      if (!trained.count(*lr)) trained[*lr] = train_at(p, order, *lr, initial);
      final_loss = trained[*lr];
    }
    row["rules"][rule] = {{"lr", lr ? nlohmann::json(*lr) : nlohmann::json()}, {"final", final_loss}};
  }
  row["refined_1x_steps"] = once.result.refinement()->steps;
  row["refined_2x_steps"] = twice.result.refinement()->steps;
  row["verdict_2x"] = twice.result.refinement()->verdict;
  return row;
}

// ---- the report ---------------------------------------------------------------------------------

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(at));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (at - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

void report(const std::vector<nlohmann::json>& rows) {
  if (rows.empty()) {
    std::printf("no problems\n");
    return;
  }
  const std::vector<std::pair<std::string, std::string>> rules{
      {"steepest", "torchlr steepest"},        {"valley", "fastai valley"}, {"minimum", "fastai minimum/10"},
      {"lightning", "Lightning"},              {"refined_1x", "refined, budget 1x (100 steps)"},
      {"refined_2x", "refined, budget 2x (200 steps)"}};
  std::printf("%zu problems\n\n", rows.size());
  std::printf("| rule | median regret | p90 regret | share regret > 2 | share gap > 0.1 | share gap > 0.5 |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const auto& [key, label] : rules) {
    std::vector<double> regret, gap;
    for (const auto& row : rows) {
      const double best = row["best"], initial = row["initial"], final_loss = row["rules"][key]["final"];
      regret.push_back(final_loss / best);
      gap.push_back(initial > best ? (final_loss - best) / (initial - best) : 0.0);
    }
    auto share = [](const std::vector<double>& v, double above) {
      return static_cast<double>(std::count_if(v.begin(), v.end(), [&](double x) { return x > above; })) /
             static_cast<double>(v.size());
    };
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", label.c_str(), quantile(regret, 0.5), quantile(regret, 0.9),
                share(regret, 2), share(gap, 0.1), share(gap, 0.5));
  }
  double range = 0, once = 0, twice = 0, steps_once = 0, steps_twice = 0;
  int diverged = 0;
  for (const auto& row : rows) {
    range += row["seconds"]["range_test"].get<double>();
    once += row["seconds"]["refined_1x"].get<double>();
    twice += row["seconds"]["refined_2x"].get<double>();
    steps_once += row["refined_1x_steps"].get<double>();
    steps_twice += row["refined_2x_steps"].get<double>();
    diverged += row["stop_reason"] != "completed";
  }
  const double n = static_cast<double>(rows.size());
  std::printf("\nwall time of lr_find, summed over the problems: range test alone %.1f s; with trials at 1x %.1f s "
              "(x%.2f), at 2x %.1f s (x%.2f)\n", range, once, once / range, twice, twice / range);
  std::printf("trial steps per problem: %.0f at 1x, %.0f at 2x (mean); range tests that diverged: %d of %zu\n",
              steps_once / n, steps_twice / n, diverged, rows.size());
  // Per family: the median regret, and how many of its seeds lost more than half the gap.
  const std::vector<std::string> keys{"steepest", "valley", "minimum", "refined_1x", "refined_2x"};
  std::map<std::string, std::vector<const nlohmann::json*>> families;
  for (const auto& row : rows) families[row["problem"].get<std::string>()].push_back(&row);
  std::printf("\n| problem family | steepest | valley | minimum/10 | refined 1x | refined 2x |\n|---|---|---|---|---|---|\n");
  for (const auto& [family, members] : families) {
    std::printf("| %s |", family.c_str());
    for (const auto& key : keys) {
      std::vector<double> regret;
      int lost_half = 0;
      for (const auto* row : members) {
        const double best = (*row)["best"], initial = (*row)["initial"], final_loss = (*row)["rules"][key]["final"];
        regret.push_back(final_loss / best);
        lost_half += initial > best && (final_loss - best) / (initial - best) > 0.5;
      }
      std::printf(" %.2f (%d) |", quantile(regret, 0.5), lost_half);
    }
    std::printf("\n");
  }
  std::printf("(median regret over the seeds; in brackets, how many seeds lost more than half the gap)\n");

  std::vector<const nlohmann::json*> sorted;
  for (const auto& row : rows) sorted.push_back(&row);
  std::stable_sort(sorted.begin(), sorted.end(), [](const nlohmann::json* a, const nlohmann::json* b) {
    return std::make_pair((*a)["problem"].get<std::string>(), (*a)["seed"].get<int>()) <
           std::make_pair((*b)["problem"].get<std::string>(), (*b)["seed"].get<int>());
  });
  std::printf("\nper problem (regret): problem seed | steepest valley lightning refined_1x refined_2x | best lr\n");
  for (const auto* row_pointer : sorted) {
    const auto& row = *row_pointer;
    const double best = row["best"];
    std::printf("  %-38s %d |", row["problem"].get<std::string>().c_str(), row["seed"].get<int>());
    for (const char* key : {"steepest", "valley", "lightning", "refined_1x", "refined_2x"}) {
      std::printf(" %6.2f", row["rules"][key]["final"].get<double>() / best);
    }
    std::printf(" | %.3g\n", row["best_lr"].get<double>());
  }
}

std::vector<nlohmann::json> read_rows(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) try {
  const auto options = fashion_mnist::parse_options(argc, argv, {"--out", "--shard", "--problems", "--report", "--data"});
  if (options.count("--report")) {
    report(read_rows(options.at("--report")));
    return 0;
  }
  torch::set_num_threads(1);  // one problem per core: run shards side by side
  const std::filesystem::path out = options.count("--out") ? options.at("--out") : "refine_validation";
  std::filesystem::create_directories(out);
  int shard = 0, shards = 1;
  if (options.count("--shard")) {
    const std::string text = options.at("--shard");
    const auto slash = text.find('/');
    if (slash == std::string::npos) throw std::runtime_error("--shard takes I/N, e.g. 0/2, but got " + text);
    shard = static_cast<int>(fashion_mnist::integer_option("--shard", text.substr(0, slash), 0));
    shards = static_cast<int>(fashion_mnist::integer_option("--shard", text.substr(slash + 1), shard + 1));
  }
  std::optional<std::filesystem::path> fashion_dir;
  const std::filesystem::path data = options.count("--data") ? std::filesystem::path(options.at("--data")) : fashion_mnist::default_dir();
  if (std::filesystem::exists(data)) {
    fashion_dir = data;
  } else {
    std::fprintf(stderr, "no Fashion-MNIST at %s: its problems are left out\n", data.string().c_str());
  }
  auto all = problems(fashion_dir);
  if (options.count("--problems")) {
    const auto count = fashion_mnist::integer_option("--problems", options.at("--problems"), 1);
    if (static_cast<std::size_t>(count) < all.size()) all.resize(static_cast<std::size_t>(count));
  }
  const auto file = out / ("results." + std::to_string(shard) + ".jsonl");
  std::ofstream results(file);
  std::vector<nlohmann::json> rows;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (static_cast<int>(i % static_cast<std::size_t>(shards)) != shard) continue;
    const auto start = std::chrono::steady_clock::now();
    rows.push_back(run_problem(all[i]));
    results << rows.back().dump() << '\n' << std::flush;
    std::fprintf(stderr, "%s seed %d: %.1f s\n", all[i].name.c_str(), all[i].seed,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  report(rows);
  std::printf("\nresults: %s\n", file.string().c_str());
  return 0;
} catch (const c10::Error& e) {
  std::fprintf(stderr, "refine_validation: %s\n", e.what_without_backtrace());
  return 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "refine_validation: %s\n", e.what());
  return 1;
}
