#pragma once

// torchlr::Communicator over threads of one process: N ranks, each a thread with its own model
// and optimizer, for testing the data-parallel protocol without processes or sockets. Sums are
// taken in rank order, so every rank gets the very same bits. A rank that waits longer than the
// deadline throws instead of hanging the test.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <torch/types.h>

#include <torchlr/distributed.h>

namespace torchlr::testing {

class ThreadGroup {
 public:
  explicit ThreadGroup(int size, std::chrono::seconds deadline = std::chrono::seconds(30))
      : size_(size), deadline_(deadline), tensors_(static_cast<std::size_t>(size)) {}

  int size() const { return size_; }
  int collectives() const { return collectives_; }

  // One collective: every rank deposits, the last one to arrive combines, every rank collects.
  void meet(int rank, const std::function<void()>& deposit, const std::function<void()>& combine,
            const std::function<void()>& collect) {
    std::unique_lock<std::mutex> lock(mutex_);
    deposit();
    const uint64_t generation = generation_;
    if (++arrived_ == size_) {
      combine();
      arrived_ = 0;
      ++generation_;
      ++collectives_;
      changed_.notify_all();
    } else if (!changed_.wait_for(lock, deadline_, [&] { return generation_ != generation; })) {
      --arrived_;  // this rank leaves: a later collective must not count it
      throw std::runtime_error("ThreadGroup: rank " + std::to_string(rank) + " waited in vain for the other ranks");
    }
    collect();
  }

  std::vector<at::Tensor>& tensors() { return tensors_; }
  at::Tensor& result() { return result_; }
  std::string& bytes() { return bytes_; }

 private:
  int size_;
  std::chrono::seconds deadline_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  int collectives_ = 0;
  std::vector<at::Tensor> tensors_;
  at::Tensor result_;
  std::string bytes_;
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<ThreadGroup> group, int rank) : group_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }

  void all_reduce_sum(at::Tensor& tensor) override {
    auto& g = *group_;
    g.meet(
        rank_, [&] { g.tensors()[static_cast<std::size_t>(rank_)] = tensor.detach().clone(); },
        [&] {
          auto sum = g.tensors().front().clone();
          for (std::size_t r = 1; r < g.tensors().size(); ++r) sum += g.tensors()[r];
          g.result() = sum;
        },
        [&] { tensor.copy_(g.result()); });
  }

  void broadcast(std::string& bytes, int root) override {
    auto& g = *group_;
    g.meet(
        rank_, [&] {
          if (rank_ == root) g.bytes() = bytes;
        },
        [] {}, [&] { bytes = g.bytes(); });
  }

  void barrier() override {
    group_->meet(rank_, [] {}, [] {}, [] {});
  }

 private:
  std::shared_ptr<ThreadGroup> group_;
  int rank_;
};

/// Runs `body(rank, distributed)` on `size` threads, one Distributed handle each; rethrows the
/// first exception a thread let escape (after every thread ended).
inline void run_ranks(int size, const std::function<void(int, const Distributed&)>& body) {
  auto group = std::make_shared<ThreadGroup>(size);
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      try {
        body(r, Distributed(std::make_shared<ThreadCommunicator>(group, r)));
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace torchlr::testing
