// The torchlr command. `torchlr trace CONFIG.json` prints a schedule as CSV (docs/trace-format.md).

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <c10/util/Exception.h>

#include "trace.h"

namespace {

constexpr const char* kUsage =
    "usage: torchlr trace CONFIG.json   (CONFIG may be - for standard input)\n"
    "  Builds the optimizer and scheduler the JSON config describes, steps them, and prints\n"
    "  step,group,lr,momentum as CSV on standard output.\n";

nlohmann::json read_config(const std::string& path) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream file(path);
    TORCH_CHECK_VALUE(file.good(), "cannot open config file '", path, "'");
    text << file.rdbuf();
  }
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    TORCH_CHECK_VALUE(false, "config is not valid JSON: ", e.what());
  }
}

int trace(const std::string& path) {
  torchlr::trace::TraceRun run(read_config(path));
  const auto rows = run.run();
  std::ostringstream csv;
  torchlr::trace::write_csv(csv, rows);
  std::cout << csv.str();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "-h" || command == "--help") {
    std::cout << kUsage;
    return 0;
  }
  if (command != "trace" || argc != 3) {
    std::cerr << kUsage;
    return 2;
  }
  // One `error: ...` line and a non-zero status, whatever went wrong.
  try {
    return trace(argv[2]);
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
  }
  return 1;
}
