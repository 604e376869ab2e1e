// libFuzzer target: the `torchlr trace` config reader and the run it drives. Any input must
// either run, every lr and momentum finite, or be refused with c10::ValueError; anything else
// (another exception, a crash, a sanitizer report, a hang) is a finding.

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "trace.h"

namespace {

// Long runs are valid but only slow the fuzzer down: the harness skips them (the reader's own
// bound on steps is tested in test_cli.cpp).
constexpr int64_t kMaxFuzzSteps = 2000;

bool too_long(const nlohmann::json& config) {
  if (!config.is_object() || !config.contains("steps")) return false;
  const auto& steps = config["steps"];
  return steps.is_number_integer() && steps.get<int64_t>() > kMaxFuzzSteps;
}

[[noreturn]] void finding(const std::string& what) {
  std::cerr << "finding: " << what << '\n';
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto config = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || too_long(config)) return 0;
  try {
    torchlr::trace::TraceRun run(config);
    const auto rows = run.run();
    for (const auto& row : rows) {
      if (!std::isfinite(row.lr) || (row.momentum && !std::isfinite(*row.momentum))) {
        finding("a non-finite lr or momentum was written");
      }
    }
    std::ostringstream csv;
    torchlr::trace::write_csv(csv, rows);
  } catch (const c10::ValueError&) {
    // A refused config: the expected outcome for most inputs.
  } catch (const std::exception& e) {
    finding(std::string("an exception other than c10::ValueError: ") + e.what());
  }
  return 0;
}
