// A downstream program: includes only torchlr's umbrella header and LibTorch's SGD. It builds one
// scheduler directly and one from a config through the factory (no JSON library needed).
#include <iostream>

#include <torch/optim/sgd.h>
#include <torchlr/torchlr.h>

int main() {
  std::vector<torch::Tensor> params{torch::zeros({1}).requires_grad_()};
  torch::optim::SGD optimizer(params, torch::optim::SGDOptions(0.1));
  torchlr::StepLR scheduler(optimizer, torchlr::StepLROptions(1).gamma(0.5));
  scheduler.step();
  std::cout << scheduler.get_last_lr()[0] << "\n";

  std::vector<torch::Tensor> more{torch::zeros({1}).requires_grad_()};
  torch::optim::SGD second(more, torch::optim::SGDOptions(0.1));
  auto configured = torchlr::make_scheduler(second, torchlr::Config{{"name", "StepLR"}, {"step_size", 1}, {"gamma", 0.5}});
  configured->step_with(std::nullopt);
  std::cout << configured->name() << " " << configured->get_last_lr()[0] << "\n";
  // The version macro compiles only if the generated <torchlr/version.h> was installed too.
  std::cout << "torchlr " << TORCHLR_VERSION_STRING << "\n";
  return 0;
}
