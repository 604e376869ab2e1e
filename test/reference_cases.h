#pragma once

// The reference cases recorded from the upstream libraries (test/data/*.jsonl: one
// `{"id", "config", "expect"}` object per line), replayed through `torchlr trace`'s TraceRun:
// shared by the reference tests.

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "helpers.h"
#include "trace.h"

namespace torchlr::testing {

/// The cases of `file` in test/data, one per line.
inline std::vector<nlohmann::json> load_cases(const std::string& file) {
  std::ifstream in(std::string(TORCHLR_TEST_DATA_DIR) + "/" + file);
  EXPECT_TRUE(in.good()) << "cannot read test/data/" << file;
  std::vector<nlohmann::json> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) cases.push_back(nlohmann::json::parse(line));
  }
  return cases;
}

/// What torchlr says where upstream raised something other than a ValueError (a division by
/// zero, an assertion, a TypeError), keyed by (upstream's error, scheduler name).
using Refusals = std::map<std::pair<std::string, std::string>, std::string>;

/// The message torchlr's refusal must contain: upstream's own for a ValueError (torchlr keeps
/// its wording), else the one recorded in `others`.
inline std::string expected_refusal(const std::string& upstream_error, const std::string& scheduler,
                                    const Refusals& others) {
  const std::string value_error = "ValueError: ";
  if (upstream_error.rfind(value_error, 0) == 0) return upstream_error.substr(value_error.size());
  const auto it = others.find({upstream_error, scheduler});
  if (it == others.end()) {
    ADD_FAILURE() << "no torchlr refusal recorded for upstream's " << upstream_error << " (" << scheduler << ")";
    return upstream_error;
  }
  return it->second;
}

/// Replays one case. Where upstream refused the config (at construction or at some step),
/// torchlr must refuse it with a c10::ValueError containing the expected message (torchlr
/// refuses at construction what upstream only fails on later); otherwise every row's lr (and
/// momentum, for rows that have that column) must match within 1e-12 relative, and the
/// scheduler's get_last_lr() must agree with the optimizer. Returns whether it was a refusal.
inline bool replay_case(const nlohmann::json& c, const Refusals& others) {
  const nlohmann::json& expect = c["expect"];
  const std::string scheduler = c["config"]["scheduler"]["name"];
  if (expect.contains("error")) {
    const std::string expected = expected_refusal(expect["error"], scheduler, others);
    try {
      trace::TraceRun run(c["config"]);
      run.run();
      ADD_FAILURE() << "accepted a config upstream refuses: " << expect["error"];
    } catch (const c10::ValueError& e) {
      const std::string ours = e.what_without_backtrace();
      EXPECT_NE(ours.find(expected), std::string::npos)
          << "ours: " << ours << "\nexpected: " << expected << "\nupstream: " << expect["error"];
    }
    return true;
  }
  trace::TraceRun run(c["config"]);
  const auto rows = run.run();
  const nlohmann::json& expected = expect["rows"];
  EXPECT_EQ(rows.size(), expected.size());
  if (rows.size() != expected.size()) return false;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const nlohmann::json& e = expected[i];
    EXPECT_EQ(rows[i].step, e[0].get<int64_t>()) << "row " << i;
    EXPECT_EQ(rows[i].group, e[1].get<std::size_t>()) << "row " << i;
    EXPECT_TRUE(RelClose(rows[i].lr, e[2].get<double>())) << "lr, row " << i << " (step " << rows[i].step
                                                          << ", group " << rows[i].group << ")";
    if (e.size() < 4) continue;  // no momentum column
    if (e[3].is_null()) {
      EXPECT_FALSE(rows[i].momentum.has_value()) << "row " << i;
    } else {
      EXPECT_TRUE(rows[i].momentum.has_value()) << "row " << i;
      if (rows[i].momentum) {
        EXPECT_TRUE(RelClose(*rows[i].momentum, e[3].get<double>())) << "momentum, row " << i;
      }
    }
  }
  // The scheduler's own record agrees with what it wrote into the optimizer.
  const auto& last = run.last_lr();
  for (std::size_t g = 0; g < last.size(); ++g) {
    EXPECT_EQ(last[g], run.optimizer().param_groups()[g].options().get_lr());
  }
  return false;
}

}  // namespace torchlr::testing
