// The data-parallel protocol (torchlr/distributed.h) on ranks that are threads of this process
// (test/thread_communicator.h): the range test records one curve on every rank, the same as one
// process on the global batch; a throw or a NaN on one rank stops every rank at the same step;
// ReduceLROnPlateau keeps every rank's lrs equal; scheduler state is broadcast and compared.
// test_distributed_processes.cpp runs the same over real processes and Gloo.

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/activation.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>

#include <torchlr/distributed.h>
#include <torchlr/lr_finder.h>
#include <torchlr/plateau.h>
#include <torchlr/decay.h>

#include "helpers.h"
#include "distributed_problem.h"
#include "thread_communicator.h"

namespace {

using torchlr::Distributed;
using torchlr::LRFinderOptions;
using torchlr::LRFinderResult;
using torchlr::testing::Problem;
using torchlr::testing::run_ranks;

LRFinderOptions finder_options() {
  return LRFinderOptions().min_lr(1e-4).max_lr(100.0).num_iter(60).progress_bar(false);
}

std::vector<torch::Tensor> weights(torch::nn::Sequential& model) {
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  return out;
}

TEST(Distributed, OneProcessIsTheDefaultAndCostsNothing) {
  const Distributed one;
  EXPECT_FALSE(one.active());
  EXPECT_EQ(one.size(), 1);
  EXPECT_TRUE(one.is_main());
  EXPECT_EQ(one.sum({1.5, 2.5}), (std::vector<double>{1.5, 2.5}));
  EXPECT_EQ(one.mean(0.25), 0.25);
  EXPECT_FALSE(LRFinderOptions().distributed().active());
  EXPECT_FALSE(torchlr::ReduceLROnPlateauOptions().distributed().active());
}

TEST(Distributed, EveryRankRecordsTheCurveOfTheGlobalBatch) {
  for (int size : {2, 3}) {
    SCOPED_TRACE(std::to_string(size) + " ranks");
    const Problem problem(size);
    std::vector<std::optional<LRFinderResult>> results(static_cast<std::size_t>(size));
    std::vector<bool> restored(static_cast<std::size_t>(size), false);
    run_ranks(size, [&](int rank, const Distributed& dist) {
      auto model = problem.replica();
      const auto before = weights(model);
      torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(1e-3).momentum(0.9));
      int64_t i = 0;
      auto loss = [&] {
        auto [x, y] = problem.batch(rank, i++);
        return torch::mse_loss(model->forward(x), y);
      };
      results[static_cast<std::size_t>(rank)] = torchlr::lr_find(*model, optimizer, loss, finder_options().distributed(dist));
      const auto after = weights(model);
      bool same = true;
      for (std::size_t k = 0; k < after.size(); ++k) same = same && torch::equal(before[k], after[k]);
      restored[static_cast<std::size_t>(rank)] = same;
    });
    const LRFinderResult& first = *results.front();
    EXPECT_EQ(first.stop_reason(), torchlr::StopReason::diverged);
    for (int r = 0; r < size; ++r) {
      const LRFinderResult& other = *results[static_cast<std::size_t>(r)];
      EXPECT_TRUE(restored[static_cast<std::size_t>(r)]) << "rank " << r;
      // Bit for bit: every rank decided on the same doubles.
      EXPECT_EQ(other.lrs(), first.lrs()) << "rank " << r;
      EXPECT_EQ(other.raw_losses(), first.raw_losses()) << "rank " << r;
      EXPECT_EQ(other.losses(), first.losses()) << "rank " << r;
      EXPECT_EQ(other.stop_reason(), first.stop_reason()) << "rank " << r;
      EXPECT_EQ(other.suggestion(), first.suggestion()) << "rank " << r;
    }
    // One process on the ranks' batches together: the same curve but for rounding (the mean of
    // the ranks' means and gradients is the global batch's).
    auto model = problem.replica();
    torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(1e-3).momentum(0.9));
    int64_t i = 0;
    auto loss = [&] {
      auto [x, y] = problem.global_batch(i++);
      return torch::mse_loss(model->forward(x), y);
    };
    const auto single = torchlr::lr_find(*model, optimizer, loss, finder_options());
    ASSERT_GE(single.raw_losses().size(), 40u);
    ASSERT_GE(first.raw_losses().size(), 40u);
    for (std::size_t k = 0; k < 40; ++k) {
      EXPECT_TRUE(torchlr::testing::RelClose(first.raw_losses()[k], single.raw_losses()[k], 1e-9)) << "point " << k;
    }
    EXPECT_EQ(first.lrs().front(), single.lrs().front());
  }
}

TEST(Distributed, ALossFunctionThatThrowsOnOneRankStopsEveryRankAtThatStep) {
  const int size = 3;
  const Problem problem(size);
  for (int64_t at : {0, 7, 23}) {
    SCOPED_TRACE("rank 1 throws at step " + std::to_string(at));
    std::vector<std::string> errors(size);
    std::vector<bool> restored(size, false);
    run_ranks(size, [&](int rank, const Distributed& dist) {
      auto model = problem.replica();
      const auto before = weights(model);
      torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(1e-3).momentum(0.9));
      int64_t i = 0;
      auto loss = [&] {
        if (rank == 1 && i == at) throw std::runtime_error("the loss of rank 1 broke");
        auto [x, y] = problem.batch(rank, i++);
        return torch::mse_loss(model->forward(x), y);
      };
      try {
        torchlr::lr_find(*model, optimizer, loss, finder_options().distributed(dist));
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(rank)] = e.what();
      }
      const auto after = weights(model);
      bool same = true;
      for (std::size_t k = 0; k < after.size(); ++k) same = same && torch::equal(before[k], after[k]);
      restored[static_cast<std::size_t>(rank)] = same;
    });
    // The rank that threw gets its own exception; the others a c10::Error naming the step.
    EXPECT_EQ(errors[1], "the loss of rank 1 broke");
    for (int r : {0, 2}) {
      EXPECT_NE(errors[static_cast<std::size_t>(r)].find("lr_find: 1 of 3 ranks failed at step " + std::to_string(at) +
                                                         " (a loss function, or its data, optimizer step or on_step "
                                                         "threw there); every rank stops there"),
                std::string::npos)
          << errors[static_cast<std::size_t>(r)];
    }
    for (int r = 0; r < size; ++r) EXPECT_TRUE(restored[static_cast<std::size_t>(r)]) << "rank " << r;
  }
}

TEST(Distributed, AnOnStepCallbackThatThrowsOnOneRankStopsEveryRank) {
  // on_step runs after the step's agreement: its failure is reported at the next collective.
  const int size = 2;
  const Problem problem(size);
  for (int64_t at : {3, 59}) {  // 59: the last step, reported by the test's final agreement
    SCOPED_TRACE("on_step throws at step " + std::to_string(at));
    std::vector<std::string> errors(size);
    run_ranks(size, [&](int rank, const Distributed& dist) {
      auto model = problem.replica();
      torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(1e-5));
      int64_t i = 0;
      auto loss = [&] {
        auto [x, y] = problem.batch(rank, i++);
        return torch::mse_loss(model->forward(x), y);
      };
      auto options = finder_options().max_lr(1e-3).early_stop_threshold(std::nullopt).distributed(dist);
      options.on_step([&](const torchlr::LRFinderStep& s) {
        if (rank == 0 && s.step == at) throw std::runtime_error("logging failed");
      });
      try {
        torchlr::lr_find(*model, optimizer, loss, options);
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(rank)] = e.what();
      }
    });
    EXPECT_EQ(errors[0], "logging failed");
    EXPECT_NE(errors[1].find("1 of 2 ranks failed"), std::string::npos) << errors[1];
  }
}

TEST(Distributed, RanksWithDifferentOptionsAreRefusedOnEveryRank) {
  const Problem problem(2);
  std::vector<std::string> errors(2);
  run_ranks(2, [&](int rank, const Distributed& dist) {
    auto model = problem.replica();
    torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(1e-3));
    int64_t i = 0;
    auto loss = [&] {
      auto [x, y] = problem.batch(rank, i++);
      return torch::mse_loss(model->forward(x), y);
    };
    try {
      torchlr::lr_find(*model, optimizer, loss, finder_options().num_iter(rank == 0 ? 60 : 61).distributed(dist));
    } catch (const c10::ValueError& e) {
      errors[static_cast<std::size_t>(rank)] = e.what_without_backtrace();
    }
  });
  for (const auto& e : errors) EXPECT_NE(e.find("the ranks run the range test with different options"), std::string::npos) << e;
}

TEST(Distributed, ANonFiniteLossOnOneRankStopsEveryRankAtThatStep) {
  const int size = 3;
  const Problem problem(size);
  std::vector<std::optional<LRFinderResult>> results(size);
  run_ranks(size, [&](int rank, const Distributed& dist) {
    auto model = problem.replica();
    torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(1e-3));
    int64_t i = 0;
    auto loss = [&] {
      const int64_t step = i;
      auto [x, y] = problem.batch(rank, i++);
      auto l = torch::mse_loss(model->forward(x), y);
      return rank == 2 && step == 17 ? l * std::numeric_limits<double>::quiet_NaN() : l;
    };
    results[static_cast<std::size_t>(rank)] = torchlr::lr_find(*model, optimizer, loss, finder_options().distributed(dist));
  });
  for (int r = 0; r < size; ++r) {
    const auto& result = *results[static_cast<std::size_t>(r)];
    EXPECT_EQ(result.stop_reason(), torchlr::StopReason::non_finite_loss) << "rank " << r;
    EXPECT_EQ(result.raw_losses().size(), 17u) << "rank " << r;
    EXPECT_EQ(result.raw_losses(), results[0]->raw_losses());
  }
}

TEST(Distributed, GradientsAreAveragedOverTheRanks) {
  const int size = 3;
  run_ranks(size, [&](int rank, const Distributed& dist) {
    auto w = torch::zeros({2}, torch::kDouble).requires_grad_();
    auto unused = torch::zeros({1}, torch::kDouble).requires_grad_();  // a gradient on rank 0 only
    auto nowhere = torch::zeros({1}, torch::kDouble).requires_grad_();  // on no rank
    torch::optim::SGD optimizer({w, unused, nowhere}, torch::optim::SGDOptions(0.1));
    w.mutable_grad() = torch::tensor({1.0 * rank, 10.0 + rank}, torch::kDouble);
    if (rank == 0) unused.mutable_grad() = torch::tensor({3.0}, torch::kDouble);
    dist.average_gradients(optimizer);
    EXPECT_TRUE(torch::equal(w.grad(), torch::tensor({1.0, 11.0}, torch::kDouble)));
    EXPECT_TRUE(torch::equal(unused.grad(), torch::tensor({1.0}, torch::kDouble)));
    EXPECT_FALSE(nowhere.grad().defined());
  });
}

TEST(Distributed, ThePlateauAveragesItsMetricSoEveryRanksLrsStayEqual) {
  const int size = 3;
  // Each rank sees its own validation loss; their mean stalls from epoch 3 on.
  auto local_metric = [](int rank, int epoch) { return (epoch < 3 ? 3.0 - epoch : 1.0) + 0.5 * (rank - 1); };
  std::vector<std::vector<double>> lrs(size);
  run_ranks(size, [&](int rank, const Distributed& dist) {
    torchlr::testing::SgdFixture f({1.0, 0.5});
    torchlr::ReduceLROnPlateau plateau(*f.optimizer,
                                       torchlr::ReduceLROnPlateauOptions().patience(1).factor(0.5).distributed(dist));
    for (int epoch = 0; epoch < 10; ++epoch) {
      plateau.step(local_metric(rank, epoch));
      lrs[static_cast<std::size_t>(rank)].push_back(f.lr(0));
      lrs[static_cast<std::size_t>(rank)].push_back(f.lr(1));
    }
    dist.check_same(plateau);
  });
  // The same as one plateau fed the mean.
  torchlr::testing::SgdFixture f({1.0, 0.5});
  torchlr::ReduceLROnPlateau plateau(*f.optimizer, torchlr::ReduceLROnPlateauOptions().patience(1).factor(0.5));
  std::vector<double> expected;
  for (int epoch = 0; epoch < 10; ++epoch) {
    plateau.step((local_metric(0, epoch) + local_metric(1, epoch) + local_metric(2, epoch)) / 3);
    expected.push_back(f.lr(0));
    expected.push_back(f.lr(1));
  }
  EXPECT_NE(expected.back(), 0.5);  // it did reduce
  for (int r = 0; r < size; ++r) EXPECT_EQ(lrs[static_cast<std::size_t>(r)], expected) << "rank " << r;
}

TEST(Distributed, ANonFiniteMetricOnOneRankIsNoImprovementAnywhere) {
  run_ranks(2, [&](int rank, const Distributed& dist) {
    torchlr::testing::SgdFixture f({1.0});
    torchlr::ReduceLROnPlateau plateau(*f.optimizer, torchlr::ReduceLROnPlateauOptions().patience(0).distributed(dist));
    plateau.step(1.0);
    plateau.step(rank == 1 ? std::numeric_limits<double>::infinity() : 0.1);  // not an improvement
    EXPECT_EQ(plateau.best(), 1.0);
    EXPECT_EQ(f.lr(), 0.1);
  });
}

TEST(Distributed, StateIsBroadcastFromOneRankAndCompared) {
  const int size = 3;
  std::vector<std::string> errors(size);
  run_ranks(size, [&](int rank, const Distributed& dist) {
    torchlr::testing::SgdFixture f({0.1, 0.2});
    torchlr::StepLR s(*f.optimizer, torchlr::StepLROptions(2).gamma(0.5));
    if (rank == 0) {
      for (int i = 0; i < 5; ++i) {
        f.optimizer_step();
        s.step();
      }
    }
    dist.broadcast_state(s);
    EXPECT_EQ(s.last_epoch(), 5);
    EXPECT_EQ(f.lr(1), 0.2 * 0.25);
    dist.check_same(s);  // passes
    if (rank == 2) s.step();
    try {
      dist.check_same(s);
    } catch (const c10::Error& e) {
      errors[static_cast<std::size_t>(rank)] = e.what_without_backtrace();
    }
  });
  for (const auto& e : errors) EXPECT_NE(e.find("check_same: the ranks' StepLR differ"), std::string::npos) << e;
}

}  // namespace
