// Checkpoints: train, save model + optimizer + scheduler with torch::save, load them in a fresh
// process, continue, and show that the lr sequence (and the loss) carries on unbroken.
//
//   ./checkpoint [DIR]            trains, saves into DIR, continues, and starts
//   ./checkpoint --resume DIR     (itself, as a new process) which loads and continues

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <torchlr/torchlr.h>

namespace {

constexpr int kEpochsBefore = 8, kEpochsAfter = 8;

// Everything a training program builds at start-up, the same way in both processes.
struct Training {
  Training() : data(make_data()), model(torch::nn::Linear(4, 1)), optimizer(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9)) {
    auto warmup = std::make_shared<torchlr::LinearLR>(optimizer, torchlr::LinearLROptions().start_factor(0.2).total_iters(4));
    auto cosine = std::make_shared<torchlr::CosineAnnealingLR>(optimizer, torchlr::CosineAnnealingLROptions(12));
    scheduler = std::make_shared<torchlr::SequentialLR>(optimizer, torchlr::SequentialLROptions({warmup, cosine}, {4}));
  }
  static std::pair<torch::Tensor, torch::Tensor> make_data() {
    torch::manual_seed(0);
    auto x = torch::randn({64, 4});
    return {x, x.matmul(torch::tensor({1.0, -2.0, 0.5, 3.0}).unsqueeze(1))};
  }
  // One epoch; returns a line "lr loss" with every digit, so the two processes can be compared.
  std::string epoch() {
    optimizer.zero_grad();
    auto loss = torch::mse_loss(model->forward(data.first), data.second);
    loss.backward();
    optimizer.step();
    scheduler->step();
    char line[96];
    std::snprintf(line, sizeof(line), "%.17g %.9g", scheduler->get_last_lr()[0], loss.item<double>());
    return line;
  }
  std::pair<torch::Tensor, torch::Tensor> data;
  torch::nn::Linear model;
  torch::optim::SGD optimizer;
  std::shared_ptr<torchlr::SequentialLR> scheduler;
};

int resume(const std::filesystem::path& dir) {
  Training t;  // constructed afresh, exactly as at first start-up
  torch::load(t.model, (dir / "model.pt").string());
  torch::load(t.optimizer, (dir / "optimizer.pt").string());
  torch::load(*t.scheduler, (dir / "scheduler.pt").string());
  for (int e = 0; e < kEpochsAfter; ++e) std::cout << t.epoch() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--resume") return resume(argv[2]);
  const std::filesystem::path dir = argc > 1 ? argv[1] : "checkpoint";
  std::filesystem::create_directories(dir);

  Training t;
  std::cout << "epoch  lr                     loss\n";
  for (int e = 1; e <= kEpochsBefore; ++e) std::cout << e << "      " << t.epoch() << "\n";
  torch::save(t.model, (dir / "model.pt").string());
  torch::save(t.optimizer, (dir / "optimizer.pt").string());
  torch::save(*t.scheduler, (dir / "scheduler.pt").string());
  std::cout << "-- saved to " << dir.string() << "; continuing here and in a fresh process --\n";

  std::vector<std::string> uninterrupted;
  for (int e = 0; e < kEpochsAfter; ++e) uninterrupted.push_back(t.epoch());
  const std::string command = std::string(argv[0]) + " --resume '" + dir.string() + "'";
  FILE* child = popen(command.c_str(), "r");
  std::vector<std::string> resumed;
  char line[128];
  while (child && std::fgets(line, sizeof(line), child)) resumed.emplace_back(line, std::strlen(line) - 1);
  const int status = child ? pclose(child) : -1;

  bool same = status == 0 && resumed == uninterrupted;
  std::cout << "epoch  uninterrupted                     resumed in a new process\n";
  for (int e = 0; e < kEpochsAfter; ++e) {
    std::cout << kEpochsBefore + e + 1 << "      " << uninterrupted[static_cast<std::size_t>(e)] << "   "
              << (static_cast<std::size_t>(e) < resumed.size() ? resumed[static_cast<std::size_t>(e)] : "(missing)") << "\n";
  }
  std::cout << "lr sequence unbroken: " << (same ? "yes" : "NO") << "\n";
  return same ? 0 : 1;
}
