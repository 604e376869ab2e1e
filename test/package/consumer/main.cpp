// A downstream program: includes only torchlr's umbrella header and LibTorch's SGD.
#include <iostream>

#include <torch/optim/sgd.h>
#include <torchlr/torchlr.h>

int main() {
  std::vector<torch::Tensor> params{torch::zeros({1}).requires_grad_()};
  torch::optim::SGD optimizer(params, torch::optim::SGDOptions(0.1));
  torchlr::StepLR scheduler(optimizer, torchlr::StepLROptions(1).gamma(0.5));
  scheduler.step();
  // The version macro compiles only if the generated <torchlr/version.h> was installed too.
  std::cout << scheduler.get_last_lr()[0] << " (torchlr " << TORCHLR_VERSION_STRING << ")\n";
  return 0;
}
