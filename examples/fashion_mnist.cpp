// The main demo, on real data: Fashion-MNIST (Debian's dataset-fashion-mnist package; nothing is
// downloaded). The LR range test and its trials on a small convolutional network pick the lr, then OneCycleLR
// at that lr trains it, stepped every batch, with a progress bar, the loss, the test accuracy and
// the lr after every epoch, and the finder's and the schedule's pictures at the end.
//
//   ./fashion_mnist [--out DIR] [--data DIR] [--epochs N] [--limit N] [--min-accuracy A] [--threads N]
//
// --limit trains on the first N training images and tests on the first N test images (the
// ctest run uses a few hundred); the exit status is 1 when the final test accuracy is below
// --min-accuracy (default 0.90). --threads defaults to OMP_NUM_THREADS, else every core.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include <torch/data.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <torchlr/torchlr.h>

#include "platform.h"  // torchlr's isatty wrapper; a program of your own would call isatty itself
#include "support/fashion_mnist.h"

namespace {

void progress(int64_t done, int64_t total, double loss) {
  const int width = 30;
  const int filled = static_cast<int>(width * done / total);
  std::fprintf(stdout, "\r  [%-*s] %lld/%lld  loss %.4f", width, std::string(static_cast<std::size_t>(filled), '#').c_str(),
               static_cast<long long>(done), static_cast<long long>(total), loss);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const fashion_mnist::Recipe recipe;
  std::filesystem::path out = "torchlr-demo", data_dir = fashion_mnist::default_dir();
  int64_t epochs = recipe.epochs;
  std::optional<int64_t> limit;
  double min_accuracy = 0.90;
  std::optional<int64_t> threads;
  const std::string usage =
      "usage: fashion_mnist [--out DIR] [--data DIR] [--epochs N] [--limit N] [--min-accuracy A] [--threads N]\n";
  try {
    const auto options = fashion_mnist::parse_options(
        argc, argv, {"--out", "--data", "--epochs", "--limit", "--min-accuracy", "--threads"});
    for (const auto& [name, value] : options) {
      if (name == "--out") out = value;
      if (name == "--data") data_dir = value;
      if (name == "--epochs") epochs = fashion_mnist::integer_option(name, value, 1);
      if (name == "--limit") limit = fashion_mnist::integer_option(name, value, 1);
      if (name == "--min-accuracy") min_accuracy = fashion_mnist::number_option(name, value, 0, 1);
      if (name == "--threads") threads = fashion_mnist::integer_option(name, value, 1);
    }
  } catch (const c10::ValueError& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n" << usage;
    return 2;
  }
  torch::set_num_threads(fashion_mnist::threads_to_use(threads));
  std::filesystem::create_directories(out);
  const auto start = std::chrono::steady_clock::now();
  const bool terminal = torchlr::platform::stdout_is_terminal();

  fashion_mnist::Tensors train, test;
  try {
    train = fashion_mnist::read(data_dir, fashion_mnist::Split::kTrain, limit);
    test = fashion_mnist::read(data_dir, fashion_mnist::Split::kTest, limit);
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  }
  const auto test_images = fashion_mnist::normalize(test.images);
  const int64_t train_size = train.labels.size(0);
  std::cout << "Fashion-MNIST from " << data_dir.string() << ": " << train_size << " training and "
            << test.labels.size(0) << " test images\n";
  auto loader = torch::data::make_data_loader(
      fashion_mnist::Dataset(std::move(train)), fashion_mnist::SeededShuffle(static_cast<size_t>(train_size), 1),
      torch::data::DataLoaderOptions().batch_size(recipe.batch_size));
  const int64_t batches = (train_size + recipe.batch_size - 1) / recipe.batch_size;

  torch::manual_seed(0);
  fashion_mnist::ConvNet model;
  // Adam: OneCycleLR cycles its beta1 between 0.95 and 0.85 while the lr rises and falls.
  torch::optim::Adam optimizer(model.parameters(), torch::optim::AdamOptions(recipe.adam_lr));
  auto cross_entropy = [](const torch::Tensor& logits, const torch::Tensor& target) {
    return torch::nn::functional::cross_entropy(logits, target);
  };

  // 1. The range test, then short trials from where it diverged (the refined suggestion, on by
  // default through a loader). The model and optimizer come back untouched.
  std::cout << "1. LR range test and trials\n";
  const auto finder_start = std::chrono::steady_clock::now();
  const auto found = torchlr::lr_find(model, optimizer, *loader, cross_entropy,
                                      torchlr::LRFinderOptions()
                                          .min_lr(recipe.finder_min_lr)
                                          .max_lr(recipe.finder_max_lr)
                                          .num_iter(recipe.finder_num_iter));
  const auto suggestion = found.suggest();
  if (!suggestion.lr) {
    std::cerr << "error: no lr suggested: " << suggestion.reason << "\n";
    return 1;
  }
  const double max_lr = *suggestion.lr;
  const auto finder_plot = (out / "lr_find.svg").string();
  found.plot_svg(finder_plot);
  const double finder_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - finder_start).count();
  std::printf("   %zu steps (%s), suggested lr %.3g (%.1f s)\n", found.lrs().size(),
              torchlr::to_string(found.stop_reason()), max_lr, finder_seconds);
  if (const auto& trials = found.refinement()) {
    std::printf("   %zu trials, %lld steps: %s\n", trials->trials.size(), static_cast<long long>(trials->steps),
                trials->verdict.c_str());
  }

  // 2. Training with the 1cycle policy at that lr, stepped every batch.
  std::cout << "2. Training " << epochs << " epochs with OneCycleLR(max_lr=" << torchlr::svg::format_number(max_lr)
            << ")\n";
  torchlr::OneCycleLR scheduler(optimizer, torchlr::OneCycleLROptions(max_lr).epochs(epochs).steps_per_epoch(batches));
  torchlr::ScheduleRecord schedule;
  schedule.record(optimizer, 0);
  int64_t step = 0;
  double final_accuracy = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    double loss_sum = 0;
    int64_t seen = 0;
    for (auto& batch : *loader) {
      optimizer.zero_grad();
      auto loss = cross_entropy(model.forward(batch.data), batch.target);
      loss.backward();
      optimizer.step();
      scheduler.step();
      schedule.record(optimizer, ++step);
      loss_sum += loss.item<double>();
      ++seen;
      if (terminal) progress(seen, batches, loss_sum / static_cast<double>(seen));
    }
    if (terminal) std::cout << "\r\033[K";
    final_accuracy = fashion_mnist::accuracy(model, test_images, test.labels);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("   epoch %2lld  loss %.4f  test accuracy %5.2f%%  lr %.2e  (%.0f s)\n", static_cast<long long>(epoch),
                loss_sum / static_cast<double>(seen), 100 * final_accuracy, scheduler.get_last_lr()[0], seconds);
    std::fflush(stdout);
  }
  const auto schedule_plot = (out / "schedule.svg").string();
  torchlr::svg::write(torchlr::schedule_chart(schedule, "OneCycleLR(max_lr=" + torchlr::svg::format_number(max_lr) +
                                                            ") on Fashion-MNIST, stepped every batch"),
                      schedule_plot);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("3. Final test accuracy: %.2f%% in %.0f s (range test and trials included)\n", 100 * final_accuracy, seconds);
  std::cout << "Files written:\n   " << finder_plot << "  (the LR range test)\n   " << schedule_plot
            << "  (the lr and beta1 schedule of the training run)\n";
  if (final_accuracy < min_accuracy) {
    std::printf("error: test accuracy %.2f%% is below %.2f%%\n", 100 * final_accuracy, 100 * min_accuracy);
    return 1;
  }
  return 0;
}
