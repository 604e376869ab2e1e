// Schedulers owned by a static object: it is constructed before main, so it is destroyed after
// every function-local static that main creates, torchlr's registries included if they were
// ordinary statics. Run by ctest; under the sanitizer build a scheduler reaching a destroyed
// registry at exit is a heap-use-after-free, so the exit status says whether exit was clean.

#include <iostream>
#include <memory>
#include <vector>

#include <torch/optim/sgd.h>

#include <torchlr/torchlr.h>

namespace {

struct Training {
  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::SGD> optimizer;
  std::unique_ptr<torchlr::StepLR> step;
  std::unique_ptr<torchlr::OneCycleLR> one_cycle;
};

// Members are destroyed in reverse order: the schedulers go before their optimizer.
Training training;

}  // namespace

int main() {
  training.params.push_back(torch::zeros({1}).requires_grad_());
  training.optimizer = std::make_unique<torch::optim::SGD>(training.params, torch::optim::SGDOptions(0.1));
  training.step = std::make_unique<torchlr::StepLR>(*training.optimizer, torchlr::StepLROptions(2));
  training.one_cycle = std::make_unique<torchlr::OneCycleLR>(*training.optimizer, torchlr::OneCycleLROptions(1.0).total_steps(5));
  training.one_cycle->step();
  std::cout << "schedulers left to static destruction, lr " << training.optimizer->param_groups()[0].options().get_lr()
            << "\n";
  return 0;
}
