// The torchlr command. `torchlr trace CONFIG.json` prints a schedule as CSV (docs/trace-format.md).

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <c10/util/Exception.h>
#include <torchlr/schedule_plot.h>
#include <torchlr/svg.h>

#include "trace.h"

namespace {

constexpr const char* kUsage =
    "usage: torchlr trace CONFIG.json\n"
    "       torchlr plot CONFIG.json -o SCHEDULE.svg [--log-y] [--csv TRACE.csv]\n"
    "  CONFIG describes an optimizer and a scheduler (docs/trace-format.md); - reads standard input.\n"
    "  trace: steps them and prints step,group,lr,momentum as CSV on standard output.\n"
    "  plot:  draws the lr of every group against the step (momentum below, when there is one)\n"
    "         as a self-contained SVG; --log-y for a logarithmic lr axis, --csv to keep the trace.\n";

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
    C10_THROW_ERROR(ValueError, c10::str("config is not valid JSON: ", e.what()));
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

struct PlotArgs {
  std::string config, output, csv;
  bool log_y = false;
};

int plot(const PlotArgs& args) {
  const auto config = read_config(args.config);
  torchlr::trace::TraceRun run(config);
  const auto rows = run.run();
  if (!args.csv.empty()) {
    std::ofstream csv(args.csv);
    TORCH_CHECK_VALUE(csv.good(), "cannot write '", args.csv, "'");
    torchlr::trace::write_csv(csv, rows);
  }
  const auto chart = torchlr::schedule_chart(torchlr::trace::to_record(rows),
                                             torchlr::trace::describe_scheduler(config["scheduler"]), args.log_y);
  torchlr::svg::write(chart, args.output);
  std::cout << "wrote " << args.output << (args.csv.empty() ? "" : " and " + args.csv) << "\n";
  return 0;
}

// `plot CONFIG -o OUT [--log-y] [--csv FILE]`, options in any order.
bool parse_plot(int argc, char** argv, PlotArgs& args) {
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-o" && i + 1 < argc) {
      args.output = argv[++i];
    } else if (a == "--csv" && i + 1 < argc) {
      args.csv = argv[++i];
    } else if (a == "--log-y") {
      args.log_y = true;
    } else if (args.config.empty() && (a == "-" || a.rfind("-", 0) != 0)) {
      args.config = a;
    } else {
      return false;
    }
  }
  return !args.config.empty() && !args.output.empty();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "-h" || command == "--help") {
    std::cout << kUsage;
    return 0;
  }
  PlotArgs plot_args;
  const bool valid = (command == "trace" && argc == 3) || (command == "plot" && parse_plot(argc, argv, plot_args));
  if (!valid) {
    std::cerr << kUsage;
    return 2;
  }
  // One `error: ...` line and a non-zero status, whatever went wrong.
  try {
    return command == "trace" ? trace(argv[2]) : plot(plot_args);
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
  }
  return 1;
}
