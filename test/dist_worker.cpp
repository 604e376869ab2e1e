// One rank of the multi-process tests (test_distributed_processes.cpp starts several): meets the
// others through a Gloo process group on a FileStore, runs one scenario, and writes what it saw
// to OUT_DIR/rank<R>.txt (doubles in hex, so a comparison is bit for bit).
//
//     torchlr_dist_worker SCENARIO RANK SIZE STORE_FILE OUT_DIR [STEP]
//
// Scenarios: finder (the range test on this rank's shard), throw (rank SIZE-1's loss function
// throws at STEP), nan (rank 1's loss is NaN at STEP), plateau (a different metric on each rank),
// checkpoint (rank 0 saves, every rank loads and compares), env (the group from torchrun's
// variables instead of the file).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>
#include <torch/types.h>

#include <torchlr/decay.h>
#include <torchlr/c10d.h>
#include <torchlr/lr_finder.h>
#include <torchlr/plateau.h>

#include "distributed_problem.h"

namespace {

std::string hex(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%a", v);
  return buffer;
}

std::string hex_list(const std::vector<double>& values) {
  std::string out;
  for (double v : values) out += hex(v) + " ";
  return out;
}

bool same_weights(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return true;
}

std::vector<torch::Tensor> weights(torch::nn::Sequential& model) {
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: torchlr_dist_worker SCENARIO RANK SIZE STORE_FILE OUT_DIR [STEP]\n";
    return 2;
  }
  const std::string scenario = argv[1];
  const int rank = std::atoi(argv[2]);
  const int size = std::atoi(argv[3]);
  const std::string store = argv[4];
  const std::filesystem::path out_dir = argv[5];
  const int64_t at = argc > 6 ? std::atoll(argv[6]) : 0;
  std::ofstream out(out_dir / ("rank" + std::to_string(rank) + ".txt"));
  try {
    const auto timeout = std::chrono::seconds(20);
    const torchlr::Distributed dist(scenario == "env" ? torchlr::gloo_process_group_from_env(timeout)
                                                      : torchlr::gloo_process_group_with_file(store, rank, size, timeout));
    out << "rank " << dist.rank() << " of " << dist.size() << "\n";
    const torchlr::testing::Problem problem(size);
    if (scenario == "finder" || scenario == "env" || scenario == "throw" || scenario == "nan") {
      auto model = problem.replica();
      const auto before = weights(model);
      torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(1e-3).momentum(0.9));
      int64_t i = 0;
      auto loss = [&] {
        const int64_t step = i;
        if (scenario == "throw" && rank == size - 1 && step == at) throw std::runtime_error("rank's loss broke");
        auto [x, y] = problem.batch(rank, i++);
        auto l = torch::mse_loss(model->forward(x), y);
        return scenario == "nan" && rank == 1 && step == at ? l * std::numeric_limits<double>::quiet_NaN() : l;
      };
      const auto options =
          torchlr::LRFinderOptions().min_lr(1e-4).max_lr(100.0).num_iter(60).progress_bar(false).distributed(dist);
      try {
        const auto result = torchlr::lr_find(*model, optimizer, loss, options);
        out << "stop " << torchlr::to_string(result.stop_reason()) << "\n";
        out << "lrs " << hex_list(result.lrs()) << "\n";
        out << "raw " << hex_list(result.raw_losses()) << "\n";
        out << "smoothed " << hex_list(result.losses()) << "\n";
        const auto s = result.suggestion();
        out << "suggestion " << (s ? hex(*s) : "none") << "\n";
      } catch (const std::exception& e) {
        out << "error " << e.what() << "\n";
      }
      out << "restored " << same_weights(before, weights(model)) << "\n";
    } else if (scenario == "plateau") {
      torch::optim::SGD optimizer({torch::zeros({1}, torch::kDouble).requires_grad_()}, torch::optim::SGDOptions(1.0));
      torchlr::ReduceLROnPlateau plateau(optimizer,
                                         torchlr::ReduceLROnPlateauOptions().patience(1).factor(0.5).distributed(dist));
      std::vector<double> lrs;
      for (int epoch = 0; epoch < 12; ++epoch) {
        const double local = (epoch < 4 ? 4.0 - epoch : 1.0) + 0.3 * rank;  // a different metric on each rank
        plateau.step(local);
        lrs.push_back(optimizer.param_groups()[0].options().get_lr());
      }
      dist.check_same(plateau);
      out << "lrs " << hex_list(lrs) << "\n";
    } else if (scenario == "checkpoint") {
      torch::optim::SGD optimizer({torch::zeros({1}, torch::kDouble).requires_grad_()}, torch::optim::SGDOptions(0.1));
      torchlr::StepLR scheduler(optimizer, torchlr::StepLROptions(2).gamma(0.5));
      const auto path = out_dir / "scheduler.pt";
      if (dist.is_main()) {
        for (int i = 0; i < 5; ++i) scheduler.step();
        // Written aside and renamed, so no rank can read half a file.
        torch::save(scheduler, (out_dir / "scheduler.pt.tmp").string());
        std::filesystem::rename(out_dir / "scheduler.pt.tmp", path);
      }
      dist.barrier();
      if (!dist.is_main()) torch::load(scheduler, path.string());
      dist.check_same(scheduler);
      out << "last_epoch " << scheduler.last_epoch() << " lr " << hex(optimizer.param_groups()[0].options().get_lr())
          << "\n";
    } else {
      out << "error unknown scenario " << scenario << "\n";
      return 2;
    }
  } catch (const std::exception& e) {
    out << "fatal " << e.what() << "\n";
    return 1;
  }
  return 0;
}
