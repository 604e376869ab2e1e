// The LR range test on a small MLP: synthetic regression data through a LibTorch data loader,
// then short trials from where it diverged (the refined suggestion), the suggested lr, the plot,
// and a check that the model was left untouched.
//
//   ./lr_find [output.svg]

#include <iostream>

#include <torch/data.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>

#include <torchlr/lr_finder.h>

// y = sin(3·x₀) + x₁² + noise: non-linear, so the MLP has something to learn.
struct Synthetic : torch::data::datasets::Dataset<Synthetic> {
  Synthetic() {
    torch::manual_seed(0);
    x = torch::rand({512, 2}) * 2 - 1;
    y = torch::sin(3 * x.select(1, 0)).unsqueeze(1) + x.select(1, 1).pow(2).unsqueeze(1) +
        0.05 * torch::randn({512, 1});
  }
  torch::data::Example<> get(size_t i) override { return {x[static_cast<int64_t>(i)], y[static_cast<int64_t>(i)]}; }
  torch::optional<size_t> size() const override { return static_cast<size_t>(x.size(0)); }
  torch::Tensor x, y;
};

struct MLP : torch::nn::Module {
  MLP() {
    fc1 = register_module("fc1", torch::nn::Linear(2, 64));
    fc2 = register_module("fc2", torch::nn::Linear(64, 64));
    fc3 = register_module("fc3", torch::nn::Linear(64, 1));
  }
  torch::Tensor forward(torch::Tensor x) {
    return fc3->forward(torch::relu(fc2->forward(torch::relu(fc1->forward(x)))));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};

int main(int argc, char** argv) {
  const std::string plot = argc > 1 ? argv[1] : "lr_find.svg";
  auto loader = torch::data::make_data_loader(Synthetic().map(torch::data::transforms::Stack<>()),
                                              torch::data::DataLoaderOptions().batch_size(32));
  MLP model;
  torch::optim::SGD optimizer(model.parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  const auto before = model.fc1->weight.clone();

  const torchlr::LRFinderResult result = torchlr::lr_find(
      model, optimizer, *loader,
      [](const torch::Tensor& output, const torch::Tensor& target) { return torch::mse_loss(output, target); },
      torchlr::LRFinderOptions().min_lr(1e-6).max_lr(10).num_iter(100).trial_budget(200));

  std::cout << "steps run: " << result.lrs().size() << " (" << torchlr::to_string(result.stop_reason()) << ")\n";
  if (const auto& trials = result.refinement()) {
    std::cout << "trials: " << trials->trials.size() << " (" << trials->steps << " steps) from lr " << trials->lr_stop
              << "; " << trials->verdict << "\n";
  }
  if (const auto lr = result.suggestion()) {
    std::cout << "suggested lr: " << *lr << "\n";
  } else {
    std::cout << "no suggestion: " << result.suggest().reason << "\n";
  }
  result.plot_svg(plot);
  std::cout << "plot: " << plot << "\n";
  const bool untouched = torch::equal(before, model.fc1->weight);
  std::cout << "model untouched: " << (untouched ? "yes" : "no") << "\n";
  return untouched ? 0 : 1;
}
