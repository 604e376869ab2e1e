// SWALR (torch.optim.swa_utils): what the shared reference cases (test_extra_schedules.cpp) do
// not show: annealing from an lr changed by the program, anneal_epochs 0, refusals with
// PyTorch's words, and checkpoints.

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <torchlr/torchlr.h>

#include "helpers.h"
#include "trace_subject.h"

namespace {

using torchlr::testing::SgdFixture;
using json = nlohmann::json;

TEST(SWALR, AnnealsFromWhateverLrTheGroupHas) {
  SgdFixture f({0.1});
  torchlr::SWALR s(*f.optimizer, torchlr::SWALROptions(0.01).anneal_epochs(4).anneal_strategy(torchlr::AnnealStrategy::linear));
  EXPECT_EQ(f.lr(), 0.1);  // construction leaves the lr as it is when anneal_epochs > 0
  f.optimizer_step();
  s.step();
  EXPECT_EQ(f.lr(), 0.07750000000000001);
  f.set_lr(0.2);  // the program changes the lr; SWALR rebuilds its start from it, as PyTorch does
  std::vector<double> lrs;
  for (int i = 0; i < 4; ++i) {
    f.optimizer_step();
    s.step();
    lrs.push_back(f.lr());
  }
  // PyTorch's formulas (tools/reference/make_traces.py runs PyTorch itself for the shared cases).
  EXPECT_EQ(lrs, (std::vector<double>{0.1366666666666667, 0.07333333333333333, 0.01, 0.01}));
  EXPECT_EQ(s.swa_lrs(), std::vector<double>{0.01});
}

TEST(SWALR, ZeroAnnealEpochsSetsTheSwaLrAtConstruction) {
  SgdFixture f({0.1, 0.3});
  torchlr::SWALR s(*f.optimizer, torchlr::SWALROptions({0.05, 0.02}).anneal_epochs(0));
  EXPECT_EQ(f.lr(0), 0.05);
  EXPECT_EQ(f.lr(1), 0.02);
  f.optimizer_step();
  s.step();
  EXPECT_EQ(s.get_last_lr(), (std::vector<double>{0.05, 0.02}));
}

TEST(SWALR, RefusesWithPyTorchsWords) {
  SgdFixture f({0.1, 0.3});
  EXPECT_VALUE_ERROR(torchlr::SWALR(*f.optimizer, torchlr::SWALROptions(0.05).anneal_epochs(-1)),
                     "anneal_epochs must be equal or greater than 0, got -1");
  EXPECT_VALUE_ERROR(torchlr::SWALR(*f.optimizer, torchlr::SWALROptions({0.05, 0.02, 0.01})),
                     "swa_lr must have the same length as optimizer.param_groups");
  EXPECT_VALUE_ERROR(torchlr::SWALR(*f.optimizer, torchlr::SWALROptions(std::numeric_limits<double>::quiet_NaN())),
                     "SWALR: swa_lr must be finite");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(*f.optimizer, torchlr::Config{{"name", "SWALR"}, {"swa_lr", 0.05}, {"anneal_epochs", 2.0}}),
                     "scheduler.anneal_epochs: anneal_epochs must be equal or greater than 0, got 2.0");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(*f.optimizer, torchlr::Config{{"name", "SWALR"}, {"swa_lr", 0.05}, {"anneal_strategy", "cosine"}}),
                     "anneal_strategy must be one of 'cos' or 'linear', instead got cosine");
  EXPECT_VALUE_ERROR(torchlr::make_scheduler(*f.optimizer, torchlr::Config{{"name", "SWALR"}}), "swa_lr");
  // Nothing was written by the refused constructions.
  EXPECT_EQ(f.lr(0), 0.1);
  EXPECT_EQ(f.lr(1), 0.3);
}

// A SequentialLR's switch is SWALR's first step (PyTorch 2.6's `step(0)`): with a linear anneal
// over 2 steps it is halfway at the switch and at swa_lr one step later.
TEST(SWALR, ASequentialSwitchIsItsFirstStep) {
  SgdFixture f({0.1});
  auto hold = std::make_shared<torchlr::ExponentialLR>(*f.optimizer, torchlr::ExponentialLROptions(1.0));
  auto swa = std::make_shared<torchlr::SWALR>(
      *f.optimizer, torchlr::SWALROptions(0.02).anneal_epochs(2).anneal_strategy(torchlr::AnnealStrategy::linear));
  torchlr::SequentialLR s(*f.optimizer, torchlr::SequentialLROptions({hold, swa}, {2}));
  const auto lrs = torchlr::testing::trajectory(f, s, 4);
  EXPECT_EQ(lrs, (std::vector<double>{0.1, 0.1, 0.060000000000000005, 0.02, 0.02}));  // 0.02·0.5 + 0.1·0.5
}

TEST(SWALR, OptionsAgreeWithALoadedCheckpoint) {
  SgdFixture a({0.1, 0.2}), b({0.1, 0.2});
  torchlr::SWALR saved(*a.optimizer, torchlr::SWALROptions({0.03, 0.004}).anneal_epochs(3));
  torchlr::SWALR loaded(*b.optimizer, torchlr::SWALROptions(0.5));
  torch::serialize::OutputArchive out;
  saved.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  std::istringstream in_bytes(bytes.str());
  torch::serialize::InputArchive in;
  in.load_from(in_bytes);
  loaded.load(in);
  EXPECT_EQ(loaded.swa_lrs(), (std::vector<double>{0.03, 0.004}));
  EXPECT_EQ(loaded.options().swa_lr().values(), (std::vector<double>{0.03, 0.004}));
  EXPECT_EQ(loaded.options().anneal_epochs(), 3);
}

// The checkpoint carries every option: it resumes into a SWALR built with other ones, alone and
// as the second scheduler of a SequentialLR (PyTorch's SWA recipe).
TEST(SWALR, CheckpointsCarryEveryOption) {
  const json optimizer{{"name", "SGD"}, {"lr", 0.1}, {"param_groups", json::array({json{{"lr", 0.4}}, json::object()})}};
  const json saved{{"name", "SWALR"}, {"swa_lr", {0.03, 0.007}}, {"anneal_epochs", 7}, {"anneal_strategy", "cos"}};
  const json other{{"name", "SWALR"}, {"swa_lr", 0.5}, {"anneal_epochs", 2}, {"anneal_strategy", "linear"}};
  auto sequential = [](const json& swa) {
    return json{{"name", "SequentialLR"}, {"schedulers", {json{{"name", "ExponentialLR"}, {"gamma", 0.9}}, swa}}, {"milestones", {4}}};
  };
  const std::vector<std::pair<json, json>> pairs{{saved, other}, {sequential(saved), sequential(other)}};
  for (const auto& [config, different] : pairs) {
    for (int k : {0, 2, 5, 9}) {
      SCOPED_TRACE(config.dump() + " saved after " + std::to_string(k) + " steps");
      torchlr::testing::TraceSubject original(optimizer, config);
      for (int i = 0; i < k; ++i) original.scheduler->step_with(std::nullopt);
      torchlr::testing::TraceSubject resumed(optimizer, different);
      resumed.load_bytes(original.save_bytes());
      EXPECT_EQ(resumed.last_lr(), original.last_lr());
      for (int i = 0; i < 12; ++i) {
        original.scheduler->step_with(std::nullopt);
        resumed.scheduler->step_with(std::nullopt);
        ASSERT_EQ(resumed.last_lr(), original.last_lr()) << "step " << k + i + 1;
      }
      const auto& swa = dynamic_cast<const torchlr::SWALR&>(
          config["name"] == "SWALR" ? *resumed.scheduler
                                    : *dynamic_cast<const torchlr::SequentialLR&>(*resumed.scheduler).schedulers()[1]);
      EXPECT_EQ(swa.swa_lrs(), (std::vector<double>{0.03, 0.007}));
      EXPECT_EQ(swa.options().anneal_epochs(), 7);
      EXPECT_EQ(swa.options().anneal_strategy(), torchlr::AnnealStrategy::cos);
    }
  }
}

}  // namespace
