#include <torchlr/distributed.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <sstream>
#include <unordered_set>
#include <utility>

#include <c10/util/Exception.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include <torchlr/scheduler_base.h>

namespace torchlr {
namespace {

std::string checkpoint_bytes(const SchedulerBase& scheduler) {
  torch::serialize::OutputArchive archive;
  scheduler.save(archive);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

// FNV-1a: a fingerprint to compare, not a secret.
uint64_t fingerprint(const std::string& bytes, uint64_t hash = 1469598103934665603ULL) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

}  // namespace

Distributed::Distributed(std::shared_ptr<Communicator> communicator) : communicator_(std::move(communicator)) {
  TORCH_CHECK_VALUE(communicator_ != nullptr, "Distributed: the communicator is null");
  rank_ = communicator_->rank();
  size_ = communicator_->size();
  TORCH_CHECK_VALUE(size_ >= 1 && rank_ >= 0 && rank_ < size_, "Distributed: rank ", rank_, " of ", size_,
                    " is not a rank of the group");
}

std::vector<double> Distributed::sum(std::vector<double> values) const {
  if (!active() || values.empty()) return values;
  auto tensor = torch::tensor(values, torch::kDouble);
  communicator_->all_reduce_sum(tensor);
  const auto summed = tensor.contiguous();
  std::memcpy(values.data(), summed.data_ptr<double>(), values.size() * sizeof(double));
  return values;
}

double Distributed::mean(double value) const {
  if (!active()) return value;
  return sum({value}).front() / static_cast<double>(size_);
}

void Distributed::barrier() const {
  if (active()) communicator_->barrier();
}

void Distributed::average_gradients(torch::optim::Optimizer& optimizer) const {
  if (!active()) return;
  // Every distinct parameter, in the groups' order (the same on every rank: the replicas are
  // built alike), tied ones once.
  std::vector<at::Tensor> params;
  std::unordered_set<const c10::TensorImpl*> seen;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (seen.insert(p.unsafeGetTensorImpl()).second) params.push_back(p);
    }
  }
  if (params.empty()) return;
  // Which parameters have a gradient on some rank: those take part (a missing one as zeros). The
  // last entry counts sparse gradients, refused on every rank at once (a rank that refused alone
  // would leave the others in the next collective).
  auto has = torch::zeros({static_cast<int64_t>(params.size()) + 1}, torch::kDouble);
  {
    auto h = has.accessor<double, 1>();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& grad = params[i].grad();
      h[static_cast<int64_t>(i)] = grad.defined() ? 1.0 : 0.0;
      if (grad.defined() && grad.is_sparse()) h[static_cast<int64_t>(params.size())] += 1.0;
    }
  }
  communicator_->all_reduce_sum(has);
  auto h = has.accessor<double, 1>();
  TORCH_CHECK_VALUE(h[static_cast<int64_t>(params.size())] == 0.0,
                    "Distributed: sparse gradients are not averaged (a parameter has one on some rank)");
  // One flat buffer per dtype and device, in the order they first appear (the same on every rank).
  std::vector<std::pair<std::pair<int, std::string>, std::vector<std::size_t>>> buckets;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (h[static_cast<int64_t>(i)] == 0.0) continue;
    const std::pair<int, std::string> key{static_cast<int>(params[i].scalar_type()), params[i].device().str()};
    auto it = std::find_if(buckets.begin(), buckets.end(), [&](const auto& b) { return b.first == key; });
    if (it == buckets.end()) it = buckets.insert(buckets.end(), {key, {}});
    it->second.push_back(i);
  }
  torch::NoGradGuard no_grad;
  const double ranks = static_cast<double>(size_);
  for (auto& [key, indices] : buckets) {
    std::vector<at::Tensor> pieces;
    for (std::size_t i : indices) {
      const auto& grad = params[i].grad();
      pieces.push_back(grad.defined() ? grad.reshape({-1}) : torch::zeros({params[i].numel()}, params[i].options()));
    }
    auto flat = torch::cat(pieces);
    communicator_->all_reduce_sum(flat);
    flat.div_(ranks);
    int64_t offset = 0;
    for (std::size_t i : indices) {
      auto& p = params[i];
      auto slice = flat.narrow(0, offset, p.numel()).view(p.sizes());
      offset += p.numel();
      if (p.grad().defined()) {
        p.mutable_grad().copy_(slice);
      } else {
        p.mutable_grad() = slice.clone();
      }
    }
  }
}

void Distributed::broadcast_state(SchedulerBase& scheduler, int root) const {
  if (!active()) return;
  TORCH_CHECK_VALUE(root >= 0 && root < size_, "broadcast_state: root ", root, " is not a rank of ", size_);
  // A status byte first: a root that cannot save tells the others instead of leaving them waiting.
  std::string bytes;
  std::exception_ptr error;
  if (rank_ == root) {
    try {
      bytes = "1" + checkpoint_bytes(scheduler);
    } catch (const std::exception& e) {
      error = std::current_exception();
      bytes = std::string("0") + e.what();
    }
  }
  communicator_->broadcast(bytes, root);
  if (rank_ == root) {
    if (error) std::rethrow_exception(error);
    return;
  }
  TORCH_CHECK(!bytes.empty() && bytes[0] == '1', "broadcast_state: rank ", root, " could not save its ", scheduler.name(),
              ": ", bytes.empty() ? std::string() : bytes.substr(1));
  bytes.erase(0, 1);
  std::istringstream in(bytes);
  torch::serialize::InputArchive archive;
  archive.load_from(in);
  scheduler.load(archive);
}

bool Distributed::same_everywhere(uint64_t value) const {
  if (!active()) return true;
  // Four 16-bit quarters q and their squares: over the ranks, (Σq)² = n·Σq² exactly when every
  // rank's q is the same (the sums stay exact in doubles for up to 1024 ranks).
  std::vector<double> values;
  for (int i = 0; i < 4; ++i) {
    const double q = static_cast<double>((value >> (16 * i)) & 0xFFFF);
    values.push_back(q);
    values.push_back(q * q);
  }
  const auto summed = sum(values);
  bool same = true;
  for (int i = 0; i < 4; ++i) {
    const double s = summed[2 * i];
    same = same && s * s == static_cast<double>(size_) * summed[2 * i + 1];
  }
  return same;
}

void Distributed::check_same(const SchedulerBase& scheduler) const {
  if (!active()) return;
  // A rank that cannot even save (its state is broken) still takes part, with a value no healthy
  // rank has, and rethrows its own error afterwards.
  uint64_t hash = 0;
  std::exception_ptr error;
  try {
    std::string bytes = checkpoint_bytes(scheduler);
    for (const auto& group : scheduler.optimizer().param_groups()) {
      const double lr = group.options().get_lr();
      bytes.append(reinterpret_cast<const char*>(&lr), sizeof(lr));
    }
    hash = fingerprint(bytes);
  } catch (...) {
    error = std::current_exception();
    hash = 0x5a5a5a5a00000000ULL + static_cast<uint64_t>(rank_);
  }
  const bool same = same_everywhere(hash);
  if (error) std::rethrow_exception(error);
  TORCH_CHECK(same, "check_same: the ranks' ", scheduler.name(),
              " differ (their checkpoints or the lrs they wrote are not the same on every rank)");
}

#ifndef TORCHLR_WITH_C10D
Distributed::Distributed(const c10::intrusive_ptr<c10d::ProcessGroup>&) {
  TORCH_CHECK_VALUE(false, "torchlr was built without c10d (TORCHLR_WITH_C10D=OFF, or this LibTorch has no "
                           "distributed support), so it cannot use a process group");
}
bool has_c10d() noexcept { return false; }
#endif

#ifndef TORCHLR_WITH_GLOO
namespace {
[[noreturn]] void no_gloo() {
  C10_THROW_ERROR(ValueError, "torchlr was built without Gloo (no gloo headers: on Debian, apt-get install "
                              "libgloo-dev and configure again), so it cannot create a Gloo process group");
}
}  // namespace
c10::intrusive_ptr<c10d::ProcessGroup> gloo_process_group_from_env(std::chrono::milliseconds) { no_gloo(); }
c10::intrusive_ptr<c10d::ProcessGroup> gloo_process_group_with_file(const std::string&, int, int,
                                                                    std::chrono::milliseconds) {
  no_gloo();
}
bool has_gloo() noexcept { return false; }
#endif

}  // namespace torchlr
