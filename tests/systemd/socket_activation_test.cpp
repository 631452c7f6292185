#include "systemd/socket_activation.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/listen_address.hpp"
#include "support/error_text.hpp"
#include "support/loopback.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::systemd {
namespace {

namespace fs = std::filesystem;
using test::error_text;

// Sets the LISTEN_* variables for one test and puts the previous values back afterwards.
class ScopedEnvironment {
 public:
  ScopedEnvironment() {
    for (const char* name : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name,
                          value != nullptr ? std::optional<std::string>(value) : std::nullopt);
      ::unsetenv(name);
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

  // LISTEN_PID=our pid, LISTEN_FDS=`count`, and LISTEN_FDNAMES unless `names` is nullopt.
  static void pass(int count, const std::optional<std::string>& names) {
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDS", std::to_string(count).c_str(), 1);
    if (names) {
      ::setenv("LISTEN_FDNAMES", names->c_str(), 1);
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Puts sockets at descriptors 3, 4, ... the way a service manager does (FD_CLOEXEC clear,
// blocking), and gives back whatever the test process had at those numbers when destroyed.
// Declare it before anything that owns the inherited descriptors, so that they close first.
class PassedDescriptors {
 public:
  explicit PassedDescriptors(const std::vector<sys::UniqueFd>& sockets) {
    for (std::size_t i = 0; i < sockets.size(); ++i) {
      int number = kFirstInheritedFd + static_cast<int>(i);
      Slot slot{number, sys::UniqueFd(), ::fcntl(number, F_GETFD)};
      if (slot.flags != -1) {
        slot.saved.reset(::fcntl(number, F_DUPFD_CLOEXEC, 100));
        REQUIRE(slot.saved.valid());
      }
      REQUIRE(::dup2(sockets[i].get(), number) == number);
      slots_.push_back(std::move(slot));
    }
  }
  PassedDescriptors(const PassedDescriptors&) = delete;
  PassedDescriptors& operator=(const PassedDescriptors&) = delete;
  ~PassedDescriptors() {
    for (Slot& slot : slots_) {
      if (slot.saved.valid()) {
        ::dup2(slot.saved.get(), slot.number);
        ::fcntl(slot.number, F_SETFD, slot.flags);
      } else {
        ::close(slot.number);
      }
    }
  }

 private:
  struct Slot {
    // The descriptor number lent to the test, not an owned descriptor.
    int number;
    sys::UniqueFd saved;
    int flags;
  };
  std::vector<Slot> slots_;
};

sys::UniqueFd listening_socket(const net::SocketAddress& address) {
  auto fd = sys::socket(address.family(), SOCK_STREAM, 0);
  REQUIRE_MESSAGE(fd.ok(), error_text(fd));
  auto bound = sys::bind(fd->get(), address.data(), address.size());
  REQUIRE_MESSAGE(bound.ok(), error_text(bound));
  auto listening = sys::listen(fd->get(), 16);
  REQUIRE_MESSAGE(listening.ok(), error_text(listening));
  return std::move(*fd);
}

net::SocketAddress local_of(const sys::UniqueFd& fd) {
  auto local = net::SocketAddress::local_of(fd.get());
  REQUIRE_MESSAGE(local.ok(), error_text(local));
  return *local;
}

net::ListenAddress address_of(const std::string& text) {
  auto address = net::parse_listen_address(text);
  REQUIRE_MESSAGE(address.ok(), error_text(address));
  return *address;
}

SocketActivation activation_from_environment() {
  auto activation = SocketActivation::from_environment();
  REQUIRE_MESSAGE(activation.ok(), error_text(activation));
  return std::move(*activation);
}

std::string activation_error() {
  auto activation = SocketActivation::from_environment();
  REQUIRE_FALSE(activation.ok());
  return activation.error().message();
}

InheritedSocket take_or_fail(SocketActivation& activation, const std::string& name,
                             const std::string& address) {
  auto taken = activation.take(name, address_of(address));
  REQUIRE_MESSAGE(taken.ok(), error_text(taken));
  REQUIRE_MESSAGE(taken->has_value(), "nothing for " << name << " at " << address);
  return std::move(**taken);
}

// A client connects through `socket`'s address and the inherited descriptor accepts it: the
// descriptor is the listening socket itself, not a copy bound anew.
void check_accepts(const InheritedSocket& socket) {
  sys::UniqueFd client = test::connect_blocking(socket.local_address);
  pollfd waiting{socket.fd.get(), POLLIN, 0};
  auto ready = sys::poll({&waiting, 1}, 5000);
  REQUIRE(ready.ok());
  REQUIRE(*ready == 1);
  auto accepted = sys::accept4(socket.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE_MESSAGE(accepted.ok(), error_text(accepted));
  CHECK(accepted->has_value());
}

TEST_CASE("without LISTEN_PID, or with another process's, nothing is inherited or touched") {
  ScopedEnvironment environment;
  CHECK(activation_from_environment().empty());

  std::vector<sys::UniqueFd> sockets;
  sockets.push_back(listening_socket(*net::SocketAddress::from_ip("127.0.0.1", 0)));
  PassedDescriptors passed(sockets);
  ::setenv("LISTEN_PID", std::to_string(::getppid()).c_str(), 1);
  ::setenv("LISTEN_FDS", "1", 1);
  {
    SocketActivation activation = activation_from_environment();
    CHECK(activation.empty());
  }
  // Still open: not ours to close.
  CHECK(::fcntl(kFirstInheritedFd, F_GETFD) != -1);
  CHECK(std::getenv("LISTEN_PID") == nullptr);
  CHECK(std::getenv("LISTEN_FDS") == nullptr);
}

TEST_CASE("named TCP, Unix and abstract sockets are taken by the entries with their names") {
  test::TempDir dir;
  auto path = (dir / "in.sock").string();
  std::string abstract = "zcrecv-test-activation-" + std::to_string(::getpid());
  std::vector<sys::UniqueFd> sockets;
  sockets.push_back(listening_socket(*net::SocketAddress::from_ip("127.0.0.1", 0)));
  sockets.push_back(listening_socket(net::SocketAddress::unix_path(path)));
  sockets.push_back(listening_socket(net::SocketAddress::unix_abstract(abstract)));
  net::SocketAddress tcp_address = local_of(sockets[0]);

  ScopedEnvironment environment;
  PassedDescriptors passed(sockets);
  ScopedEnvironment::pass(3, "ingest:local:hidden");
  SocketActivation activation = activation_from_environment();
  CHECK(std::getenv("LISTEN_PID") == nullptr);
  CHECK(std::getenv("LISTEN_FDS") == nullptr);
  CHECK(std::getenv("LISTEN_FDNAMES") == nullptr);
  REQUIRE(activation.sockets().size() == 3);

  // The configured address does not matter when the name matches.
  InheritedSocket local = take_or_fail(activation, "local", "unix:/elsewhere.sock");
  CHECK(local.fd.get() == kFirstInheritedFd + 1);
  CHECK(local.local_address.to_string() == "unix:" + path);
  InheritedSocket ingest = take_or_fail(activation, "ingest", ":9000");
  CHECK(ingest.fd.get() == kFirstInheritedFd);
  CHECK(ingest.local_address.to_string() == tcp_address.to_string());
  InheritedSocket hidden = take_or_fail(activation, "hidden", "unix:@other");
  CHECK(hidden.local_address.to_string() == "unix:@" + abstract);
  CHECK(activation.empty());

  for (const InheritedSocket* socket : {&local, &ingest, &hidden}) {
    CHECK((::fcntl(socket->fd.get(), F_GETFL) & O_NONBLOCK) != 0);
    CHECK((::fcntl(socket->fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    check_accepts(*socket);
  }
  // Taken once: the variables are gone.
  CHECK(activation_from_environment().empty());
  { InheritedSocket closed = std::move(local); }
  // Closing an inherited Unix socket leaves its file to the manager that created it.
  CHECK(fs::exists(path));
}

TEST_CASE("unnamed sockets are called unknown and found by the address they are bound to") {
  test::TempDir dir;
  auto path = (dir / "in.sock").string();
  std::vector<sys::UniqueFd> sockets;
  sockets.push_back(listening_socket(net::SocketAddress::unix_path(path)));
  sockets.push_back(listening_socket(*net::SocketAddress::from_ip("127.0.0.1", 0)));
  sockets.push_back(listening_socket(net::SocketAddress::any(AF_INET6, 0)));
  std::uint16_t port = local_of(sockets[1]).port();
  std::uint16_t any_port = local_of(sockets[2]).port();

  ScopedEnvironment environment;
  PassedDescriptors passed(sockets);
  ScopedEnvironment::pass(3, std::nullopt);
  SocketActivation activation = activation_from_environment();
  REQUIRE(activation.sockets().size() == 3);
  for (const InheritedSocket& socket : activation.sockets()) {
    CHECK(socket.name == "unknown");
  }

  auto other_port = activation.take("ingest", address_of("127.0.0.1:" + std::to_string(port + 1)));
  REQUIRE(other_port.ok());
  CHECK_FALSE(other_port->has_value());
  InheritedSocket tcp = take_or_fail(activation, "ingest", "127.0.0.1:" + std::to_string(port));
  CHECK(tcp.fd.get() == kFirstInheritedFd + 1);
  InheritedSocket any = take_or_fail(activation, "all", ":" + std::to_string(any_port));
  CHECK(any.fd.get() == kFirstInheritedFd + 2);
  InheritedSocket unix_socket = take_or_fail(activation, "local", "unix:" + path);
  CHECK(unix_socket.fd.get() == kFirstInheritedFd);
  CHECK(activation.empty());
}

TEST_CASE("sockets sharing one name go to the entries at their addresses") {
  test::TempDir dir;
  auto path = (dir / "in.sock").string();
  std::vector<sys::UniqueFd> sockets;
  sockets.push_back(listening_socket(*net::SocketAddress::from_ip("127.0.0.1", 0)));
  sockets.push_back(listening_socket(net::SocketAddress::unix_path(path)));
  std::uint16_t port = local_of(sockets[0]).port();

  ScopedEnvironment environment;
  PassedDescriptors passed(sockets);
  ScopedEnvironment::pass(2, "zcrecv:zcrecv");
  SocketActivation activation = activation_from_environment();

  auto ambiguous = activation.take("zcrecv", address_of("unix:/nowhere.sock"));
  REQUIRE_FALSE(ambiguous.ok());
  CHECK(ambiguous.error().message() ==
        "2 inherited sockets are named \"zcrecv\" and none is bound to unix:/nowhere.sock");
  InheritedSocket unix_socket = take_or_fail(activation, "zcrecv", "unix:" + path);
  CHECK(unix_socket.fd.get() == kFirstInheritedFd + 1);
  // The other entry has its own name; the remaining socket is found at its address.
  InheritedSocket tcp = take_or_fail(activation, "tcp", "127.0.0.1:" + std::to_string(port));
  CHECK(tcp.fd.get() == kFirstInheritedFd);
}

TEST_CASE("an entry no inherited socket matches is told to bind its own") {
  std::vector<sys::UniqueFd> sockets;
  sockets.push_back(listening_socket(*net::SocketAddress::from_ip("127.0.0.1", 0)));
  ScopedEnvironment environment;
  PassedDescriptors passed(sockets);
  ScopedEnvironment::pass(1, "ingest");
  SocketActivation activation = activation_from_environment();
  auto taken = activation.take("local", address_of("unix:/run/zcrecv.sock"));
  REQUIRE(taken.ok());
  CHECK_FALSE(taken->has_value());
  CHECK(activation.sockets().size() == 1);
}

TEST_CASE("LISTEN_FDS and LISTEN_FDNAMES that do not add up are refused by name") {
  ScopedEnvironment environment;
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDS", "two", 1);
  CHECK(activation_error() == "LISTEN_FDS \"two\": expected a number of descriptors");

  ::setenv("LISTEN_PID", "me", 1);
  ::setenv("LISTEN_FDS", "1", 1);
  CHECK(activation_error() == "LISTEN_PID \"me\": expected a process id");

  ScopedEnvironment::pass(2, "a:b:c");
  CHECK(activation_error() == "LISTEN_FDNAMES \"a:b:c\": 3 names for LISTEN_FDS=2 descriptors");
}

TEST_CASE("inherited descriptors that are not listening stream sockets are refused") {
  ScopedEnvironment environment;
  SUBCASE("a pipe") {
    auto pipe = sys::pipe2(0);
    REQUIRE(pipe.ok());
    std::vector<sys::UniqueFd> fds;
    fds.push_back(std::move(pipe->read_end));
    PassedDescriptors passed(fds);
    ScopedEnvironment::pass(1, "ingest");
    CHECK(activation_error() == "inherited fd 3 (\"ingest\"): not a socket");
  }
  SUBCASE("a UDP socket") {
    auto udp = sys::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(udp.ok());
    std::vector<sys::UniqueFd> fds;
    fds.push_back(std::move(*udp));
    PassedDescriptors passed(fds);
    ScopedEnvironment::pass(1, "ingest");
    CHECK(activation_error() == "inherited fd 3 (\"ingest\"): not a TCP or Unix stream socket");
  }
  SUBCASE("a connection, as Accept=yes passes") {
    std::vector<sys::UniqueFd> fds;
    fds.push_back(listening_socket(*net::SocketAddress::from_ip("127.0.0.1", 0)));
    fds.push_back(test::connect_blocking(local_of(fds[0])));
    PassedDescriptors passed(fds);
    ScopedEnvironment::pass(2, "ingest:connection");
    CHECK(activation_error() ==
          "inherited fd 4 (\"connection\"): not listening (a connection passed with Accept=yes "
          "is for zcrecv --stdin)");
  }
}

TEST_CASE("is_bound_to compares what the kernel reports with the configured address") {
  auto v4 = *net::SocketAddress::from_ip("127.0.0.1", 9000);
  auto v6 = *net::SocketAddress::from_ip("::1", 9000);
  CHECK(is_bound_to(v4, address_of("127.0.0.1:9000")));
  CHECK_FALSE(is_bound_to(v4, address_of("127.0.0.1:9001")));
  CHECK_FALSE(is_bound_to(v4, address_of("127.0.0.2:9000")));
  CHECK_FALSE(is_bound_to(v4, address_of(":9000")));
  CHECK_FALSE(is_bound_to(v4, address_of("localhost:9000")));
  CHECK(is_bound_to(v6, address_of("[::1]:9000")));
  CHECK_FALSE(is_bound_to(v6, address_of("127.0.0.1:9000")));
  CHECK(is_bound_to(net::SocketAddress::any(AF_INET6, 9000), address_of(":9000")));
  CHECK(is_bound_to(net::SocketAddress::any(AF_INET, 9000), address_of(":9000")));
  CHECK(is_bound_to(net::SocketAddress::any(AF_INET6, 9000), address_of("[::]:9000")));
  // Port 0 asks for any port: no bound socket can be said to be it.
  CHECK_FALSE(is_bound_to(net::SocketAddress::any(AF_INET6, 0), address_of(":0")));
  CHECK(is_bound_to(net::SocketAddress::unix_path("/run/x.sock"), address_of("unix:/run/x.sock")));
  CHECK_FALSE(
      is_bound_to(net::SocketAddress::unix_path("/run/x.sock"), address_of("unix:@/run/x.sock")));
  CHECK(is_bound_to(net::SocketAddress::unix_abstract("x"), address_of("unix:@x")));
  CHECK_FALSE(is_bound_to(net::SocketAddress::unix_abstract("x"), address_of("unix:@xy")));
  CHECK_FALSE(is_bound_to(net::SocketAddress::unix_abstract("x"), address_of(":9000")));
}

}  // namespace
}  // namespace zcrecv::systemd
