// The cost of one scheduler step(), in nanoseconds, for every scheduler with 1, 8 and 64 param
// groups, at a steady state deep into the schedule; beside it, in the same binary, the floor (a
// loop that only writes each group's lr) and LibTorch's own torch::optim::StepLR. Heap
// allocations per step are counted by the operator new below.

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>

#include <benchmark/benchmark.h>
#include <torch/optim/schedulers/step_lr.h>
#include <torch/optim/sgd.h>

#include <torchlr/torchlr.h>

// ---- allocation counting --------------------------------------------------------------------

// GCC pairs the replaced operator new with free() at inlined call sites and warns; both sides
// are replaced together here, so the pairing is right.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<long long> g_allocations{0};
}

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

// ---- fixtures -------------------------------------------------------------------------------

struct Optimizer {
  explicit Optimizer(int64_t groups) {
    std::vector<torch::optim::OptimizerParamGroup> list;
    for (int64_t g = 0; g < groups; ++g) {
      params.push_back(torch::zeros({1}).requires_grad_());
      list.emplace_back(std::vector<torch::Tensor>{params.back()},
                        std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(0.1).momentum(0.9)));
    }
    sgd = std::make_unique<torch::optim::SGD>(std::move(list), torch::optim::SGDOptions(0.1));
  }
  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::SGD> sgd;
};

constexpr int64_t kWarmSteps = 1000;       // "deep into the schedule" before timing starts
constexpr int64_t kHuge = int64_t{1} << 40;  // schedule lengths no benchmark run reaches

// Runs `step` in the timed loop and reports allocations per step.
void Measure(benchmark::State& state, const std::function<void()>& step) {
  for (int64_t i = 0; i < kWarmSteps; ++i) step();
  const long long before = g_allocations.load();
  for (auto _ : state) step();
  state.counters["allocs_per_step"] =
      benchmark::Counter(static_cast<double>(g_allocations.load() - before), benchmark::Counter::kAvgIterations);
}

template <typename Make>
void Scheduler(benchmark::State& state, Make make) {
  Optimizer o(state.range(0));
  auto scheduler = make(*o.sgd);
  Measure(state, [&] { scheduler->step(); });
}

// Values stay normal (no denormals, no zero) for as long as a benchmark runs.
using namespace torchlr;
auto kStepLR = [](torch::optim::Optimizer& o) { return std::make_unique<StepLR>(o, StepLROptions(30).gamma(0.9999)); };
auto kMultiStepLR = [](torch::optim::Optimizer& o) {
  return std::make_unique<MultiStepLR>(o, MultiStepLROptions({300, 800, 5000, 20000}).gamma(0.5));
};
auto kConstantLR = [](torch::optim::Optimizer& o) { return std::make_unique<ConstantLR>(o, ConstantLROptions().total_iters(kHuge)); };
auto kLinearLR = [](torch::optim::Optimizer& o) { return std::make_unique<LinearLR>(o, LinearLROptions().total_iters(kHuge)); };
auto kExponentialLR = [](torch::optim::Optimizer& o) { return std::make_unique<ExponentialLR>(o, 1 - 1e-12); };
auto kPolynomialLR = [](torch::optim::Optimizer& o) {
  return std::make_unique<PolynomialLR>(o, PolynomialLROptions().total_iters(kHuge).power(2.0));
};
auto kCosineAnnealingLR = [](torch::optim::Optimizer& o) {
  return std::make_unique<CosineAnnealingLR>(o, CosineAnnealingLROptions(1000).eta_min(1e-4));
};
auto kWarmRestarts = [](torch::optim::Optimizer& o) {
  return std::make_unique<CosineAnnealingWarmRestarts>(o, CosineAnnealingWarmRestartsOptions(100).T_mult(1));
};
auto kLambdaLR = [](torch::optim::Optimizer& o) {
  return std::make_unique<LambdaLR>(o, LambdaLROptions([](int64_t e) { return 1.0 / (1.0 + 1e-6 * static_cast<double>(e)); }));
};
auto kMultiplicativeLR = [](torch::optim::Optimizer& o) {
  return std::make_unique<MultiplicativeLR>(o, MultiplicativeLROptions([](int64_t) { return 1 - 1e-12; }));
};
auto kCyclicLR = [](torch::optim::Optimizer& o) {
  return std::make_unique<CyclicLR>(o, CyclicLROptions(0.001, 0.1).step_size_up(200).mode("triangular2"));
};
auto kOneCycleLR = [](torch::optim::Optimizer& o) {
  return std::make_unique<OneCycleLR>(o, OneCycleLROptions(0.1).total_steps(kHuge));
};
auto kSequentialLR = [](torch::optim::Optimizer& o) {
  auto warmup = std::make_shared<LinearLR>(o, LinearLROptions().start_factor(0.1).total_iters(5));
  auto cosine = std::make_shared<CosineAnnealingLR>(o, CosineAnnealingLROptions(1000));
  return std::make_unique<SequentialLR>(o, SequentialLROptions({warmup, cosine}, {5}));
};
auto kChainedScheduler = [](torch::optim::Optimizer& o) {
  auto constant = std::make_shared<ConstantLR>(o, ConstantLROptions().total_iters(kHuge));
  auto exponential = std::make_shared<ExponentialLR>(o, 1 - 1e-12);
  return std::make_unique<ChainedScheduler>(SchedulerList{constant, exponential});
};

void BM_Floor(benchmark::State& state) {
  Optimizer o(state.range(0));
  double lr = 0.1;
  Measure(state, [&] {
    lr *= 1 - 1e-12;
    for (auto& group : o.sgd->param_groups()) group.options().set_lr(lr);
  });
}

void BM_LibTorchStepLR(benchmark::State& state) {
  Optimizer o(state.range(0));
  torch::optim::StepLR scheduler(*o.sgd, 30, 0.9999);
  Measure(state, [&] { scheduler.step(); });
}

void BM_ReduceLROnPlateau(benchmark::State& state) {
  Optimizer o(state.range(0));
  ReduceLROnPlateau scheduler(*o.sgd, ReduceLROnPlateauOptions().patience(10).min_lr(1e-6));
  double metric = 1.0;
  Measure(state, [&] {
    metric *= 1 - 1e-9;  // slowly improving: the comparison runs, reductions are rare
    scheduler.step(metric);
  });
}

}  // namespace

#define TORCHLR_GROUPS ->Arg(1)->Arg(8)->Arg(64)
BENCHMARK(BM_Floor) TORCHLR_GROUPS;
BENCHMARK(BM_LibTorchStepLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, StepLR, kStepLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, MultiStepLR, kMultiStepLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, ConstantLR, kConstantLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, LinearLR, kLinearLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, ExponentialLR, kExponentialLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, PolynomialLR, kPolynomialLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, CosineAnnealingLR, kCosineAnnealingLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, CosineAnnealingWarmRestarts, kWarmRestarts) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, LambdaLR, kLambdaLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, MultiplicativeLR, kMultiplicativeLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, CyclicLR, kCyclicLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, OneCycleLR, kOneCycleLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, SequentialLR, kSequentialLR) TORCHLR_GROUPS;
BENCHMARK_CAPTURE(Scheduler, ChainedScheduler, kChainedScheduler) TORCHLR_GROUPS;
BENCHMARK(BM_ReduceLROnPlateau) TORCHLR_GROUPS;

// Growth: cost against the number of groups, 1 to 1024.
#define TORCHLR_GROWTH ->RangeMultiplier(4)->Range(1, 1024)
BENCHMARK(BM_Floor)->Name("Growth/Floor") TORCHLR_GROWTH;
BENCHMARK(BM_LibTorchStepLR)->Name("Growth/LibTorchStepLR") TORCHLR_GROWTH;
BENCHMARK_CAPTURE(Scheduler, StepLR, kStepLR)->Name("Growth/StepLR") TORCHLR_GROWTH;
BENCHMARK_CAPTURE(Scheduler, CosineAnnealingLR, kCosineAnnealingLR)->Name("Growth/CosineAnnealingLR") TORCHLR_GROWTH;
BENCHMARK_CAPTURE(Scheduler, OneCycleLR, kOneCycleLR)->Name("Growth/OneCycleLR") TORCHLR_GROWTH;

BENCHMARK_MAIN();
