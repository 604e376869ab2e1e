// ReduceLROnPlateau steps on a metric, so it is not an LRScheduler and cannot be a child of a
// SequentialLR or ChainedScheduler: torchlr makes that a compile error (PyTorch raises at run
// time). ctest compiles this file once as it stands, the control that must compile, and once
// with each TORCHLR_PUT_PLATEAU_IN_<CASE> macro, each of which must fail to compile at the line
// marked "error: <CASE>" (test/compile_fail/check_compile.cmake).

#include <memory>

#include <torch/optim/sgd.h>

#include <torchlr/torchlr.h>

void build_schedules(torch::optim::SGD& optimizer) {
  auto warmup = std::make_shared<torchlr::LinearLR>(optimizer, torchlr::LinearLROptions().total_iters(5));
  auto plateau = std::make_shared<torchlr::ReduceLROnPlateau>(optimizer);
  auto cosine = std::make_shared<torchlr::CosineAnnealingLR>(optimizer, torchlr::CosineAnnealingLROptions(10));
#if defined(TORCHLR_PUT_PLATEAU_IN_SEQUENTIAL)
  torchlr::SequentialLR sequential(optimizer, torchlr::SequentialLROptions({warmup, plateau}, {5}));  // error: SEQUENTIAL
#elif defined(TORCHLR_PUT_PLATEAU_IN_CHAINED)
  torchlr::ChainedScheduler chained(optimizer, {warmup, plateau});  // error: CHAINED
#elif defined(TORCHLR_PUT_PLATEAU_IN_SCHEDULER_LIST)
  torchlr::SchedulerList children{warmup};
  children.push_back(plateau);  // error: SCHEDULER_LIST
#else
  // The same calls with an LRScheduler in its place compile.
  torchlr::SequentialLR sequential(optimizer, torchlr::SequentialLROptions({warmup, cosine}, {5}));
  torchlr::ChainedScheduler chained(optimizer, {warmup, cosine});
  torchlr::SchedulerList children{warmup};
  children.push_back(cosine);
  plateau->step(1.0);
#endif
}
