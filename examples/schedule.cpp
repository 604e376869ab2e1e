// Prints a schedule: a 5-epoch linear warmup, then cosine annealing to epoch 30, for two param
// groups (a backbone at a tenth of the head's lr). The everyday SequentialLR idiom.

#include <cstdio>
#include <memory>

#include <torch/optim/sgd.h>
#include <torch/types.h>

#include <torchlr/torchlr.h>

int main() {
  auto backbone = torch::zeros({4}).requires_grad_();
  auto head = torch::zeros({2}).requires_grad_();
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{backbone},
                      std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(0.01).momentum(0.9)));
  groups.emplace_back(std::vector<torch::Tensor>{head},
                      std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(0.1).momentum(0.9)));
  torch::optim::SGD optimizer(std::move(groups), torch::optim::SGDOptions(0.1));

  auto warmup = std::make_shared<torchlr::LinearLR>(
      optimizer, torchlr::LinearLROptions().start_factor(0.1).total_iters(5));
  auto cosine = std::make_shared<torchlr::CosineAnnealingLR>(
      optimizer, torchlr::CosineAnnealingLROptions(/*T_max=*/25).eta_min(1e-4));
  torchlr::SequentialLR scheduler(optimizer,
                                  torchlr::SequentialLROptions({warmup, cosine}, /*milestones=*/{5}));

  std::printf("epoch  backbone_lr   head_lr\n");
  for (int epoch = 0; epoch <= 30; ++epoch) {
    const auto& lr = scheduler.get_last_lr();
    std::printf("%5d  %.8f  %.8f\n", epoch, lr[0], lr[1]);
    // ... one epoch of training: optimizer.zero_grad(); loss.backward(); optimizer.step(); ...
    optimizer.step();
    scheduler.step();
  }
  return 0;
}
