// The gallery: one SVG per scheduler, the pictures a user would otherwise draw with matplotlib.
//
//   ./schedules [OUTPUT_DIR] [EPOCHS]      (defaults: gallery, 100)

#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>

#include <torch/optim/sgd.h>

#include <torchlr/torchlr.h>

namespace {

struct Entry {
  std::string file, title;
  bool momentum = false;  // SGD with momentum 0.9, and the momentum panel
  std::function<std::function<void(int64_t)>(torch::optim::Optimizer&)> make;  // returns "step once"
};

// Plain epoch schedulers: construct, then step() once per epoch.
template <typename Scheduler, typename... Args>
std::function<std::function<void(int64_t)>(torch::optim::Optimizer&)> plain(Args... args) {
  return [=](torch::optim::Optimizer& o) {
    auto s = std::make_shared<Scheduler>(o, args...);
    return std::function<void(int64_t)>([s](int64_t) { s->step(); });
  };
}

// timm's schedulers take the epoch itself: step(epoch) at the end of each.
template <typename Scheduler, typename Options>
std::function<std::function<void(int64_t)>(torch::optim::Optimizer&)> timm_epochs(Options options) {
  return [=](torch::optim::Optimizer& o) {
    auto s = std::make_shared<Scheduler>(o, options);
    return std::function<void(int64_t)>([s](int64_t epoch) { s->step(epoch); });
  };
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "gallery";
  const int64_t epochs = argc > 2 ? std::stoll(argv[2]) : 100;
  std::filesystem::create_directories(dir);
  using namespace torchlr;

  const std::vector<Entry> gallery{
      {"LambdaLR", "LambdaLR(lr_lambda=0.95^epoch)", false,
       plain<LambdaLR>(LambdaLROptions([](int64_t e) { return std::pow(0.95, static_cast<double>(e)); }))},
      {"StepLR", "StepLR(step_size=10, gamma=0.8)", false, plain<StepLR>(StepLROptions(10).gamma(0.8))},
      {"MultiStepLR", "MultiStepLR(milestones=[30, 80], gamma=0.1)", false,
       plain<MultiStepLR>(MultiStepLROptions({30, 80}).gamma(0.1))},
      {"ExponentialLR", "ExponentialLR(gamma=0.95)", false, plain<ExponentialLR>(ExponentialLROptions(0.95))},
      {"CosineAnnealingLR", "CosineAnnealingLR(T_max=20, eta_min=0.001)", false,
       plain<CosineAnnealingLR>(CosineAnnealingLROptions(20).eta_min(0.001))},
      {"ReduceLROnPlateau", "ReduceLROnPlateau(mode='min', factor=0.5, patience=10), fed a loss that plateaus", false,
       [](torch::optim::Optimizer& o) {
         auto s = std::make_shared<ReduceLROnPlateau>(o, ReduceLROnPlateauOptions().mode(PlateauMode::min).factor(0.5).patience(10));
         return std::function<void(int64_t)>([s](int64_t epoch) {
           // A validation loss that improves until epoch 30, then stalls with a little noise.
           const double e = static_cast<double>(std::min<int64_t>(epoch, 30));
           s->step(1.0 / (1.0 + 0.1 * e) + 0.01 * std::sin(static_cast<double>(epoch)));
         });
       }},
      {"CyclicLR_triangular", "CyclicLR(base_lr=0.001, max_lr=0.1, step_size_up=20, mode='triangular')", true,
       plain<CyclicLR>(CyclicLROptions(0.001, 0.1).step_size_up(20).mode(CyclicMode::triangular))},
      {"CyclicLR_triangular2", "CyclicLR(base_lr=0.001, max_lr=0.1, step_size_up=20, mode='triangular2')", true,
       plain<CyclicLR>(CyclicLROptions(0.001, 0.1).step_size_up(20).mode(CyclicMode::triangular2))},
      {"CyclicLR_exp_range", "CyclicLR(base_lr=0.001, max_lr=0.1, step_size_up=20, mode='exp_range', gamma=0.95)",
       true, plain<CyclicLR>(CyclicLROptions(0.001, 0.1).step_size_up(20).mode(CyclicMode::exp_range).gamma(0.95))},
      {"OneCycleLR", "OneCycleLR(max_lr=0.1, total_steps=" + std::to_string(epochs) + ")", true,
       plain<OneCycleLR>(OneCycleLROptions(0.1).total_steps(epochs))},
      {"CosineAnnealingWarmRestarts", "CosineAnnealingWarmRestarts(T_0=10, T_mult=2)", false,
       plain<CosineAnnealingWarmRestarts>(CosineAnnealingWarmRestartsOptions(10).T_mult(2))},
      {"SequentialLR_warmup_cosine",
       "SequentialLR([LinearLR(start_factor=0.1, total_iters=5), CosineAnnealingLR(T_max=" +
           std::to_string(epochs - 5) + ")], milestones=[5])",
       false,
       [epochs](torch::optim::Optimizer& o) {
         auto warmup = std::make_shared<LinearLR>(o, LinearLROptions().start_factor(0.1).total_iters(5));
         auto cosine = std::make_shared<CosineAnnealingLR>(o, CosineAnnealingLROptions(epochs - 5));
         auto s = std::make_shared<SequentialLR>(o, SequentialLROptions({warmup, cosine}, {5}));
         return std::function<void(int64_t)>([s](int64_t) { s->step(); });
       }},
      // PyTorch's SWA recipe: a cosine, then SWALR anneals to swa_lr and holds it.
      {"SequentialLR_cosine_SWALR",
       "SequentialLR([CosineAnnealingLR(T_max=" + std::to_string(epochs * 3 / 4) +
           "), SWALR(swa_lr=0.05, anneal_epochs=5)], milestones=[" + std::to_string(epochs * 3 / 4) + "])",
       false,
       [epochs](torch::optim::Optimizer& o) {
         auto cosine = std::make_shared<CosineAnnealingLR>(o, CosineAnnealingLROptions(epochs * 3 / 4));
         auto swa = std::make_shared<SWALR>(o, SWALROptions(0.05).anneal_epochs(5));
         auto s = std::make_shared<SequentialLR>(o, SequentialLROptions({cosine, swa}, {epochs * 3 / 4}));
         return std::function<void(int64_t)>([s](int64_t) { s->step(); });
       }},
      // Hugging Face transformers' schedules (lr_scheduler_type) and fairseq's, stepped per update.
      {"transformers_cosine",
       "transformers cosine (num_warmup_steps=10, num_training_steps=80): it rises again after 80", false,
       plain<transformers::CosineSchedule>(transformers::CosineScheduleOptions(10, 80))},
      {"transformers_cosine_with_restarts",
       "transformers cosine_with_restarts (num_warmup_steps=5, num_training_steps=" + std::to_string(epochs) +
           ", num_cycles=3)",
       false,
       plain<transformers::CosineWithRestartsSchedule>(
           transformers::CosineWithRestartsScheduleOptions(5, epochs).num_cycles(3))},
      {"transformers_polynomial",
       "transformers polynomial (num_warmup_steps=10, num_training_steps=80, lr_end=0.01, power=2)", false,
       plain<transformers::PolynomialSchedule>(transformers::PolynomialScheduleOptions(10, 80).lr_end(0.01).power(2.0))},
      {"transformers_warmup_stable_decay",
       "transformers warmup_stable_decay (num_warmup_steps=10, num_decay_steps=20, num_training_steps=" +
           std::to_string(epochs) + ", decay_type='1-sqrt', min_lr_ratio=0.1)",
       false,
       plain<transformers::WarmupStableDecaySchedule>(transformers::WarmupStableDecayScheduleOptions(10, 20)
                                                          .num_training_steps(epochs)
                                                          .decay_type(transformers::WsdShape::one_minus_sqrt)
                                                          .min_lr_ratio(0.1))},
      {"transformers_greedy", "transformers GreedyLR(patience=3, max_lr=0.2), fed a loss that improves, then stalls",
       false,
       [](torch::optim::Optimizer& o) {
         auto s = std::make_shared<transformers::GreedyLR>(o, transformers::GreedyLROptions().patience(3).max_lr(0.2));
         return std::function<void(int64_t)>([s](int64_t epoch) {
           const double e = static_cast<double>(std::min<int64_t>(epoch, 40));
           s->step(1.0 / (1.0 + 0.1 * e) + 0.01 * std::sin(static_cast<double>(epoch)));
         });
       }},
      {"fairseq_inverse_sqrt", "fairseq inverse_sqrt (warmup_updates=10)", false,
       plain<fairseq::InverseSquareRootSchedule>(fairseq::InverseSquareRootScheduleOptions().warmup_updates(10))},
      {"fairseq_tri_stage",
       "fairseq tri_stage (phase_ratio=(0.1, 0.4, 0.5), max_update=" + std::to_string(epochs) + ")", false,
       plain<fairseq::TriStageLRSchedule>(
           fairseq::TriStageLRScheduleOptions().phase_ratio(std::vector<double>{0.1, 0.4, 0.5}).max_update(epochs))},
      // timm's, stepped with the epoch.
      {"timm_CosineLRScheduler",
       "timm CosineLRScheduler(t_initial=30, cycle_limit=3, cycle_decay=0.5, warmup_t=5, warmup_lr_init=1e-3, "
       "warmup_prefix=True, noise_range_t=" + std::to_string(epochs * 3 / 4) + ")",
       false,
       timm_epochs<timm::CosineLRScheduler>(timm::CosineLRSchedulerOptions(30)
                                                .cycle_limit(3)
                                                .cycle_decay(0.5)
                                                .warmup_t(5)
                                                .warmup_lr_init(1e-3)
                                                .warmup_prefix(true)
                                                .noise_range_t({static_cast<double>(epochs * 3 / 4)}))},
      {"timm_TanhLRScheduler", "timm TanhLRScheduler(t_initial=" + std::to_string(epochs) + ", warmup_t=10, warmup_lr_init=1e-3)",
       false,
       timm_epochs<timm::TanhLRScheduler>(timm::TanhLRSchedulerOptions(epochs).warmup_t(10).warmup_lr_init(1e-3))},
      {"timm_MultiStepLRScheduler",
       "timm MultiStepLRScheduler(decay_t=[30, 80], decay_rate=0.1): one epoch before torch's MultiStepLR", false,
       timm_epochs<timm::MultiStepLRScheduler>(timm::MultiStepLRSchedulerOptions({30, 80}).decay_rate(0.1))},
  };

  for (const auto& entry : gallery) {
    auto param = torch::zeros({1}).requires_grad_();
    param.mutable_grad() = torch::zeros_like(param);  // stands in for loss.backward()
    torch::optim::SGD optimizer({param}, torch::optim::SGDOptions(0.1).momentum(entry.momentum ? 0.9 : 0.0));
    auto step = entry.make(optimizer);
    ScheduleRecord record;
    record.record(optimizer, 0);
    // OneCycleLR allows total_steps steps after construction; everything else runs `epochs`.
    for (int64_t epoch = 1; epoch < epochs; ++epoch) {
      optimizer.step();
      step(epoch);
      record.record(optimizer, epoch);
    }
    if (!entry.momentum) record.momenta.clear();  // a flat line says nothing
    const auto path = dir / (entry.file + ".svg");
    svg::write(schedule_chart(record, entry.title), path.string());
    std::cout << path.string() << "\n";
  }
  return 0;
}
