// The fast demo: find an lr with the range test and its trials, then train with OneCycleLR at that lr.
//
// A small MLP learns to tell two interleaved spirals apart (generated here, seeded; nothing is
// downloaded), fed by a LibTorch data loader, with Adam. The LR finder suggests the peak lr, OneCycleLR is
// stepped every batch, and the run ends with the accuracy on held-out points and the pictures.
//
//   ./train [--out DIR] [--epochs N] [--device cpu|cuda]

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <torch/cuda.h>
#include <torch/data.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>

#include <torchlr/torchlr.h>

// torchlr's internal portability header (isatty on POSIX, _isatty on Windows); a program of your
// own would make that call itself.
#include "platform.h"

namespace {

// Two spirals, 1.75 turns each, with a little noise: not separable by a line.
std::pair<torch::Tensor, torch::Tensor> spirals(int64_t per_class, double noise, uint64_t seed) {
  torch::manual_seed(seed);
  const auto t = torch::sqrt(torch::rand({per_class})) * 1.75 * 2 * torchlr::platform::kPi;
  std::vector<torch::Tensor> xs, ys;
  for (int64_t c = 0; c < 2; ++c) {
    const double sign = c == 0 ? 1.0 : -1.0;
    const auto radius = t / (1.75 * 2 * torchlr::platform::kPi);
    auto points = torch::stack({sign * radius * torch::cos(t), sign * radius * torch::sin(t)}, 1);
    xs.push_back(points + noise * torch::randn_like(points));
    ys.push_back(torch::full({per_class}, c, torch::kLong));
  }
  return {torch::cat(xs), torch::cat(ys)};
}

struct Points : torch::data::datasets::Dataset<Points> {
  Points(torch::Tensor x, torch::Tensor y) : x(std::move(x)), y(std::move(y)) {}
  torch::data::Example<> get(size_t i) override { return {x[static_cast<int64_t>(i)], y[static_cast<int64_t>(i)]}; }
  torch::optional<size_t> size() const override { return static_cast<size_t>(x.size(0)); }
  torch::Tensor x, y;
};

struct MLP : torch::nn::Module {
  MLP() {
    fc1 = register_module("fc1", torch::nn::Linear(2, 128));
    fc2 = register_module("fc2", torch::nn::Linear(128, 128));
    fc3 = register_module("fc3", torch::nn::Linear(128, 2));
  }
  torch::Tensor forward(torch::Tensor x) {
    return fc3->forward(torch::relu(fc2->forward(torch::relu(fc1->forward(x)))));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};

double accuracy(MLP& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  model.eval();
  const double correct = model.forward(x).argmax(1).eq(y).sum().item<double>();
  model.train();
  return correct / static_cast<double>(y.size(0));
}

void progress(int64_t done, int64_t total) {
  const int width = 30;
  const int filled = static_cast<int>(width * done / total);
  std::fprintf(stdout, "\r  [%-*s] %lld/%lld", width, std::string(static_cast<std::size_t>(filled), '#').c_str(),
               static_cast<long long>(done), static_cast<long long>(total));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path out = "torchlr-demo";
  int64_t epochs = 40;
  std::string device_name = "cpu";
  uint64_t model_seed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else if (a == "--epochs" && i + 1 < argc) {
      epochs = std::stoll(argv[++i]);
    } else if (a == "--device" && i + 1 < argc) {
      device_name = argv[++i];
    } else if (a == "--seed" && i + 1 < argc) {
      model_seed = std::stoull(argv[++i]);
    } else {
      std::cerr << "usage: train [--out DIR] [--epochs N] [--device cpu|cuda] [--seed N (the model's initial weights)]\n";
      return 2;
    }
  }
  if (device_name == "cuda" && !torch::cuda::is_available()) {
    std::cerr << "error: --device cuda, but CUDA is not available here\n";
    return 1;
  }
  const torch::Device device(device_name == "cuda" ? torch::kCUDA : torch::kCPU);
  std::filesystem::create_directories(out);
  const auto start = std::chrono::steady_clock::now();
  const bool terminal = torchlr::platform::stdout_is_terminal();

  auto [train_x, train_y] = spirals(1000, 0.04, 1);
  auto [test_x, test_y] = spirals(500, 0.04, 2);
  test_x = test_x.to(device);
  test_y = test_y.to(device);
  const int64_t batch_size = 64;
  auto loader = torch::data::make_data_loader<torch::data::samplers::RandomSampler>(
      Points(train_x, train_y).map(torch::data::transforms::Stack<>()),
      torch::data::DataLoaderOptions().batch_size(batch_size));
  const int64_t batches = (train_x.size(0) + batch_size - 1) / batch_size;

  torch::manual_seed(model_seed);
  MLP model;
  model.to(device);
  // Adam: OneCycleLR cycles its beta1 between 0.95 and 0.85 while the lr rises and falls.
  torch::optim::Adam optimizer(model.parameters(), torch::optim::AdamOptions(1e-3));
  auto cross_entropy = [](const torch::Tensor& logits, const torch::Tensor& target) {
    return torch::nn::functional::cross_entropy(logits, target);
  };

  // 1. The range test, then short trials (the refined suggestion, on by default through a
  // loader). The model and optimizer come back untouched.
  std::cout << "1. LR range test and trials\n";
  const auto found = torchlr::lr_find(model, optimizer, *loader, cross_entropy,
                                      torchlr::LRFinderOptions().min_lr(1e-5).max_lr(10).num_iter(100));
  const auto suggestion = found.suggest();
  if (!suggestion.lr) {
    std::cerr << "error: no lr suggested: " << suggestion.reason << "\n";
    return 1;
  }
  const double max_lr = *suggestion.lr;
  const auto finder_plot = (out / "lr_find.svg").string();
  found.plot_svg(finder_plot);
  std::cout << "   " << found.lrs().size() << " steps (" << torchlr::to_string(found.stop_reason())
            << "), suggested lr " << max_lr << "\n";
  if (const auto& trials = found.refinement()) {
    std::cout << "   " << trials->trials.size() << " trials, " << trials->steps << " steps: " << trials->verdict << "\n";
  }

  // 2. Training with the 1cycle policy at that lr, stepped every batch.
  std::cout << "2. Training " << epochs << " epochs with OneCycleLR(max_lr=" << max_lr << ") on " << device << "\n";
  torchlr::OneCycleLR scheduler(optimizer,
                                torchlr::OneCycleLROptions(max_lr).epochs(epochs).steps_per_epoch(batches));
  torchlr::ScheduleRecord schedule;
  schedule.record(optimizer, 0);
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    double loss_sum = 0;
    int64_t seen = 0;
    for (auto& batch : *loader) {
      optimizer.zero_grad();
      auto loss = cross_entropy(model.forward(batch.data.to(device)), batch.target.to(device));
      loss.backward();
      optimizer.step();
      scheduler.step();
      schedule.record(optimizer, ++step);
      loss_sum += loss.item<double>();
      if (terminal) progress(++seen, batches);
    }
    if (terminal) std::cout << "\r";
    std::printf("   epoch %3lld  loss %.4f  held-out accuracy %5.1f%%  lr %.5f\n", static_cast<long long>(epoch),
                loss_sum / static_cast<double>(batches), 100 * accuracy(model, test_x, test_y),
                scheduler.get_last_lr()[0]);
  }
  const auto schedule_plot = (out / "schedule.svg").string();
  torchlr::svg::write(torchlr::schedule_chart(schedule, "OneCycleLR(max_lr=" + torchlr::svg::format_number(max_lr) +
                                                            "), stepped every batch"),
                      schedule_plot);

  const double final_accuracy = accuracy(model, test_x, test_y);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("3. Final held-out accuracy: %.1f%% (%.1f s)\n", 100 * final_accuracy, seconds);
  std::cout << "Files written:\n   " << finder_plot << "  (the LR range test)\n   " << schedule_plot
            << "  (the lr and momentum schedule of the training run)\n";
  return final_accuracy >= 0.95 ? 0 : 1;
}
