#pragma once

// Data-parallel training over several processes (one per device, launched like torchrun): what
// the range test, ReduceLROnPlateau and checkpoints need so that every rank stays in step.
//
//     // a c10d process group the program already has (Gloo on CPUs, NCCL on GPUs), or:
//     auto pg = torchlr::gloo_process_group_from_env();   // MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
//     auto r = torchlr::lr_find(*model, optimizer, *loader, loss_fn, torchlr::LRFinderOptions().process_group(pg));
//     torchlr::ReduceLROnPlateau plateau(optimizer, torchlr::ReduceLROnPlateauOptions().process_group(pg));
//
// This header does not include c10d: a process group is taken as c10::intrusive_ptr<c10d::ProcessGroup>
// (declared here, defined by <torch/csrc/distributed/c10d/ProcessGroup.hpp>, which the program
// includes). Every rank must make the same calls in the same order: each of them is a collective.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <c10/util/intrusive_ptr.h>

namespace at {
class Tensor;
}  // namespace at
namespace c10d {
class ProcessGroup;
}  // namespace c10d
namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace torchlr {

class SchedulerBase;

/// What torchlr needs of a group of processes. torchlr adapts a c10d process group to it; a
/// program with another transport (MPI, a test harness) implements these four calls.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Sums `tensor` element-wise over all ranks, in place; every rank passes a tensor of the same
  /// shape and dtype (float64 for torchlr's own numbers, the gradients' dtype for gradients).
  virtual void all_reduce_sum(at::Tensor& tensor) = 0;
  /// Gives every rank `root`'s bytes.
  virtual void broadcast(std::string& bytes, int root) = 0;
  virtual void barrier() = 0;
};

/// A handle on the processes a program trains on; the default is one process, where every call
/// is free and does nothing. Cheap to copy (the communicator is shared).
class Distributed {
 public:
  Distributed() = default;
  explicit Distributed(std::shared_ptr<Communicator> communicator);
  /// A c10d process group (any backend: only its collectives are used). A c10::ValueError when
  /// torchlr was built without c10d (TORCHLR_WITH_C10D=OFF, or a LibTorch without distributed).
  explicit Distributed(const c10::intrusive_ptr<c10d::ProcessGroup>& process_group);

  /// More than one process.
  bool active() const noexcept { return size_ > 1; }
  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  /// Rank 0, the one that writes files and prints.
  bool is_main() const noexcept { return rank_ == 0; }
  Communicator* communicator() const noexcept { return communicator_.get(); }

  /// The element-wise sum of `values` over all ranks (one collective).
  std::vector<double> sum(std::vector<double> values) const;
  /// The mean of `value` over all ranks.
  double mean(double value) const;
  /// Averages every parameter's gradient over the ranks (what PyTorch's DDP does during backward,
  /// done once after it): one collective per dtype and device, plus one for which parameters have
  /// a gradient on some rank (a parameter without one on a rank counts as a zero gradient there;
  /// one without a gradient on every rank is left without).
  void average_gradients(torch::optim::Optimizer& optimizer) const;
  void barrier() const;

  /// Gives every rank the state of `root`'s scheduler (and the lrs it wrote): save on one rank,
  /// load everywhere, without a shared file system.
  void broadcast_state(SchedulerBase& scheduler, int root = 0) const;
  /// Throws c10::Error on every rank unless every rank's scheduler holds the same state (its
  /// checkpoint, bit for bit) and its optimizer the same lrs.
  void check_same(const SchedulerBase& scheduler) const;
  /// Whether every rank passed the same 64-bit value (one collective; exact for up to 1024 ranks).
  bool same_everywhere(uint64_t value) const;

 private:
  std::shared_ptr<Communicator> communicator_;
  int rank_ = 0;
  int size_ = 1;
};

/// Whether this torchlr was built with c10d (process groups) and with Gloo (the helpers below).
bool has_c10d() noexcept;
bool has_gloo() noexcept;

/// A Gloo process group from torchrun's environment: MASTER_ADDR, MASTER_PORT, RANK and
/// WORLD_SIZE (a missing or malformed one is a c10::ValueError naming it). The TCPStore is hosted
/// by rank 0, or by torchrun's agent when TORCHELASTIC_USE_AGENT_STORE=True (every rank a
/// client). Gloo binds to GLOO_SOCKET_IFNAME's interface when set, to 127.0.0.1 when MASTER_ADDR is
/// a loopback address, and otherwise to the local address of the route to MASTER_ADDR. `timeout` bounds every
/// collective and the rendezvous (a rank that dies inside a collective is noticed after it).
c10::intrusive_ptr<c10d::ProcessGroup> gloo_process_group_from_env(
    std::chrono::milliseconds timeout = std::chrono::minutes(30));
/// A Gloo process group on 127.0.0.1 that meets through a file (c10d's FileStore): no ports, for
/// several processes of one machine (tests, a one-machine run).
c10::intrusive_ptr<c10d::ProcessGroup> gloo_process_group_with_file(const std::string& path, int rank, int size,
                                                                    std::chrono::milliseconds timeout = std::chrono::minutes(30));

}  // namespace torchlr
