// Writing your own scheduler: derive from torchlr::LRScheduler.
//
// 1. The classic: lr·(1 − 0.1·epoch) for epoch < 10, then lr·0.1, with a closed form so that
//    step(epoch) can jump.
// 2. A scheduler with state of its own (the Transformer's warmup then 1/√step), saved and loaded
//    with the same one-line description per field.

#include <cmath>
#include <cstdio>
#include <sstream>

#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <torchlr/torchlr.h>

class LinearThenFlat : public torchlr::LRScheduler {
 public:
  explicit LinearThenFlat(torch::optim::Optimizer& optimizer) : LRScheduler(optimizer) {
    initial_step();  // last, so that the step at construction uses this class's get_lr
  }
  std::string name() const override { return "LinearThenFlat"; }

 protected:
  double get_lr(std::size_t group) override { return get_closed_form_lr(group); }
  bool has_closed_form() const override { return true; }
  double get_closed_form_lr(std::size_t group) override {
    const double epoch = static_cast<double>(last_epoch());
    return base_lrs()[group] * (last_epoch() < 10 ? 1.0 - 0.1 * epoch : 0.1);
  }
};

// lr = base_lr · min((step+1)/warmup, √warmup / √(step+1)): linear warmup, then inverse square root.
class WarmupInverseSqrt : public torchlr::LRScheduler {
 public:
  WarmupInverseSqrt(torch::optim::Optimizer& optimizer, int64_t warmup_steps)
      : LRScheduler(optimizer), warmup_steps_(warmup_steps) {
    TORCH_CHECK_VALUE(warmup_steps > 0, "WarmupInverseSqrt: warmup_steps must be positive, but got ", warmup_steps);
    initial_step();
  }
  std::string name() const override { return "WarmupInverseSqrt"; }

 protected:
  double get_lr(std::size_t group) override {
    const double step = static_cast<double>(last_epoch() + 1);
    const double warmup = static_cast<double>(warmup_steps_);
    return base_lrs()[group] * std::min(step / warmup, std::sqrt(warmup) / std::sqrt(step));
  }
  // The state beyond the base fields: one line per field, for saving and loading alike.
  void serialize(torchlr::StateArchive& archive) override { archive.field("warmup_steps", warmup_steps_); }

 private:
  int64_t warmup_steps_;
};

int main() {
  auto w = torch::zeros({1}).requires_grad_();
  w.mutable_grad() = torch::ones_like(w);  // stands in for loss.backward() in a real loop
  torch::optim::SGD sgd({w}, torch::optim::SGDOptions(1.0));
  LinearThenFlat classic(sgd);
  std::printf("LinearThenFlat:   ");
  for (int epoch = 0; epoch < 12; ++epoch) {
    std::printf("%.2f ", classic.get_last_lr()[0]);
    sgd.step();
    classic.step();
  }
  classic.step(3);  // the closed form jumps straight to epoch 3
  std::printf("\n  step(3) -> %.2f\n", classic.get_last_lr()[0]);

  torch::optim::Adam adam({w}, torch::optim::AdamOptions(1e-3));
  WarmupInverseSqrt transformer(adam, /*warmup_steps=*/4);
  std::printf("WarmupInverseSqrt: ");
  for (int step = 0; step < 8; ++step) {
    std::printf("%.6f ", transformer.get_last_lr()[0]);
    adam.step();
    transformer.step();
  }
  // Checkpoint round trip: a fresh scheduler loaded from the saved one continues identically.
  std::stringstream saved;
  torch::save(transformer, saved);
  torch::optim::Adam adam2({w}, torch::optim::AdamOptions(1e-3));
  WarmupInverseSqrt resumed(adam2, 4);
  torch::load(resumed, saved);
  transformer.step();
  resumed.step();
  std::printf("\n  after save/load, next lr: %.6f (original) and %.6f (resumed)\n", transformer.get_last_lr()[0],
              resumed.get_last_lr()[0]);
  return transformer.get_last_lr() == resumed.get_last_lr() ? 0 : 1;
}
