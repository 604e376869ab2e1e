// Replays every PyTorch reference trace (test/data/trace_cases.jsonl) through the C++ API and
// compares every group's lr and momentum after every step, within 1e-12 relative.

#include <fstream>
#include <string>

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

TEST(Reference, EveryImplementedCaseMatchesPyTorch) {
  const auto cases = load_cases();
  ASSERT_EQ(cases.size(), 386u);
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
      // c10::ValueError, at construction or at the failing step.
      try {
        torchlr::trace::TraceRun run(c["config"]);
        run.run();
        ADD_FAILURE() << "accepted a config PyTorch refuses: " << expect["error"];
      } catch (const c10::ValueError& e) {
        const std::string python = expect["error"];
        const std::string prefix = "ValueError: ";
        // Where torchlr's own check fires (not the JSON reader's type check), it carries
        // PyTorch's message.
        const std::string ours = e.what_without_backtrace();
        if (python.rfind(prefix, 0) == 0 && ours.find("must be an integer") == std::string::npos) {
          EXPECT_NE(ours.find(python.substr(prefix.size())), std::string::npos)
              << "ours: " << ours << "\nPyTorch: " << python;
        }
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
  EXPECT_EQ(compared + refused, 386);
  EXPECT_GE(refused, 20);
}

}  // namespace
