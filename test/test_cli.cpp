// The torchlr command as a user runs it: CSV on stdout, one `error:` line and a non-zero status.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace {

struct Result {
  int status;
  std::string out;
};

// Runs the command with `input` on standard input; stderr is captured through a file.
Result run_cli(const std::string& args, const std::string& input, std::string* err = nullptr) {
  // ctest runs tests in parallel processes: the file names carry the process id.
  const std::string stem = ::testing::TempDir() + "torchlr_cli_" + std::to_string(getpid());
  const std::string in_path = stem + "_in.json";
  const std::string err_path = stem + "_err.txt";
  std::ofstream(in_path) << input;
  const std::string command = std::string(TORCHLR_CLI_PATH) + " " + args + " < " + in_path +
                              " 2> " + err_path;
  FILE* pipe = popen(command.c_str(), "r");
  Result result{-1, ""};
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe)) result.out += buffer;
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (err) {
    std::ifstream e(err_path);
    err->assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  }
  std::remove(in_path.c_str());
  std::remove(err_path.c_str());
  return result;
}

TEST(Cli, TracePrintsCsv) {
  const auto r = run_cli("trace -",
                         R"({"optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9,
                              "param_groups": [{}, {"lr": 0.01}]},
                             "scheduler": {"name": "StepLR", "step_size": 2, "gamma": 0.5},
                             "steps": 2})");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out,
            "step,group,lr,momentum\n"
            "0,0,0.1,0.9\n0,1,0.01,0.9\n"
            "1,0,0.1,0.9\n1,1,0.01,0.9\n"
            "2,0,0.05,0.9\n2,1,0.005,0.9\n");
}

TEST(Cli, AdagradHasNoMomentumColumnValue) {
  const auto r = run_cli("trace -",
                         R"({"optimizer": {"name": "Adagrad", "lr": 0.1},
                             "scheduler": {"name": "ExponentialLR", "gamma": 0.5}, "steps": 1})");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "step,group,lr,momentum\n0,0,0.1,\n1,0,0.05,\n");
}

TEST(Cli, FractionalEpochsForWarmRestarts) {
  const auto r = run_cli("trace -",
                         R"({"optimizer": {"name": "Adam", "lr": 0.1},
                             "scheduler": {"name": "CosineAnnealingWarmRestarts", "T_0": 2, "T_mult": 2},
                             "steps": 2, "epochs": [2.0, 6.0]})");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "step,group,lr,momentum\n0,0,0.1,0.9\n1,0,0.1,0.9\n2,0,0.1,0.9\n");
}

// A ChainedScheduler inside a ChainedScheduler ... `depth` times, around a StepLR.
std::string nested_chains(int depth) {
  std::string config = R"({"name": "StepLR", "step_size": 2})";
  for (int i = 0; i < depth; ++i) config = R"({"name": "ChainedScheduler", "schedulers": [)" + config + "]}";
  return config;
}

TEST(Cli, ErrorsAreOneLineAndNonZero) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"optimizer": {"name": "SGD", "lr": 0.1}, "scheduler": {"name": "StepLR", "step_size": 0}, "steps": 1})",
       "step_size"},
      {R"({"optimizer": {"name": "SGD", "lr": 0.1}, "scheduler": {"name": "StepLR", "step_size": 2, "gama": 0.5}, "steps": 1})",
       "unknown key 'gama'"},
      {R"({"optimizer": {"name": "SGD", "lr": 0.1}, "scheduler": {"name": "ExponentialLR", "gamma": "fast"}, "steps": 1})",
       "scheduler.gamma must be a number"},
      {R"({"optimizer": {"name": "Nadam"}, "scheduler": {"name": "StepLR", "step_size": 2}, "steps": 1})",
       "unknown optimizer 'Nadam'"},
      {R"({"optimizer": {"name": "SGD"}, "scheduler": {"name": "LambdaLR"}, "steps": 1})",
       "cannot express"},
      {R"({"optimizer": {"name": "SGD"}, "scheduler": {"name": "StepLR", "step_size": 2}})",
       "missing required key 'steps'"},
      // Arguments PyTorch requires used to be read as 0, and an all-zero lr column printed.
      {R"({"optimizer": {"name": "SGD", "lr": 0.1}, "scheduler": {"name": "CyclicLR"}, "steps": 3})",
       "scheduler: missing required key 'base_lr'"},
      {R"({"optimizer": {"name": "SGD", "lr": 0.1}, "scheduler": {"name": "OneCycleLR", "total_steps": 5}, "steps": 3})",
       "scheduler: missing required key 'max_lr'"},
      {R"({"optimizer": )", "not valid JSON"},
      {R"({"optimizer": {"name": "SGD"}, "scheduler": {"name": "StepLR", "step_size": 2}, "steps": 9223372036854775807})",
       "config.steps must be an integer in [0, 10000000]"},
      // Found by fuzz_trace_config: LibTorch's Adam refused beta 9.999 with its own c10::Error at
      // the first optimizer.step(); the reader now refuses what PyTorch's optimizers refuse.
      {R"({"optimizer": {"name": "Adam", "betas": [0.8, 9.999]}, "scheduler": {"name": "StepLR", "step_size": 2}, "steps": 1})",
       "optimizer.betas[1] must be in [0, 1), but got 9.999"},
      {R"({"optimizer": {"name": "SGD", "param_groups": [{"momentum": -0.5}]}, "scheduler": {"name": "StepLR", "step_size": 2}, "steps": 1})",
       "optimizer.param_groups[0].momentum must be non-negative"},
      {R"({"optimizer": {"name": "SGD", "nesterov": true}, "scheduler": {"name": "StepLR", "step_size": 2}, "steps": 1})",
       "Nesterov momentum requires a momentum and zero dampening"},
      // Found by fuzz_trace_config: a non-string name threw nlohmann's type_error, not a ValueError.
      {R"({"optimizer": {"name": "SGD"}, "scheduler": {"name": 1}, "metrics": [1.0], "steps": 1})",
       "config.metrics is only accepted for ReduceLROnPlateau"},
      {R"({"optimizer": {"name": "SGD"}, "scheduler": {"name": 1}, "epochs": [1.0], "steps": 1})",
       "config.epochs is only accepted for CosineAnnealingWarmRestarts"},
      {R"({"optimizer": {"name": "SGD"}, "scheduler": {"name": ["StepLR"]}, "steps": 1})",
       "scheduler.name must be a string"},
      {R"({"optimizer": {"name": "SGD"}, "scheduler": )" + nested_chains(40) + R"(, "steps": 1})",
       "nested deeper than 32 levels"},
  };
  for (const auto& [config, fragment] : cases) {
    std::string err;
    const auto r = run_cli("trace -", config, &err);
    EXPECT_EQ(r.status, 1) << config;
    EXPECT_EQ(r.out, "") << config;
    EXPECT_EQ(err.rfind("error: ", 0), 0u) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find(fragment), std::string::npos) << err;
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(Cli, PlotWritesSvgAndCsv) {
  const std::string stem = ::testing::TempDir() + "torchlr_plot_" + std::to_string(getpid());
  const std::string config = R"({"optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9,
                                  "param_groups": [{}, {"lr": 0.01}]},
                                 "scheduler": {"name": "CyclicLR", "base_lr": 0.001, "max_lr": [0.1, 0.05],
                                               "step_size_up": 5, "mode": "triangular2"},
                                 "steps": 30})";
  const auto plot = run_cli("plot - -o " + stem + ".svg --csv " + stem + ".csv --log-y", config);
  ASSERT_EQ(plot.status, 0);
  const auto svg = read_file(stem + ".svg");
  EXPECT_NE(svg.find("CyclicLR(base_lr=0.001, max_lr=[0.1,0.05], mode=&#39;triangular2&#39;, step_size_up=5)"),
            std::string::npos);
  EXPECT_NE(svg.find(">group 1<"), std::string::npos);
  EXPECT_NE(svg.find("learning rate (log scale)"), std::string::npos);
  EXPECT_NE(svg.find(">momentum<"), std::string::npos);
  // --csv writes exactly what trace prints.
  EXPECT_EQ(read_file(stem + ".csv"), run_cli("trace -", config).out);
  std::remove((stem + ".svg").c_str());
  std::remove((stem + ".csv").c_str());

  std::string err;
  const auto bad = run_cli("plot - -o " + stem + ".svg",
                           R"({"optimizer": {"name": "SGD"}, "scheduler": {"name": "StepLR"}, "steps": 1})", &err);
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(err.find("error: scheduler: missing required key 'step_size'"), std::string::npos) << err;
}

TEST(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(run_cli("", "").status, 2);
  EXPECT_EQ(run_cli("plot x.json", "").status, 2);   // no -o
  EXPECT_EQ(run_cli("plot x.json -o a.svg --bogus", "").status, 2);
  EXPECT_EQ(run_cli("--help", "").status, 0);
}

}  // namespace
