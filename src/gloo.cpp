// Gloo process groups for programs that have none yet: from torchrun's environment, or through a
// file on one machine. Built when TORCHLR_WITH_GLOO is on (c10d and the gloo headers).

#include <torchlr/distributed.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <string>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#define TORCHLR_COMPAT_GLOO
#include "torch_compat.h"

namespace torchlr {
namespace {

std::string env(const char* name, bool required = true) {
  const char* value = std::getenv(name);
  TORCH_CHECK_VALUE(!required || (value != nullptr && *value != '\0'), "gloo_process_group_from_env: ", name,
                    " is not set (torchrun sets MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE)");
  return value ? value : "";
}

int64_t env_integer(const char* name, int64_t lo, int64_t hi) {
  const std::string text = env(name);
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  TORCH_CHECK_VALUE(errno == 0 && end != text.c_str() && *end == '\0' && value >= lo && value <= hi,
                    "gloo_process_group_from_env: ", name, " must be an integer in [", lo, ", ", hi, "], but it is '",
                    text, "'");
  return value;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The local address this host reaches `host` from: a UDP socket "connected" there (which sends
// nothing) is bound by the kernel to the address of the route. Empty when there is none.
// (Gloo's default device takes the address of this host's name, which stock Debian maps to
// 127.0.1.1: peers on other machines could not reach it.)
std::string local_address_towards(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return "";
  std::string result;
  for (addrinfo* a = found; a != nullptr && result.empty(); a = a->ai_next) {
    const int fd = socket(a->ai_family, SOCK_DGRAM, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* address = local.ss_family == AF_INET
                                ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&local)->sin_addr)
                                : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&local)->sin6_addr);
      if (inet_ntop(local.ss_family, address, text, sizeof(text)) != nullptr) result = text;
    }
    close(fd);
  }
  freeaddrinfo(found);
  return result;
}

c10::intrusive_ptr<c10d::ProcessGroupGloo::Options> gloo_options(std::chrono::milliseconds timeout,
                                                                 const std::string& host, uint16_t port) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  const std::string interface = env("GLOO_SOCKET_IFNAME", false);
  if (!interface.empty()) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    return options;
  }
  const std::string local = is_loopback(host) ? std::string("127.0.0.1") : local_address_towards(host, port);
  options->devices.push_back(local.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                           : c10d::ProcessGroupGloo::createDeviceForHostname(local));
  return options;
}

void check_timeout(std::chrono::milliseconds timeout) {
  TORCH_CHECK_VALUE(timeout.count() > 0, "gloo: the timeout must be positive, but it is ", timeout.count(), " ms");
}

}  // namespace

c10::intrusive_ptr<c10d::ProcessGroup> gloo_process_group_from_env(std::chrono::milliseconds timeout) {
  check_timeout(timeout);
  const std::string host = env("MASTER_ADDR");
  const auto port = static_cast<uint16_t>(env_integer("MASTER_PORT", 1, 65535));
  const auto size = static_cast<int>(env_integer("WORLD_SIZE", 1, std::numeric_limits<int>::max()));
  const auto rank = static_cast<int>(env_integer("RANK", 0, size - 1));
  c10d::TCPStoreOptions store_options;
  store_options.port = port;
  // torchrun's agent already hosts the store when it says so; otherwise rank 0 does.
  const std::string agent_store = env("TORCHELASTIC_USE_AGENT_STORE", false);
  store_options.isServer = rank == 0 && agent_store != "True" && agent_store != "true" && agent_store != "1";
  store_options.numWorkers = static_cast<std::size_t>(size);
  // Every rank checks in (a client that does not leaves the server waiting out its timeout).
  store_options.waitWorkers = true;
  store_options.timeout = timeout;
  compat::use_tcp_store_without_libuv(store_options);
  auto store = c10::make_intrusive<c10d::TCPStore>(host, store_options);
  return compat::make_gloo_process_group(store, rank, size, gloo_options(timeout, host, port));
}

c10::intrusive_ptr<c10d::ProcessGroup> gloo_process_group_with_file(const std::string& path, int rank, int size,
                                                                    std::chrono::milliseconds timeout) {
  check_timeout(timeout);
  TORCH_CHECK_VALUE(size >= 1 && rank >= 0 && rank < size, "gloo_process_group_with_file: rank ", rank, " of ", size,
                    " is not a rank of the group");
  TORCH_CHECK_VALUE(!path.empty(), "gloo_process_group_with_file: the path is empty");
  auto store = c10::make_intrusive<c10d::FileStore>(path, size);
  store->setTimeout(timeout);
  return compat::make_gloo_process_group(store, rank, size, gloo_options(timeout, "127.0.0.1", 0));
}

bool has_gloo() noexcept { return true; }

}  // namespace torchlr
