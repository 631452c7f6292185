// The systemd side of the real zcrecv binary: the unit files as systemd-analyze sees them,
// socket activation by systemd-socket-activate (daemon and --inetd --accept with --stdin), and
// the notifications a service manager receives on $NOTIFY_SOCKET.

#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "net/socket_address.hpp"
#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* const kUnits[] = {"zcrecv.service", "zcrecv.socket", "zcrecv-accept.socket",
                              "zcrecv-accept@.service"};

// The directories of $PATH that hold an executable `name`; empty when there is none.
std::optional<std::string> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string directories = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= directories.size()) {
    std::size_t colon = std::min(directories.find(':', start), directories.size());
    fs::path candidate = fs::path(directories.substr(start, colon - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
    start = colon + 1;
  }
  return std::nullopt;
}

// True if `program` exists; otherwise says why the test is skipped.
bool have(const std::string& program) {
  if (find_program(program)) {
    return true;
  }
  skip_test(program + " not found (apt-get install systemd)");
  return false;
}

// The shipped units, with ExecStart pointing at the binary under test (systemd-analyze checks
// that it exists), and a man page directory holding docs/zcrecv.1 for Documentation=.
void stage_units(const TempDir& dir) {
  fs::path source = fs::path(ZCRECV_SOURCE_DIR);
  for (const char* unit : kUnits) {
    std::string text = read_text(source / "systemd" / unit);
    text = std::regex_replace(text, std::regex("/usr/bin/zcrecv"), zcrecv_binary());
    write_text(dir / unit, text);
  }
  fs::create_directories(dir / "man" / "man1");
  fs::copy_file(source / "docs" / "zcrecv.1", dir / "man" / "man1" / "zcrecv.1");
}

// A TCP port on 127.0.0.1 that was free a moment ago (systemd-socket-activate refuses port 0).
std::uint16_t free_port() {
  auto fd = sys::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd.ok());
  auto any = *net::SocketAddress::from_ip("127.0.0.1", 0);
  REQUIRE(sys::bind(fd->get(), any.data(), any.size()).ok());
  auto local = net::SocketAddress::local_of(fd->get());
  REQUIRE(local.ok());
  return local->port();
}

// Runs systemd-socket-activate with `arguments(port)`, on a fresh port until it can bind one
// (another process may take a free port before it does); returns once it listens.
template <class Arguments>
std::unique_ptr<Process> start_socket_activate(Arguments arguments, std::uint16_t& port) {
  for (int attempt = 0;; ++attempt) {
    port = free_port();
    auto process = std::make_unique<Process>(arguments(port));
    try {
      process->wait_for_stderr("Listening on 127.0.0.1:" + std::to_string(port));
      return process;
    } catch (const std::exception& error) {
      if (attempt == 4) {
        FAIL(error.what());
      }
    }
  }
}

void send_to(const net::SocketAddress& address, std::span<const std::byte> data) {
  Sender sender(connect_blocking(address), data);
  auto problem = sender.join();
  REQUIRE_MESSAGE(problem.empty(), problem);
}

// The content of every file under `directory`.
std::multiset<std::vector<std::byte>> contents(const fs::path& directory) {
  std::multiset<std::vector<std::byte>> found;
  for (const std::string& file : list_files(directory)) {
    found.insert(read_file(directory / file));
  }
  return found;
}

// The service manager's end of $NOTIFY_SOCKET: a Unix datagram socket.
class NotifyReceiver {
 public:
  explicit NotifyReceiver(const net::SocketAddress& address) {
    auto fd = sys::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd.ok());
    fd_ = std::move(*fd);
    REQUIRE(sys::bind(fd_.get(), address.data(), address.size()).ok());
  }

  // The next datagram, or "" if none arrives within `timeout`.
  std::string next(std::chrono::milliseconds timeout = 10s) {
    pollfd waiting{fd_.get(), POLLIN, 0};
    auto ready = sys::poll({&waiting, 1}, static_cast<int>(timeout.count()));
    REQUIRE(ready.ok());
    if (*ready == 0) {
      return {};
    }
    std::array<std::byte, 4096> buffer{};
    auto got = sys::recv(fd_.get(), buffer, 0);
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    return std::string(reinterpret_cast<const char*>(buffer.data()), **got);
  }

  // The next datagram that is more than a watchdog ping or a status line: the lifecycle
  // messages come in order between those.
  std::string next_state() {
    for (;;) {
      std::string message = next();
      if (message.empty()) {
        return message;
      }
      bool routine = true;
      std::size_t start = 0;
      while (start < message.size()) {
        std::size_t end = std::min(message.find('\n', start), message.size());
        std::string_view line(message.data() + start, end - start);
        routine = routine && (line == "WATCHDOG=1" || line.starts_with("STATUS="));
        start = end + 1;
      }
      if (!routine) {
        return message;
      }
    }
  }

 private:
  sys::UniqueFd fd_;
};

bool has_line(const std::string& message, const std::string& line) {
  return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
}

// A daemon configuration with one loopback listener, output under `dir`/out.
fs::path daemon_config(const TempDir& dir, const std::string& listeners) {
  fs::create_directories(dir / "out");
  fs::path config = dir / "zcrecv.toml";
  write_text(config, "workers = 1\n" + listeners + "[output]\ndirectory = \"" +
                         (dir / "out").string() +
                         "\"\nname = \"{listener}.{conn}.{seq}.bin\"\nsync = \"none\"\n"
                         "[limits]\nmin_free_space = \"0\"\nshutdown_timeout = \"10s\"\n");
  return config;
}

TEST_CASE("systemd-analyze verify finds nothing to say about any unit") {
  if (!have("systemd-analyze")) {
    return;
  }
  TempDir dir;
  stage_units(dir);
  std::vector<std::string> args{"env", "MANPATH=" + (dir / "man").string(), "systemd-analyze",
                                "verify"};
  for (const char* unit : kUnits) {
    args.push_back((dir / unit).string());
  }
  Process verify(args);
  int status = verify.wait(60s);
  CHECK_MESSAGE(verify.stderr_text().empty(), verify.stderr_text());
  CHECK(status == 0);
}

// --threshold is on systemd's internal scale, ten times the printed one (systemd 252: a unit
// printed as 1.1 passes --threshold=11 and fails --threshold=10), so 2.0 is --threshold=20.
TEST_CASE("systemd-analyze security rates zcrecv.service at 2.0 or below") {
  if (!have("systemd-analyze")) {
    return;
  }
  TempDir dir;
  stage_units(dir);
  Process security({"systemd-analyze", "security", "--offline=true", "--threshold=20",
                    (dir / "zcrecv.service").string()});
  int status = security.wait(60s);
  std::smatch score;
  std::string report = security.stdout_text();
  REQUIRE_MESSAGE(std::regex_search(report, score,
                                    std::regex("Overall exposure level for zcrecv.service: "
                                               "([0-9.]+)")),
                  report << security.stderr_text());
  MESSAGE("exposure level of zcrecv.service: " << score[1].str());
  CHECK(std::stod(score[1].str()) <= 2.0);
  CHECK(status == 0);
}

TEST_CASE("--stdin under systemd-socket-activate --inetd -a receives each connection byte-exact") {
  if (!have("systemd-socket-activate")) {
    return;
  }
  TempDir dir;
  auto unix_path = dir / "accept.sock";
  fs::create_directories(dir / "out");
  std::uint16_t port = 0;
  auto activate = start_socket_activate(
      [&](std::uint16_t p) {
        return std::vector<std::string>{"systemd-socket-activate",
                                        "--inetd",
                                        "-a",
                                        "-l",
                                        "127.0.0.1:" + std::to_string(p),
                                        "-l",
                                        unix_path.string(),
                                        zcrecv_binary(),
                                        "--stdin",
                                        "-o",
                                        (dir / "out").string(),
                                        "--sync",
                                        "none"};
      },
      port);
  auto tcp_data = random_bytes(2 * 1024 * 1024 + 11, 41);
  auto unix_data = random_bytes(777 * 1024 + 5, 42);
  send_to(*net::SocketAddress::from_ip("127.0.0.1", port), tcp_data);
  activate->wait_for_stderr("received " + std::to_string(tcp_data.size()) + " bytes");
  send_to(net::SocketAddress::unix_path(unix_path.string()), unix_data);
  activate->wait_for_stderr("received " + std::to_string(unix_data.size()) + " bytes");
  activate->signal(SIGTERM);
  activate->wait();
  CHECK(contents(dir / "out") == std::multiset<std::vector<std::byte>>{tcp_data, unix_data});
}

TEST_CASE("the daemon serves named inherited TCP and Unix sockets beside one it binds itself") {
  if (!have("systemd-socket-activate")) {
    return;
  }
  TempDir dir;
  auto inherited_path = dir / "in.sock";
  auto own_path = dir / "own.sock";
  // The inherited entries' addresses differ from the sockets': they are matched by name.
  fs::path config = daemon_config(dir,
                                  "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"ingest\"\n"
                                  "[[listen]]\naddress = \"unix:" +
                                      (dir / "elsewhere.sock").string() +
                                      "\"\nname = \"local\"\n"
                                      "[[listen]]\naddress = \"unix:" +
                                      own_path.string() + "\"\nname = \"own\"\n");
  std::uint16_t port = 0;
  auto zcrecv = start_socket_activate(
      [&](std::uint16_t p) {
        return std::vector<std::string>{"systemd-socket-activate",
                                        "-l",
                                        "127.0.0.1:" + std::to_string(p),
                                        "-l",
                                        inherited_path.string(),
                                        "--fdname=ingest:local",
                                        zcrecv_binary(),
                                        "-c",
                                        config.string()};
      },
      port);
  auto tcp_data = random_bytes(3 * 1024 * 1024 + 1, 51);
  auto unix_data = random_bytes(1024 * 1024 + 3, 52);
  auto own_data = random_bytes(512 * 1024 + 7, 53);
  // systemd-socket-activate starts zcrecv when the first connection arrives, as systemd does.
  Sender tcp_sender(connect_blocking(*net::SocketAddress::from_ip("127.0.0.1", port)), tcp_data);
  zcrecv->wait_for_stderr("(own)", 10s);
  // An entry that found its inherited socket binds nothing.
  REQUIRE_FALSE(fs::exists(dir / "elsewhere.sock"));
  send_to(net::SocketAddress::unix_path(inherited_path.string()), unix_data);
  send_to(net::SocketAddress::unix_path(own_path.string()), own_data);
  auto problem = tcp_sender.join();
  CHECK_MESSAGE(problem.empty(), problem);
  for (const char* listener : {"on ingest from", "on local from", "on own from"}) {
    zcrecv->wait_for_stderr(listener, 10s);
  }
  zcrecv->signal(SIGTERM);
  CHECK(zcrecv->wait() == 0);
  CHECK(contents(dir / "out") ==
        std::multiset<std::vector<std::byte>>{tcp_data, unix_data, own_data});
  // The inherited socket file belongs to whoever created it; zcrecv removes only its own.
  CHECK(fs::exists(inherited_path));
  CHECK_FALSE(fs::exists(own_path));
}

TEST_CASE("an inherited socket no entry names is served, and kept across a reload") {
  if (!have("systemd-socket-activate")) {
    return;
  }
  TempDir dir;
  auto inherited_path = dir / "stray.sock";
  fs::path config = daemon_config(dir, "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"own\"\n");
  std::uint16_t port = 0;
  auto zcrecv = start_socket_activate(
      [&](std::uint16_t p) {
        return std::vector<std::string>{"systemd-socket-activate",
                                        "-l",
                                        "127.0.0.1:" + std::to_string(p),
                                        "-l",
                                        inherited_path.string(),
                                        "--fdname=stray-tcp:stray",
                                        zcrecv_binary(),
                                        "-c",
                                        config.string()};
      },
      port);
  auto before = random_bytes(256 * 1024 + 1, 54);
  auto after = random_bytes(128 * 1024 + 5, 55);
  send_to(net::SocketAddress::unix_path(inherited_path.string()), before);
  zcrecv->wait_for_stderr("matches no [[listen]] entry", 10s);
  zcrecv->signal(SIGHUP);
  zcrecv->wait_for_stderr("configuration reloaded", 10s);
  send_to(net::SocketAddress::unix_path(inherited_path.string()), after);
  zcrecv->wait_for_stderr(std::to_string(after.size()) + " bytes", 10s);
  zcrecv->signal(SIGTERM);
  CHECK(zcrecv->wait() == 0);
  CHECK(contents(dir / "out") == std::multiset<std::vector<std::byte>>{before, after});
  CHECK(fs::exists(inherited_path));
}

TEST_CASE("READY, then RELOADING and READY on SIGHUP, then STOPPING on SIGTERM") {
  TempDir dir;
  fs::path config = daemon_config(dir, "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"a\"\n");
  auto socket_path = dir / "notify";
  NotifyReceiver manager(net::SocketAddress::unix_path(socket_path.string()));
  Process zcrecv({"env", "-u", "WATCHDOG_USEC", "NOTIFY_SOCKET=" + socket_path.string(),
                  zcrecv_binary(), "-c", config.string()});

  std::string ready = manager.next_state();
  REQUIRE_MESSAGE(has_line(ready, "READY=1"), ready << zcrecv.stderr_text());
  // READY=1 comes once the listener is open: a client gets in at once.
  auto address = listening_address(zcrecv.wait_for_stderr("listening on ", 1s));
  CHECK(connect_blocking(address).valid());

  auto before = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
  zcrecv.signal(SIGHUP);
  std::string reloading = manager.next_state();
  CHECK_MESSAGE(has_line(reloading, "RELOADING=1"), reloading);
  std::smatch stamp;
  REQUIRE_MESSAGE(std::regex_search(reloading, stamp, std::regex("MONOTONIC_USEC=([0-9]+)")),
                  reloading);
  CHECK(std::stoll(stamp[1].str()) >= before.count());
  std::string reloaded = manager.next_state();
  CHECK_MESSAGE(has_line(reloaded, "READY=1"), reloaded);

  zcrecv.signal(SIGTERM);
  std::string stopping = manager.next_state();
  CHECK_MESSAGE(has_line(stopping, "STOPPING=1"), stopping);
  CHECK(zcrecv.wait() == 0);
}

TEST_CASE("an abstract NOTIFY_SOCKET gets READY and WATCHDOG pings at half of WATCHDOG_USEC") {
  TempDir dir;
  fs::path config = daemon_config(dir, "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"a\"\n");
  std::string name = "zcrecv-e2e-notify-" + std::to_string(::getpid());
  NotifyReceiver manager(net::SocketAddress::unix_abstract(name));
  // Long enough that a busy machine (TSan, two cores) delays no ping by the slack the checks
  // below leave (2 s); the interval itself is the daemon's arithmetic, checked by
  // systemd/notifier_test.cpp.
  constexpr auto kWatchdog = 4000ms;
  Process zcrecv({"env", "NOTIFY_SOCKET=@" + name,
                  "WATCHDOG_USEC=" + std::to_string(std::chrono::microseconds(kWatchdog).count()),
                  zcrecv_binary(), "-c", config.string()});
  std::string ready = manager.next_state();
  REQUIRE_MESSAGE(has_line(ready, "READY=1"), ready << zcrecv.stderr_text());

  std::vector<std::chrono::steady_clock::time_point> pings;
  while (pings.size() < 4) {
    std::string message = manager.next(2 * kWatchdog);
    REQUIRE_MESSAGE(!message.empty(),
                    "no ping within WATCHDOG_USEC; stderr: " << zcrecv.stderr_text());
    if (has_line(message, "WATCHDOG=1")) {
      pings.push_back(std::chrono::steady_clock::now());
    }
  }
  for (std::size_t i = 1; i < pings.size(); ++i) {
    // The manager kills a service whose pings are WATCHDOG_USEC apart.
    CHECK(pings[i] - pings[i - 1] < kWatchdog);
  }
  // Not a busy loop: a late ping shortens the gap after it, never the average below a quarter.
  auto average = (pings.back() - pings.front()) / (pings.size() - 1);
  CHECK(average > kWatchdog / 4);

  zcrecv.signal(SIGTERM);
  CHECK(has_line(manager.next_state(), "STOPPING=1"));
  CHECK(zcrecv.wait() == 0);
}

}  // namespace
}  // namespace zcrecv::test
