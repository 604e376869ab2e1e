// A schedule read from a JSON file, as a Python training script does with
// `getattr(lr_scheduler, cfg["name"])(optimizer, **kwargs)`: the program names no scheduler
// type. It also registers a scheduler of its own, so that configs can name it too, and steps
// whatever it built through the one interface every scheduler has (a metric for the plateau).
//
//     from_config [CONFIG.json]   (default: examples/schedule_config.json, a warmup + cosine)

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include <torchlr/config_json.h>
#include <torchlr/factory.h>
#include <torchlr/scheduler.h>

#ifndef TORCHLR_EXAMPLE_CONFIG
#define TORCHLR_EXAMPLE_CONFIG "schedule_config.json"
#endif

// A scheduler of the program's own: lr = base_lr / sqrt(max(epoch, warmup) / warmup).
class InverseSqrt final : public torchlr::LRScheduler {
 public:
  InverseSqrt(torch::optim::Optimizer& optimizer, int64_t warmup) : LRScheduler(optimizer), warmup_(warmup) {
    TORCH_CHECK_VALUE(warmup > 0, "InverseSqrt: warmup must be positive, but got ", warmup);
    initial_step();
  }
  std::string name() const override { return "InverseSqrt"; }

 protected:
  double get_lr(std::size_t group) override {
    const double epoch = static_cast<double>(std::max(last_epoch(), warmup_));
    return base_lrs()[group] / std::sqrt(epoch / static_cast<double>(warmup_));
  }

 private:
  int64_t warmup_;
};

int main(int argc, char** argv) {
  // One registration, and configs can say {"name": "InverseSqrt", "warmup": 10}.
  torchlr::register_scheduler({"InverseSqrt", [](torchlr::SchedulerArgs& args) {
                                 return args.construct<InverseSqrt>(args.required<int64_t>("warmup"));
                               }});

  const std::string path = argc > 1 ? argv[1] : TORCHLR_EXAMPLE_CONFIG;
  std::ifstream file(path);
  if (!file) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    return 1;
  }
  auto weights = torch::zeros({4}).requires_grad_();
  torch::optim::SGD optimizer({weights}, torch::optim::SGDOptions(0.1).momentum(0.9));
  std::unique_ptr<torchlr::SchedulerBase> scheduler;
  try {
    scheduler = torchlr::make_scheduler(optimizer, torchlr::config_from_json(nlohmann::json::parse(file)));
  } catch (const c10::ValueError& e) {
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const nlohmann::json::parse_error& e) {
    std::fprintf(stderr, "error: %s is not valid JSON: %s\n", path.c_str(), e.what());
    return 1;
  }

  std::printf("%s from %s\nepoch  lr\n", scheduler->name().c_str(), path.c_str());
  double validation_loss = 1.0;
  for (int epoch = 0; epoch <= 30; ++epoch) {
    std::printf("%5d  %.8f\n", epoch, scheduler->get_last_lr()[0]);
    // ... one epoch of training: optimizer.zero_grad(); loss.backward(); optimizer.step(); ...
    weights.mutable_grad() = torch::zeros_like(weights);  // what backward() would leave
    optimizer.step();
    validation_loss = 0.5 + 0.5 * validation_loss;  // a loss that levels off
    scheduler->step_with(scheduler->takes_metric() ? std::optional<double>(validation_loss) : std::nullopt);
  }
  return 0;
}
