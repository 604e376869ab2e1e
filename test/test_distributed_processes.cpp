// The data-parallel protocol over real processes: 2 and 3 copies of torchlr_dist_worker
// (test/dist_worker.cpp) meet through a Gloo process group (a FileStore in a fresh directory, so
// no ports; one test through torchrun's variables and a TCPStore on 127.0.0.1), and every rank's
// results are compared here. Built when torchlr has Gloo (libgloo-dev).

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace {

namespace fs = std::filesystem;

// What one rank wrote: its lines by their first word.
using RankReport = std::map<std::string, std::string>;

fs::path fresh_directory() {
  std::string pattern = (fs::temp_directory_path() / "torchlr_dist_XXXXXX").string();
  const char* made = mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr);
  return made ? fs::path(made) : fs::path();
}

// A port the kernel just handed out on 127.0.0.1 (free again, almost surely, when rank 0 binds it).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  EXPECT_TRUE(ok);
  close(fd);
  return ntohs(address.sin_port);
}

// The variables the workers get from the test, not from the environment ctest runs in.
bool set_by_the_test(const std::string& entry) {
  for (const char* name : {"MASTER_ADDR=", "MASTER_PORT=", "RANK=", "WORLD_SIZE=", "OMP_NUM_THREADS=",
                           "TORCHELASTIC_USE_AGENT_STORE=", "GLOO_SOCKET_IFNAME="}) {
    if (entry.rfind(name, 0) == 0) return true;
  }
  return false;
}

// Starts `size` workers, waits for all (killing them after the deadline), and reads their reports.
std::vector<RankReport> run_workers(const std::string& scenario, int size, int64_t step = 0, bool from_env = false) {
  const fs::path dir = fresh_directory();
  const std::string store = (dir / "store").string();
  const int port = from_env ? free_port() : 0;
  std::vector<pid_t> pids;
  for (int rank = 0; rank < size; ++rank) {
    std::vector<std::string> args{TORCHLR_DIST_WORKER, scenario, std::to_string(rank), std::to_string(size), store,
                                  dir.string(), std::to_string(step)};
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (!set_by_the_test(*e)) env_strings.emplace_back(*e);
    }
    env_strings.push_back("OMP_NUM_THREADS=1");
    if (from_env) {
      env_strings.push_back("MASTER_ADDR=127.0.0.1");
      env_strings.push_back("MASTER_PORT=" + std::to_string(port));
      env_strings.push_back("RANK=" + std::to_string(rank));
      env_strings.push_back("WORLD_SIZE=" + std::to_string(size));
    }
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data());
    EXPECT_EQ(spawned, 0) << "cannot start rank " << rank;
    if (spawned == 0 && pid > 0) pids.push_back(pid);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::vector<bool> done(pids.size(), false);
  for (std::size_t finished = 0; finished < pids.size();) {
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      int status = 0;
      if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        done[i] = true;
        ++finished;
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "rank " << i << " ended with status " << status;
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      for (std::size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) {
          kill(pids[i], SIGKILL);
          waitpid(pids[i], nullptr, 0);
          ADD_FAILURE() << "rank " << i << " hung and was killed";
        }
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<RankReport> reports;
  for (int rank = 0; rank < size; ++rank) {
    std::ifstream in(dir / ("rank" + std::to_string(rank) + ".txt"));
    RankReport report;
    std::string line;
    while (std::getline(in, line)) {
      const auto space = line.find(' ');
      report[line.substr(0, space)] = space == std::string::npos ? "" : line.substr(space + 1);
    }
    EXPECT_EQ(report.count("fatal"), 0u) << "rank " << rank << ": " << report["fatal"];
    reports.push_back(report);
  }
  fs::remove_all(dir);
  return reports;
}

TEST(DistributedProcesses, EveryRankRecordsTheSameCurveAndSuggestion) {
  for (int size : {2, 3}) {
    SCOPED_TRACE(std::to_string(size) + " ranks");
    const auto reports = run_workers("finder", size);
    ASSERT_EQ(reports.size(), static_cast<std::size_t>(size));
    EXPECT_EQ(reports[0].at("stop"), "diverged");
    EXPECT_NE(reports[0].at("suggestion"), "none");
    std::istringstream points(reports[0].at("raw"));
    int count = 0;
    for (std::string v; points >> v;) ++count;
    EXPECT_GT(count, 30);  // a curve, not a few points
    for (const auto& report : reports) {
      for (const char* key : {"stop", "lrs", "raw", "smoothed", "suggestion"}) EXPECT_EQ(report.at(key), reports[0].at(key)) << key;
      EXPECT_EQ(report.at("restored"), "1");
    }
  }
}

TEST(DistributedProcesses, TorchrunsVariablesMakeTheGroup) {
  const auto reports = run_workers("env", 2, 0, /*from_env=*/true);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].at("rank"), "0 of 2");
  EXPECT_EQ(reports[1].at("rank"), "1 of 2");
  EXPECT_EQ(reports[1].at("raw"), reports[0].at("raw"));
}

TEST(DistributedProcesses, AThrowOnOneRankThrowsOnEveryRankAtThatStep) {
  const auto reports = run_workers("throw", 3, 11);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[2].at("error"), "rank's loss broke");
  for (int r : {0, 1}) {
    EXPECT_NE(reports[static_cast<std::size_t>(r)].at("error").find("1 of 3 ranks failed at step 11"), std::string::npos)
        << reports[static_cast<std::size_t>(r)].at("error");
  }
  for (const auto& report : reports) EXPECT_EQ(report.at("restored"), "1");
}

TEST(DistributedProcesses, ANaNOnOneRankStopsEveryRankAtThatStep) {
  const auto reports = run_workers("nan", 3, 9);
  ASSERT_EQ(reports.size(), 3u);
  for (const auto& report : reports) {
    EXPECT_EQ(report.at("stop"), "non_finite_loss");
    EXPECT_EQ(report.at("raw"), reports[0].at("raw"));
    EXPECT_EQ(report.at("restored"), "1");
  }
  std::istringstream points(reports[0].at("raw"));
  int count = 0;
  for (std::string v; points >> v;) ++count;
  EXPECT_EQ(count, 9);
}

TEST(DistributedProcesses, ThePlateauKeepsEveryRanksLrsEqual) {
  const auto reports = run_workers("plateau", 3);
  ASSERT_EQ(reports.size(), 3u);
  for (const auto& report : reports) EXPECT_EQ(report.at("lrs"), reports[0].at("lrs"));
  EXPECT_NE(reports[0].at("lrs").find("0x1p-1"), std::string::npos);  // it reduced
}

TEST(DistributedProcesses, ACheckpointSavedOnRankZeroLoadsEverywhere) {
  const auto reports = run_workers("checkpoint", 3);
  ASSERT_EQ(reports.size(), 3u);
  for (const auto& report : reports) EXPECT_EQ(report.at("last_epoch"), reports[0].at("last_epoch"));
  EXPECT_EQ(reports[2].at("last_epoch").rfind("5 lr", 0), 0u) << reports[2].at("last_epoch");
}

}  // namespace
