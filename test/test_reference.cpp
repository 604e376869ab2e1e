// Replays every PyTorch reference trace (test/data/trace_cases.jsonl) through the C++ API and
// compares every group's lr and momentum after every step, within 1e-12 relative.

#include <fstream>
#include <map>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <torchlr/factory.h>

#include "helpers.h"
#include "trace.h"

namespace {

using nlohmann::json;
using torchlr::testing::RelClose;

std::vector<json> load_cases() {
  std::ifstream in(TORCHLR_TEST_DATA_DIR "/trace_cases.jsonl");
  std::vector<json> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) cases.push_back(json::parse(line));
  }
  return cases;
}

// What torchlr says where PyTorch raised something other than a ValueError: Python's own errors
// from a division by zero or a string where a number belongs, which torchlr refuses up front.
const std::map<std::pair<std::string, std::string>, std::string> kOtherRefusals = {
    {{"ZeroDivisionError: integer modulo by zero", "StepLR"},
     "StepLR: step_size must be a positive integer, but got 0"},
    {{"ZeroDivisionError: integer modulo by zero", "CosineAnnealingLR"},
     "CosineAnnealingLR: T_max must be a positive integer (at most 2^52), but got 0"},
    {{"TypeError: can't multiply sequence by non-int of type 'float'", "ExponentialLR"},
     "scheduler.gamma must be a number, but got \"fast\""},
};

// The message torchlr's refusal must contain: PyTorch's own for a ValueError (torchlr carries
// PyTorch's wording, the config reader's checks included), else the one recorded above.
std::string expected_refusal(const std::string& python_error, const std::string& scheduler) {
  const std::string value_error = "ValueError: ";
  if (python_error.rfind(value_error, 0) == 0) return python_error.substr(value_error.size());
  const auto it = kOtherRefusals.find({python_error, scheduler});
  if (it == kOtherRefusals.end()) {
    ADD_FAILURE() << "no torchlr refusal recorded for PyTorch's " << python_error << " (" << scheduler << ")";
    return python_error;
  }
  return it->second;
}

TEST(Reference, EveryImplementedCaseMatchesPyTorch) {
  const auto cases = load_cases();
  ASSERT_EQ(cases.size(), 395u);
  int compared = 0;
  int refused = 0;
  for (const auto& c : cases) {
    const std::string id = c["id"];
    SCOPED_TRACE(id);
    // Every scheduler the reference file covers is in torchlr's table.
    ASSERT_TRUE(torchlr::find_scheduler(c["config"]["scheduler"]["name"]).has_value());
    const json& expect = c["expect"];
    if (expect.contains("error")) {
      // PyTorch refused it (or crashed dividing by zero): torchlr must refuse it with a
      // c10::ValueError, at construction or at the failing step, and with the refusal that
      // matches PyTorch's.
      const std::string expected = expected_refusal(expect["error"], c["config"]["scheduler"]["name"]);
      try {
        torchlr::trace::TraceRun run(c["config"]);
        run.run();
        ADD_FAILURE() << "accepted a config PyTorch refuses: " << expect["error"];
      } catch (const c10::ValueError& e) {
        const std::string ours = e.what_without_backtrace();
        EXPECT_NE(ours.find(expected), std::string::npos) << "ours: " << ours << "\nexpected: " << expected
                                                          << "\nPyTorch: " << expect["error"];
      }
      ++refused;
      continue;
    }
    torchlr::trace::TraceRun run(c["config"]);
    const auto rows = run.run();
    const json& expected = expect["rows"];
    ASSERT_EQ(rows.size(), expected.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const json& e = expected[i];
      ASSERT_EQ(rows[i].step, e[0].get<int64_t>());
      ASSERT_EQ(rows[i].group, e[1].get<std::size_t>());
      EXPECT_TRUE(RelClose(rows[i].lr, e[2].get<double>())) << "lr, row " << i;
      if (e[3].is_null()) {
        EXPECT_FALSE(rows[i].momentum.has_value()) << "row " << i;
      } else {
        ASSERT_TRUE(rows[i].momentum.has_value()) << "row " << i;
        EXPECT_TRUE(RelClose(*rows[i].momentum, e[3].get<double>())) << "momentum, row " << i;
      }
    }
    // The scheduler's own record agrees with what it wrote into the optimizer.
    const auto& last = run.last_lr();
    for (std::size_t g = 0; g < last.size(); ++g) {
      EXPECT_EQ(last[g], run.optimizer().param_groups()[g].options().get_lr());
    }
    ++compared;
  }
  // Guards against a filter that silently skips everything.
  EXPECT_EQ(compared + refused, 395);
  EXPECT_GE(refused, 20);
}

}  // namespace
