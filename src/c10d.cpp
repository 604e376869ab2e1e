// torchlr's Communicator over a c10d process group: only its collectives (allreduce, broadcast,
// barrier), which are the same in LibTorch 1.13 and 2.x. Built when TORCHLR_WITH_C10D is on.

#include <torchlr/distributed.h>

#include <cstring>
#include <utility>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/types.h>

#ifndef USE_DISTRIBUTED
#error "src/c10d.cpp needs a LibTorch built with distributed support (USE_DISTRIBUTED); configure with -DTORCHLR_WITH_C10D=OFF"
#endif

namespace torchlr {
namespace {

class ProcessGroupCommunicator final : public Communicator {
 public:
  explicit ProcessGroupCommunicator(c10::intrusive_ptr<c10d::ProcessGroup> group) : group_(std::move(group)) {
    // NCCL reduces tensors on the rank's GPU; every other backend here on the CPU.
    if (group_->getBackendName() == "nccl") device_ = torch::Device(torch::kCUDA);
  }

  int rank() const override { return group_->getRank(); }
  int size() const override { return group_->getSize(); }

  void all_reduce_sum(at::Tensor& tensor) override {
    std::vector<at::Tensor> tensors{tensor.device() == device_ ? tensor : tensor.to(device_)};
    group_->allreduce(tensors)->wait();  // ReduceOp::SUM by default
    if (!tensors.front().is_same(tensor)) tensor.copy_(tensors.front());
  }

  void broadcast(std::string& bytes, int root) override {
    // The length first, then the bytes.
    std::vector<at::Tensor> length{torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kInt64).to(device_)};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    group_->broadcast(length, options)->wait();
    const int64_t n = length.front().cpu().item<int64_t>();
    auto data = torch::empty({n}, torch::kUInt8);
    if (rank() == root && n > 0) std::memcpy(data.data_ptr<uint8_t>(), bytes.data(), static_cast<std::size_t>(n));
    std::vector<at::Tensor> payload{data.to(device_)};
    if (n > 0) group_->broadcast(payload, options)->wait();
    if (rank() != root) {
      const auto received = payload.front().cpu().contiguous();
      bytes.assign(reinterpret_cast<const char*>(received.data_ptr<uint8_t>()), static_cast<std::size_t>(n));
    }
  }

  void barrier() override { group_->barrier()->wait(); }

 private:
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  torch::Device device_ = torch::Device(torch::kCPU);
};

}  // namespace

namespace {
const c10::intrusive_ptr<c10d::ProcessGroup>& checked(const c10::intrusive_ptr<c10d::ProcessGroup>& group) {
  TORCH_CHECK_VALUE(group.defined(), "Distributed: the process group is null");
  return group;
}
}  // namespace

Distributed::Distributed(const c10::intrusive_ptr<c10d::ProcessGroup>& process_group)
    : Distributed(std::make_shared<ProcessGroupCommunicator>(checked(process_group))) {}

bool has_c10d() noexcept { return true; }

}  // namespace torchlr
