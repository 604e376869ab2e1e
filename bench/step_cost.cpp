// The cost of one scheduler step(), in nanoseconds, for every scheduler with 1, 8 and 64 param
// groups, at a steady state deep into the schedule; beside it, in the same binary, the floor (a
// loop that only writes each group's lr) and LibTorch's own torch::optim::StepLR. Heap
// allocations per step are counted by the operator new below.

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <string>

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

using namespace torchlr;

// Every scheduler of the factory's table, at a steady state deep into its schedule. Arguments
// that would end or flatten a schedule within a run are made long here; a scheduler of the table
// not named here runs on its example config.
const std::map<std::string, Config>& long_schedules() {
  static const std::map<std::string, Config> configs{
      {"StepLR", {{"name", "StepLR"}, {"step_size", 30}, {"gamma", 0.9999}}},
      {"MultiStepLR", {{"name", "MultiStepLR"}, {"milestones", {300, 800, 5000, 20000}}, {"gamma", 0.5}}},
      {"ConstantLR", {{"name", "ConstantLR"}, {"total_iters", kHuge}}},
      {"LinearLR", {{"name", "LinearLR"}, {"total_iters", kHuge}}},
      {"ExponentialLR", {{"name", "ExponentialLR"}, {"gamma", 1 - 1e-12}}},
      {"PolynomialLR", {{"name", "PolynomialLR"}, {"total_iters", kHuge}, {"power", 2.0}}},
      {"CosineAnnealingLR", {{"name", "CosineAnnealingLR"}, {"T_max", 1000}, {"eta_min", 1e-4}}},
      {"CosineAnnealingWarmRestarts", {{"name", "CosineAnnealingWarmRestarts"}, {"T_0", 100}, {"T_mult", 1}}},
      {"CyclicLR",
       {{"name", "CyclicLR"}, {"base_lr", 0.001}, {"max_lr", 0.1}, {"step_size_up", 200}, {"mode", "triangular2"}}},
      {"OneCycleLR", {{"name", "OneCycleLR"}, {"max_lr", 0.1}, {"total_steps", kHuge}}},
      {"SequentialLR",
       {{"name", "SequentialLR"},
        {"schedulers",
         {Config{{"name", "LinearLR"}, {"start_factor", 0.1}, {"total_iters", 5}},
          Config{{"name", "CosineAnnealingLR"}, {"T_max", 1000}}}},
        {"milestones", {5}}}},
      {"ChainedScheduler",
       {{"name", "ChainedScheduler"},
        {"schedulers",
         {Config{{"name", "ConstantLR"}, {"total_iters", kHuge}}, Config{{"name", "ExponentialLR"}, {"gamma", 1 - 1e-12}}}}}},
      {"ReduceLROnPlateau", {{"name", "ReduceLROnPlateau"}, {"patience", 10}, {"min_lr", 1e-6}}},
  };
  return configs;
}

// The config a table scheduler runs on here: its long schedule, or else the table's example.
const Config& benchmark_config(const SchedulerEntry& entry) {
  const auto it = long_schedules().find(entry.name);
  return it != long_schedules().end() ? it->second : entry.example;
}

void TableScheduler(benchmark::State& state, const SchedulerEntry& entry) {
  Optimizer o(state.range(0));
  auto scheduler = make_scheduler(*o.sgd, benchmark_config(entry));
  if (entry.takes_metric) {
    double metric = 1.0;
    Measure(state, [&] {
      metric *= 1 - 1e-9;  // slowly improving: the comparison runs, reductions are rare
      scheduler->step_with(metric);
    });
  } else if (auto* lr_scheduler = dynamic_cast<LRScheduler*>(scheduler.get())) {
    Measure(state, [&] { lr_scheduler->step(); });
  } else {
    // timm's schedulers: the generic step moves t on by one.
    Measure(state, [&] { scheduler->step_with(std::nullopt); });
  }
}

template <typename Make>
void Scheduler(benchmark::State& state, Make make) {
  Optimizer o(state.range(0));
  auto scheduler = make(*o.sgd);
  Measure(state, [&] { scheduler->step(); });
}

// LambdaLR and MultiplicativeLR take functions, which no config holds.
auto kLambdaLR = [](torch::optim::Optimizer& o) {
  return std::make_unique<LambdaLR>(o, LambdaLROptions([](int64_t e) { return 1.0 / (1.0 + 1e-6 * static_cast<double>(e)); }));
};
auto kMultiplicativeLR = [](torch::optim::Optimizer& o) {
  return std::make_unique<MultiplicativeLR>(o, MultiplicativeLROptions([](int64_t) { return 1 - 1e-12; }));
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

// Registered at run time, in this order, so that the table's schedulers are all there.
void register_benchmarks() {
  auto groups = [](benchmark::internal::Benchmark* b) { b->Arg(1)->Arg(8)->Arg(64); };
  auto growth = [](benchmark::internal::Benchmark* b) { b->RangeMultiplier(4)->Range(1, 1024); };
  groups(benchmark::RegisterBenchmark("BM_Floor", BM_Floor));
  groups(benchmark::RegisterBenchmark("BM_LibTorchStepLR", BM_LibTorchStepLR));
  const auto table = registered_schedulers();
  for (const auto& entry : table) {
    if (entry.name == "LambdaLR") {
      groups(benchmark::RegisterBenchmark("Scheduler/LambdaLR", Scheduler<decltype(kLambdaLR)>, kLambdaLR));
    } else if (entry.name == "MultiplicativeLR") {
      groups(benchmark::RegisterBenchmark("Scheduler/MultiplicativeLR", Scheduler<decltype(kMultiplicativeLR)>,
                                          kMultiplicativeLR));
    } else if (entry.example.size() > 0) {
      groups(benchmark::RegisterBenchmark(("Scheduler/" + entry.name).c_str(), TableScheduler, entry));
    }
  }
  // Growth: cost against the number of groups, 1 to 1024.
  growth(benchmark::RegisterBenchmark("Growth/Floor", BM_Floor));
  growth(benchmark::RegisterBenchmark("Growth/LibTorchStepLR", BM_LibTorchStepLR));
  for (const auto& entry : table) {
    if (entry.name == "StepLR" || entry.name == "CosineAnnealingLR" || entry.name == "OneCycleLR") {
      growth(benchmark::RegisterBenchmark(("Growth/" + entry.name).c_str(), TableScheduler, entry));
    }
  }
}

}  // namespace

// `--print-configs`: one JSON line per scheduler of the table, in table order, with the config it
// runs on here (null for those no config can express), so that bench/report.py times PyTorch on
// the same configs without restating them.
void print_configs() {
  for (const auto& entry : registered_schedulers()) {
    std::printf("{\"name\":\"%s\",\"composite\":%s,\"takes_metric\":%s,\"scheduler\":%s}\n", entry.name.c_str(),
                entry.composite ? "true" : "false", entry.takes_metric ? "true" : "false",
                entry.example.size() > 0 ? benchmark_config(entry).dump().c_str() : "null");
  }
}

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--print-configs") {
    print_configs();
    return 0;
  }
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
