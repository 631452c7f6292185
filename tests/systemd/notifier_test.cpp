#include "systemd/notifier.hpp"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/socket_address.hpp"
#include "support/error_text.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::systemd {
namespace {

using test::error_text;

// Sets environment variables for one test and puts the previous values back afterwards, so
// that no test leaks NOTIFY_SOCKET into the next.
class ScopedEnvironment {
 public:
  ScopedEnvironment() = default;
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;
  ~ScopedEnvironment() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) {
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      } else {
        ::unsetenv(it->first.c_str());
      }
    }
  }

  void set(const std::string& name, const std::string& value) {
    remember(name);
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) {
    remember(name);
    ::unsetenv(name.c_str());
  }

 private:
  void remember(const std::string& name) {
    const char* value = std::getenv(name.c_str());
    saved_.emplace_back(name, value != nullptr ? std::optional<std::string>(value) : std::nullopt);
  }

  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// The service manager's end: a Unix datagram socket bound to `address`.
class Receiver {
 public:
  explicit Receiver(const net::SocketAddress& address) {
    auto fd = sys::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE_MESSAGE(fd.ok(), error_text(fd));
    fd_ = std::move(*fd);
    auto bound = sys::bind(fd_.get(), address.data(), address.size());
    REQUIRE_MESSAGE(bound.ok(), error_text(bound));
  }

  // The next datagram; fails the test if none arrives within 5 s.
  std::string next() {
    pollfd waiting{fd_.get(), POLLIN, 0};
    auto ready = sys::poll({&waiting, 1}, 5000);
    REQUIRE_MESSAGE(ready.ok(), error_text(ready));
    REQUIRE_MESSAGE(*ready == 1, "no notification arrived");
    std::array<std::byte, 4096> buffer{};
    auto got = sys::recv(fd_.get(), buffer, 0);
    REQUIRE_MESSAGE(got.ok(), error_text(got));
    REQUIRE(got->has_value());
    return std::string(reinterpret_cast<const char*>(buffer.data()), **got);
  }

 private:
  sys::UniqueFd fd_;
};

// An abstract name no other test run uses at the same time.
std::string unique_abstract_name(const char* what) {
  return std::string("zcrecv-test-") + what + "-" + std::to_string(::getpid());
}

Notifier notifier_from_environment() {
  auto notifier = Notifier::from_environment();
  REQUIRE_MESSAGE(notifier.ok(), error_text(notifier));
  return std::move(*notifier);
}

std::string environment_error() {
  auto notifier = Notifier::from_environment();
  REQUIRE_FALSE(notifier.ok());
  return notifier.error().message();
}

TEST_CASE("without NOTIFY_SOCKET the notifier is disabled and every message succeeds") {
  ScopedEnvironment environment;
  environment.unset("NOTIFY_SOCKET");
  environment.set("WATCHDOG_USEC", "1000000");
  Notifier notifier = notifier_from_environment();
  CHECK_FALSE(notifier.enabled());
  CHECK_FALSE(notifier.watchdog_interval().has_value());
  CHECK(notifier.ready().ok());
  CHECK(notifier.reloading().ok());
  CHECK(notifier.watchdog().ok());
}

TEST_CASE("every message arrives on a path NOTIFY_SOCKET as the protocol spells it") {
  test::TempDir dir;
  auto path = (dir / "notify").string();
  Receiver manager(net::SocketAddress::unix_path(path));
  ScopedEnvironment environment;
  environment.set("NOTIFY_SOCKET", path);
  environment.unset("WATCHDOG_USEC");
  Notifier notifier = notifier_from_environment();
  REQUIRE(notifier.enabled());
  CHECK_FALSE(notifier.watchdog_interval().has_value());

  auto sent = notifier.ready();
  REQUIRE_MESSAGE(sent.ok(), error_text(sent));
  CHECK(manager.next() == "READY=1");

  REQUIRE(notifier.ready("listening on 2 sockets").ok());
  CHECK(manager.next() == "READY=1\nSTATUS=listening on 2 sockets");

  auto before = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
  REQUIRE(notifier.reloading().ok());
  auto after = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
  std::string reloading = manager.next();
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  REQUIRE(reloading.starts_with(prefix));
  long long stamp = std::stoll(reloading.substr(prefix.size()));
  CHECK(std::to_string(stamp) == reloading.substr(prefix.size()));
  CHECK(stamp >= before.count());
  CHECK(stamp <= after.count());

  REQUIRE(notifier.stopping(std::chrono::seconds(40)).ok());
  CHECK(manager.next() == "STOPPING=1\nEXTEND_TIMEOUT_USEC=40000000");
  REQUIRE(notifier.status("3 connections open\nREADY=1").ok());
  CHECK(manager.next() == "STATUS=3 connections open READY=1");
  REQUIRE(notifier.watchdog().ok());
  CHECK(manager.next() == "WATCHDOG=1");
}

TEST_CASE("an abstract NOTIFY_SOCKET is reached at the name's own length") {
  // Bound with the exact length; an address padded to sizeof(sockaddr_un) is another name, and
  // sending there fails with ECONNREFUSED.
  std::string name = unique_abstract_name("notify");
  Receiver manager(net::SocketAddress::unix_abstract(name));
  ScopedEnvironment environment;
  environment.set("NOTIFY_SOCKET", "@" + name);
  Notifier notifier = notifier_from_environment();
  auto sent = notifier.ready();
  REQUIRE_MESSAGE(sent.ok(), error_text(sent));
  CHECK(manager.next() == "READY=1");
  REQUIRE(notifier.send("STATUS=a\nWATCHDOG=1").ok());
  CHECK(manager.next() == "STATUS=a\nWATCHDOG=1");
}

TEST_CASE("a failed send names the message, the socket and the cause") {
  test::TempDir dir;
  auto path = (dir / "nobody-listens").string();
  auto notifier = Notifier::open(path);
  REQUIRE_MESSAGE(notifier.ok(), error_text(notifier));
  auto sent = notifier->ready("x");
  REQUIRE_FALSE(sent.ok());
  CHECK(sent.error().message() ==
        "notify READY=1 to NOTIFY_SOCKET \"" + path + "\": sendto: No such file or directory");

  auto abstract = Notifier::open("@" + unique_abstract_name("nobody"));
  REQUIRE(abstract.ok());
  auto refused = abstract->watchdog();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().errno_value() == ECONNREFUSED);
}

TEST_CASE("a manager that stops reading makes sends fail at once instead of blocking") {
  std::string name = unique_abstract_name("full");
  Receiver manager(net::SocketAddress::unix_abstract(name));
  auto notifier = Notifier::open("@" + name);
  REQUIRE(notifier.ok());
  std::optional<sys::Error> failure;
  for (int i = 0; i < 100'000 && !failure; ++i) {
    if (auto sent = notifier->status(std::string(1000, 'x')); !sent.ok()) {
      failure = sent.error();
    }
  }
  REQUIRE(failure.has_value());
  CHECK(failure->errno_value() == EAGAIN);
  CHECK(failure->message().starts_with("notify STATUS=xxx"));
}

TEST_CASE("NOTIFY_SOCKET values that cannot be a local socket are refused by name") {
  ScopedEnvironment environment;
  environment.set("NOTIFY_SOCKET", "run/notify");
  CHECK(environment_error() ==
        "NOTIFY_SOCKET \"run/notify\": expected an absolute socket path or @name");
  environment.set("NOTIFY_SOCKET", "vsock:2:9999");
  CHECK(environment_error() ==
        "NOTIFY_SOCKET \"vsock:2:9999\": expected an absolute socket path or @name");
  environment.set("NOTIFY_SOCKET", "@");
  CHECK(environment_error() == "NOTIFY_SOCKET \"@\": expected an absolute socket path or @name");
  environment.set("NOTIFY_SOCKET", "/" + std::string(107, 'a'));
  CHECK(environment_error().ends_with(": longer than 107 bytes"));
}

TEST_CASE("the watchdog interval is half of WATCHDOG_USEC, for this process only") {
  test::TempDir dir;
  ScopedEnvironment environment;
  environment.set("NOTIFY_SOCKET", (dir / "notify").string());
  environment.unset("WATCHDOG_PID");

  environment.set("WATCHDOG_USEC", "3000000");
  CHECK(notifier_from_environment().watchdog_interval() == std::chrono::microseconds(1'500'000));

  environment.set("WATCHDOG_PID", std::to_string(::getpid()));
  CHECK(notifier_from_environment().watchdog_interval() == std::chrono::microseconds(1'500'000));

  // Pings meant for the main process, when we are one of its children.
  environment.set("WATCHDOG_PID", std::to_string(::getppid()));
  CHECK_FALSE(notifier_from_environment().watchdog_interval().has_value());

  environment.set("WATCHDOG_PID", "self");
  CHECK(environment_error() == "WATCHDOG_PID \"self\": expected a process id");

  environment.unset("WATCHDOG_PID");
  environment.set("WATCHDOG_USEC", "30s");
  CHECK(environment_error() ==
        "WATCHDOG_USEC \"30s\": expected a number of microseconds, at least 2");
  environment.set("WATCHDOG_USEC", "1");
  CHECK(environment_error() ==
        "WATCHDOG_USEC \"1\": expected a number of microseconds, at least 2");
}

}  // namespace
}  // namespace zcrecv::systemd
