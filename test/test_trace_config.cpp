// The trace config reader (tools/trace.cpp): every argument PyTorch requires is required here
// too, and its absence is refused naming the key, rather than read as zero.

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "helpers.h"
#include "trace.h"

namespace {

using nlohmann::json;

struct RequiredArguments {
  json scheduler;                     // a valid config holding just the required arguments
  std::vector<std::string> required;  // the arguments of PyTorch's signature without a default
};

// PyTorch's signatures (torch.optim.lr_scheduler): the arguments after `optimizer` that have no
// default value. Schedulers with none (ConstantLR, LinearLR, PolynomialLR, ReduceLROnPlateau)
// accept a config holding only the name.
std::vector<RequiredArguments> cases() {
  return {
      {{{"name", "StepLR"}, {"step_size", 2}}, {"step_size"}},
      {{{"name", "MultiStepLR"}, {"milestones", {2, 4}}}, {"milestones"}},
      {{{"name", "ExponentialLR"}, {"gamma", 0.5}}, {"gamma"}},
      {{{"name", "CosineAnnealingLR"}, {"T_max", 4}}, {"T_max"}},
      {{{"name", "CosineAnnealingWarmRestarts"}, {"T_0", 3}}, {"T_0"}},
      {{{"name", "CyclicLR"}, {"base_lr", 0.01}, {"max_lr", 0.1}}, {"base_lr", "max_lr"}},
      {{{"name", "OneCycleLR"}, {"max_lr", 0.1}, {"total_steps", 5}}, {"max_lr"}},
      {{{"name", "SequentialLR"},
        {"schedulers", {{{"name", "ConstantLR"}}, {{"name", "ExponentialLR"}, {"gamma", 0.9}}}},
        {"milestones", {2}}},
       {"schedulers", "milestones"}},
      {{{"name", "ChainedScheduler"}, {"schedulers", {{{"name", "ConstantLR"}}}}}, {"schedulers"}},
      {{{"name", "ConstantLR"}}, {}},
      {{{"name", "LinearLR"}}, {}},
      {{{"name", "PolynomialLR"}}, {}},
  };
}

json config_with(const json& scheduler) {
  return {{"optimizer", {{"name", "SGD"}, {"lr", 0.1}, {"momentum", 0.9}}}, {"scheduler", scheduler}, {"steps", 4}};
}

TEST(TraceConfig, EveryArgumentPyTorchRequiresIsRequired) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.scheduler.dump());
    EXPECT_NO_THROW(torchlr::trace::TraceRun(config_with(c.scheduler)).run());
    for (const auto& key : c.required) {
      json without = c.scheduler;
      without.erase(key);
      EXPECT_VALUE_ERROR(torchlr::trace::TraceRun{config_with(without)}, "scheduler: missing required key '" + key + "'");
    }
  }
}

TEST(TraceConfig, PlateauNeedsNoArgument) {
  json config = config_with({{"name", "ReduceLROnPlateau"}});
  config["metrics"] = {1.0, 2.0, 3.0, 4.0};
  EXPECT_NO_THROW(torchlr::trace::TraceRun(config).run());
}

// Where PyTorch checks that an argument is an int, a number that is not one gets PyTorch's own
// message (the reader's generic "must be an integer" would hide which check it failed).
TEST(TraceConfig, NonIntegralPeriodsGetPyTorchsRefusal) {
  EXPECT_VALUE_ERROR(torchlr::trace::TraceRun{config_with({{"name", "CosineAnnealingWarmRestarts"}, {"T_0", 2}, {"T_mult", 1.5}})},
                     "scheduler.T_mult: Expected integer T_mult >= 1, but got 1.5");
  EXPECT_VALUE_ERROR(torchlr::trace::TraceRun{config_with({{"name", "CosineAnnealingWarmRestarts"}, {"T_0", 2.5}})},
                     "scheduler.T_0: Expected positive integer T_0, but got 2.5");
  EXPECT_VALUE_ERROR(torchlr::trace::TraceRun{config_with({{"name", "CosineAnnealingWarmRestarts"}, {"T_0", "2"}})},
                     "scheduler.T_0 must be an integer");
}

}  // namespace
