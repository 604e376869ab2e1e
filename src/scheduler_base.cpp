#include <torchlr/scheduler_base.h>

#include <torch/serialize/archive.h>

namespace torchlr {

SchedulerBase::~SchedulerBase() = default;

torch::serialize::OutputArchive& operator<<(torch::serialize::OutputArchive& archive,
                                            const SchedulerBase& scheduler) {
  scheduler.save(archive);
  return archive;
}

torch::serialize::InputArchive& operator>>(torch::serialize::InputArchive& archive,
                                           SchedulerBase& scheduler) {
  scheduler.load(archive);
  return archive;
}

}  // namespace torchlr
