// The demo, data-parallel: N processes on one machine, each training on its shard of the data with
// gradients averaged over the ranks (a global batch of 64, or the nearest below that N divides), over a Gloo process
// group. The range test runs on every rank and gives every rank the same suggestion; OneCycleLR
// follows at that lr; then a few epochs with ReduceLROnPlateau on the held-out loss, averaged
// over the ranks inside the plateau.
//
//   ./ddp_train --ranks N [--epochs E]     starts N copies of itself (MASTER_ADDR=127.0.0.1, a free port)
//   RANK=r WORLD_SIZE=n MASTER_ADDR=host MASTER_PORT=p ./ddp_train [--epochs E]   one rank, as torchrun starts it

#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <torch/data.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>

#include <torchlr/c10d.h>
#include <torchlr/torchlr.h>

extern char** environ;

namespace {

constexpr double kPi = 3.14159265358979323846;

std::pair<torch::Tensor, torch::Tensor> spirals(int64_t per_class, double noise, uint64_t seed) {
  torch::manual_seed(seed);
  const auto t = torch::sqrt(torch::rand({per_class})) * 1.75 * 2 * kPi;
  std::vector<torch::Tensor> xs, ys;
  for (int64_t c = 0; c < 2; ++c) {
    const double sign = c == 0 ? 1.0 : -1.0;
    const auto radius = t / (1.75 * 2 * kPi);
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

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// torchrun's part: N copies of this program with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
int launch(const char* self, int ranks, int64_t epochs) {
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> pids;
  for (int rank = 0; rank < ranks; ++rank) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      bool ours = false;
      for (const char* name : {"RANK=", "WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT=", "OMP_NUM_THREADS=",
                               "TORCHELASTIC_USE_AGENT_STORE="}) {
        ours = ours || entry.rfind(name, 0) == 0;
      }
      if (!ours) env.push_back(entry);
    }
    for (std::string v : {"RANK=" + std::to_string(rank), "WORLD_SIZE=" + std::to_string(ranks),
                          std::string("MASTER_ADDR=127.0.0.1"), "MASTER_PORT=" + port, std::string("OMP_NUM_THREADS=1")}) {
      env.push_back(v);
    }
    std::vector<std::string> args{self, "--epochs", std::to_string(epochs)};
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, self, nullptr, nullptr, argv.data(), envp.data()) != 0) {
      std::cerr << "error: cannot start rank " << rank << "\n";
      return 1;
    }
    pids.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  return failed == 0 ? 0 : 1;
}

double loss_and_accuracy(MLP& model, const torch::Tensor& x, const torch::Tensor& y, double* accuracy) {
  torch::NoGradGuard no_grad;
  model.eval();
  const auto logits = model.forward(x);
  *accuracy = logits.argmax(1).eq(y).sum().item<double>() / static_cast<double>(y.size(0));
  model.train();
  return torch::nn::functional::cross_entropy(logits, y).item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  int ranks = 0;
  int64_t epochs = 30;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--ranks" && i + 1 < argc) {
      ranks = std::atoi(argv[++i]);
    } else if (a == "--epochs" && i + 1 < argc) {
      epochs = std::atoll(argv[++i]);
    } else {
      std::cerr << "usage: ddp_train --ranks N [--epochs E]   (or one rank, with torchrun's variables set)\n";
      return 2;
    }
  }
  if (std::getenv("RANK") == nullptr) return launch(argv[0], ranks > 0 ? ranks : 2, epochs);

  const auto start = std::chrono::steady_clock::now();
  const torchlr::Distributed dist(torchlr::gloo_process_group_from_env(std::chrono::minutes(2)));
  const bool main_rank = dist.is_main();
  auto [train_x, train_y] = spirals(1000, 0.04, 1);
  auto [test_x, test_y] = spirals(500, 0.04, 2);
  // This rank's half (third, ...) of the held-out points; the plateau averages the ranks' losses.
  const auto held_out = torch::arange(dist.rank(), test_x.size(0), dist.size(), torch::kLong);
  const auto my_test_x = test_x.index_select(0, held_out);
  const auto my_test_y = test_y.index_select(0, held_out);

  // A global batch of 64: each rank reads 64 / N of it (rounded down) from its own shard (LibTorch's
  // DistributedRandomSampler; the loader keeps its own copy of it, in the same order every epoch).
  const int64_t batch = 64 / dist.size();
  const int64_t global_batch = batch * dist.size();
  torch::data::samplers::DistributedRandomSampler sampler(static_cast<size_t>(train_x.size(0)),
                                                          static_cast<size_t>(dist.size()),
                                                          static_cast<size_t>(dist.rank()));
  auto loader = torch::data::make_data_loader(Points(train_x, train_y).map(torch::data::transforms::Stack<>()),
                                              sampler, torch::data::DataLoaderOptions().batch_size(batch));
  const int64_t batches = (train_x.size(0) / dist.size() + batch - 1) / batch;

  torch::manual_seed(0);  // the same initial weights on every rank
  MLP model;
  torch::optim::Adam optimizer(model.parameters(), torch::optim::AdamOptions(1e-3));
  auto cross_entropy = [](const torch::Tensor& logits, const torch::Tensor& target) {
    return torch::nn::functional::cross_entropy(logits, target);
  };

  // 1. The range test and its trials on every rank: the loss of each step is the global batch's.
  const auto finder_start = std::chrono::steady_clock::now();
  const auto found = torchlr::lr_find(model, optimizer, *loader, cross_entropy,
                                      torchlr::LRFinderOptions().min_lr(1e-5).max_lr(10).num_iter(100).distributed(dist));
  const int64_t trial_steps = found.refinement() ? found.refinement()->steps : 0;
  const double finder_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - finder_start).count() /
      static_cast<double>(static_cast<int64_t>(found.lrs().size()) + trial_steps);
  const auto suggestion = found.suggestion();
  if (!suggestion) {
    std::cerr << "rank " << dist.rank() << ": no lr suggested\n";
    return 1;
  }
  if (main_rank) {
    std::printf("%d ranks, global batch %lld (%lld per rank)\n", dist.size(), static_cast<long long>(global_batch),
                static_cast<long long>(batch));
    std::printf("1. LR range test: %zu steps (%s) and %lld trial steps, suggested lr %.4g, %.2f ms per step\n",
                found.lrs().size(), torchlr::to_string(found.stop_reason()), static_cast<long long>(trial_steps),
                *suggestion, finder_ms);
    found.plot_svg("ddp_lr_find.svg");
  }

  // 2. OneCycleLR at the suggestion, stepped every batch.
  torchlr::OneCycleLR one_cycle(optimizer, torchlr::OneCycleLROptions(*suggestion).epochs(epochs).steps_per_epoch(batches));
  double accuracy = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    for (auto& b : *loader) {
      optimizer.zero_grad();
      cross_entropy(model.forward(b.data), b.target).backward();
      dist.average_gradients(optimizer);  // LibTorch has no DDP module: this is its all-reduce
      optimizer.step();
      one_cycle.step();
    }
    const double val = dist.mean(loss_and_accuracy(model, my_test_x, my_test_y, &accuracy));
    if (main_rank && (epoch % 10 == 0 || epoch == epochs)) {
      std::printf("   epoch %3lld  held-out loss %.4f  accuracy (rank 0's half) %5.1f%%  lr %.5f\n",
                  static_cast<long long>(epoch), val, 100 * accuracy, one_cycle.get_last_lr()[0]);
    }
  }

  // 3. A few more epochs at a small lr, reduced when the held-out loss (every rank's half,
  //    averaged inside the plateau) stops improving.
  for (auto& group : optimizer.param_groups()) group.options().set_lr(*suggestion / 100);
  torchlr::ReduceLROnPlateau plateau(optimizer, torchlr::ReduceLROnPlateauOptions().patience(1).factor(0.5).distributed(dist));
  for (int64_t epoch = 1; epoch <= 5; ++epoch) {
    for (auto& b : *loader) {
      optimizer.zero_grad();
      cross_entropy(model.forward(b.data), b.target).backward();
      dist.average_gradients(optimizer);
      optimizer.step();
    }
    plateau.step(loss_and_accuracy(model, my_test_x, my_test_y, &accuracy));
  }
  dist.check_same(plateau);  // every rank holds the same plateau state and lrs

  double full_accuracy = 0;
  loss_and_accuracy(model, test_x, test_y, &full_accuracy);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (main_rank) {
    std::printf("3. Final held-out accuracy: %.1f%% (%.1f s on rank 0), lr %.3g after the plateau\n",
                100 * full_accuracy, seconds, plateau.get_last_lr()[0]);
  }
  return full_accuracy >= 0.95 ? 0 : 1;
}
