// The real zcrecv binary against hostile peers on the surfaces around the PROXY parser (issue
// 19): certificate names that would make a stream fail to store, fake its completion or become
// a hook's option; clients that hold the metrics endpoint; hooks whose children outlive their
// timeout or that would inherit the daemon's descriptors; LOCAL and UNKNOWN headers past an
// allow list; --once and its --allow; a rejection that the log's rate limit would swallow.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <exception>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/process.hpp"
#include "support/proxy_headers.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<std::byte> with_header(const std::string& header, const std::vector<std::byte>& data) {
  std::vector<std::byte> all(bytes_of(header).begin(), bytes_of(header).end());
  all.insert(all.end(), data.begin(), data.end());
  return all;
}

// The daemon with the configuration `toml`, whose [[listen]] tables are named `listeners`;
// their addresses in that order.
struct ConfiguredDaemon {
  ConfiguredDaemon(const TempDir& dir, const std::string& toml,
                   const std::vector<std::string>& listeners, Process::Options options = {})
      : process(args(dir, toml), options) {
    for (const std::string& name : listeners) {
      addresses.push_back(listening_address(process.wait_for_stderr("(" + name + ")")));
    }
  }

  static std::vector<std::string> args(const TempDir& dir, const std::string& toml) {
    const fs::path config = dir / "zcrecv.toml";
    write_text(config, toml);
    return {zcrecv_binary(), "-c", config.string(), "--workers", "2"};
  }

  int stop() {
    process.signal(SIGTERM);
    return process.wait();
  }

  Process process;
  std::vector<net::SocketAddress> addresses;
};

// A [[listen]] table on 127.0.0.1 behind a proxy on 127.0.0.1, then `extra` keys.
std::string proxied_listener(const std::string& name, const std::string& extra = "") {
  return "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"" + name +
         "\"\nproxy_protocol = true\nproxy_from = [\"127.0.0.1/32\"]\n" + extra + "\n";
}

// An [output] table writing to `out` with the name template `name`, then `extra` keys.
std::string output_table(const fs::path& out, const std::string& name,
                         const std::string& extra = "") {
  return "[output]\ndirectory = \"" + out.string() + "\"\nname = \"" + name +
         "\"\nsync = \"none\"\n" + extra;
}

// Sends `header` and `data` on a new connection to `address`; the sender sees no error.
void send_stream(const net::SocketAddress& address, const std::string& header,
                 const std::vector<std::byte>& data) {
  const auto bytes = with_header(header, data);
  Sender sender(connect_blocking(address), bytes);
  CHECK(sender.join().empty());
}

// A v2 header for client 192.0.2.7:4000 with an SSL TLV: a client certificate on this
// connection, `verified` or not, with CN `common_name` (also an empty one).
std::string header_with_cn(const std::string& common_name, bool verified = true) {
  using namespace proxy_wire;
  const std::string ssl = tlv(kSsl, u8(kClientSsl | kClientCertConnection) +
                                        u32(verified ? 0 : 1) + tlv(kSslVersion, "TLSv1.3") +
                                        tlv(kSslCn, common_name));
  return proxy_v2("192.0.2.7", "10.0.0.1", 4000, 9000, ssl);
}

// Every regular file under `root`, relative to it.
std::vector<fs::path> regular_files(const fs::path& root) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) {
      files.push_back(entry.path().lexically_relative(root));
    }
  }
  return files;
}

// An executable /bin/sh script at dir/NAME.
fs::path write_hook(const TempDir& dir, const std::string& name, const std::string& body) {
  const fs::path path = dir / name;
  write_text(path, "#!/bin/sh\n" + body);
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
bool ended(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string field;
  for (int i = 0; i < 3 && stat >> field; ++i) {
  }
  return !stat || field == "Z" || field == "X";
}

TEST_CASE("hostile e2e: a 255-byte certificate CN is stored whole, under a name within NAME_MAX") {
  TempDir dir;
  const fs::path out = dir / "out";
  ConfiguredDaemon daemon(dir,
                          proxied_listener("proxied") +
                              output_table(out, "{client_cn}/{conn}-{client_cn}-{seq}.bin"),
                          {"proxied"});
  const auto data = random_bytes(300 * 1024, 191);
  send_stream(daemon.addresses[0], header_with_cn(std::string(255, 'c')), data);
  const std::string ended_line = daemon.process.wait_for_stderr(" files, ");
  CHECK(ended_line.find(" 1 files, ") != std::string::npos);
  CHECK(daemon.stop() == 0);
  const auto files = regular_files(out);
  REQUIRE(files.size() == 1);
  CHECK(read_file(out / files.front()) == data);
  for (const fs::path& component : files.front()) {
    CHECK(component.string().size() <= NAME_MAX);
  }
  // The shortened CN keeps its start and a hash of the whole.
  CHECK(files.front().begin()->string().starts_with(std::string(46, 'c') + "+h"));
  CHECK(daemon.process.stderr_text().find("never written") == std::string::npos);
}

TEST_CASE("hostile e2e: a CN naming a file where a directory is needed goes to the fallback name") {
  TempDir dir;
  const fs::path out = dir / "out";
  fs::create_directories(out);
  write_text(out / "alice", "planted");
  ConfiguredDaemon daemon(
      dir,
      proxied_listener("proxied") +
          output_table(out, "{client_cn}/{conn}-{seq}.bin", "max_file_size = \"16KiB\"\n"),
      {"proxied"});
  const auto data = random_bytes(40 * 1024, 192);
  send_stream(daemon.addresses[0], header_with_cn("alice"), data);
  const std::string ended_line = daemon.process.wait_for_stderr(" files, ");
  CHECK(ended_line.find(" 3 files, ") != std::string::npos);
  CHECK(daemon.stop() == 0);
  // Logged once for the connection, with the CN as the client sent it.
  const std::string log = daemon.process.stderr_text();
  std::size_t fallbacks = 0;
  for (const std::string& line : lines_of(log)) {
    if (line.find("the stream goes to \"fallback-proxied-") != std::string::npos) {
      ++fallbacks;
      CHECK(line.find("client_cn \"alice\"") != std::string::npos);
      CHECK(line.find("Not a directory") != std::string::npos);
    }
  }
  CHECK(fallbacks == 1);
  std::vector<std::string> names = list_files(out);
  std::erase(names, "alice");
  REQUIRE(names.size() == 3);
  std::vector<std::byte> stored;
  for (const std::string& name : names) {
    CHECK(name.starts_with("fallback-proxied-"));
    const auto part = read_file(out / name);
    stored.insert(stored.end(), part.begin(), part.end());
  }
  CHECK(stored == data);
  CHECK(read_text(out / "alice") == "planted");
}

TEST_CASE("hostile e2e: a CN can neither fake a cut stream nor become a hook's option") {
  TempDir dir;
  const fs::path out = dir / "out";
  const fs::path log = dir / "hook.log";
  // {name} and {completion}, as a tool that parses options would get them.
  const fs::path hook = write_hook(dir, "record.sh", "printf '%s|%s\\n' \"$1\" \"$2\" >> " +
                                                         log.string() + "\n");
  ConfiguredDaemon daemon(
      dir,
      proxied_listener("proxied") +
          output_table(out, "{client_cn}",
                       "on_publish = [\"" + hook.string() + "\", \"{name}\", \"{completion}\"]\n"),
      {"proxied"});
  const std::vector<std::string> headers{
      header_with_cn("x.incomplete"), header_with_cn("-rf"), header_with_cn(""),
      header_with_cn("alice", false), proxy_v2("192.0.2.8", "10.0.0.1", 4000, 9000)};
  for (std::size_t i = 0; i < headers.size(); ++i) {
    send_stream(daemon.addresses[0], headers[i], random_bytes(1000, 193 + i));
  }
  daemon.process.wait_for_stderr_count(": exit 0 after ", headers.size());
  CHECK(daemon.stop() == 0);
  const std::vector<std::string> lines = lines_of(read_text(log));
  const std::set<std::string> hooked(lines.begin(), lines.end());
  CHECK(hooked == std::set<std::string>{"x.incomplete+|complete", "+2drf|complete",
                                        "+empty|complete", "+unverified|complete",
                                        "+nocert|complete"});
}

// Keeps `count` connections to `address` open, sending nothing, and opens a new one for each
// the server closes, until destroyed.
class SilentClients {
 public:
  SilentClients(const net::SocketAddress& address, std::size_t count) : address_(address) {
    for (std::size_t i = 0; i < count; ++i) {
      sockets_.push_back(connect_blocking(address_));
    }
    thread_ = std::thread([this] { run(); });
  }
  SilentClients(const SilentClients&) = delete;
  SilentClients& operator=(const SilentClients&) = delete;
  ~SilentClients() {
    stop_ = true;
    thread_.join();
  }

  [[nodiscard]] std::size_t reconnects() const { return reconnects_; }

 private:
  void run() {
    std::vector<pollfd> polled(sockets_.size());
    while (!stop_) {
      for (std::size_t i = 0; i < sockets_.size(); ++i) {
        polled[i] = {sockets_[i].get(), POLLIN, 0};
      }
      if (::poll(polled.data(), polled.size(), 50) <= 0) {
        continue;
      }
      for (std::size_t i = 0; i < sockets_.size(); ++i) {
        if (polled[i].revents != 0) {
          // Closed by the server (it never answers a client that says nothing): come back.
          try {
            sockets_[i] = connect_blocking(address_);
            ++reconnects_;
          } catch (const std::exception&) {
            // A full backlog: try again on the next round.
          }
        }
      }
    }
  }

  net::SocketAddress address_;
  std::vector<sys::UniqueFd> sockets_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> reconnects_{0};
  std::thread thread_;
};

// Whether GET /health on `address` is answered "200" within `limit` of the connect.
bool health_answers_within(const net::SocketAddress& address, std::chrono::milliseconds limit) {
  const auto start = Clock::now();
  sys::UniqueFd socket;
  try {
    socket = connect_blocking(address);
  } catch (const std::exception&) {
    return false;
  }
  const std::string request = "GET /health HTTP/1.1\r\nHost: zcrecv\r\n\r\n";
  if (::send(socket.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return false;
  }
  std::string reply;
  for (;;) {
    const auto left = limit - std::chrono::duration_cast<std::chrono::milliseconds>(
                                  Clock::now() - start);
    pollfd ready{socket.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) != 1) {
      return false;
    }
    char buffer[4096];
    const ssize_t got = ::recv(socket.get(), buffer, sizeof buffer, 0);
    if (got <= 0) {
      return reply.starts_with("HTTP/1.1 200 ");
    }
    reply.append(buffer, static_cast<std::size_t>(got));
  }
}

TEST_CASE("hostile e2e: /health answers 20 of 20 probes within 1 s while 200 clients say nothing") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--metrics", "127.0.0.1:0", "--sync", "none"});
  const auto endpoint =
      listening_address(daemon.process().wait_for_stderr("metrics listening on "));
  {
    SilentClients silent(endpoint, 200);
    int answered = 0;
    for (int probe = 0; probe < 20; ++probe) {
      answered += health_answers_within(endpoint, 1s) ? 1 : 0;
    }
    CHECK(answered == 20);
    MESSAGE("silent clients reconnected ", silent.reconnects(), " times during the probes");
  }
  CHECK(daemon.stop() == 0);
}

TEST_CASE("hostile e2e: a hook's child that ignores SIGTERM is killed when the grace period ends") {
  TempDir dir;
  const fs::path out = dir / "out";
  const fs::path pid_file = dir / "child.pid";
  const fs::path marker = dir / "ran-once";
  // First run: a child that ignores SIGTERM, and a main process that dies of it. Later runs
  // (the retry) succeed at once.
  const fs::path hook = write_hook(dir, "stubborn.sh",
                                   "[ -e " + marker.string() + " ] && exit 0\ntouch " +
                                       marker.string() + "\n(trap '' TERM; exec sleep 60) &\n" +
                                       "echo $! > " + pid_file.string() + "\nwait\n");
  ConfiguredDaemon daemon(dir,
                          "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"plain\"\n\n" +
                              output_table(out, "{conn}-{seq}.bin",
                                           "on_publish = [\"" + hook.string() +
                                               "\"]\non_publish_timeout = \"500ms\"\n"),
                          {"plain"});
  const auto data = random_bytes(1000, 201);
  Sender sender(connect_blocking(daemon.addresses[0]), data);
  CHECK(sender.join().empty());
  const std::string killed = daemon.process.wait_for_stderr("timed out, killed by SIGTERM");
  const std::string child = read_text(pid_file).substr(0, read_text(pid_file).find('\n'));
  REQUIRE_FALSE(child.empty());
  // The grace period is 5 s; the child would sleep 60.
  poll_until([&] { return ended(child); }, "the TERM-ignoring child of the hook has ended", 15s);
  daemon.process.wait_for_stderr(": exit 0 after ");
  CHECK(daemon.stop() == 0);
}

TEST_CASE("hostile e2e: a descriptor the daemon inherited without close-on-exec is not a hook's") {
  TempDir dir;
  const fs::path out = dir / "out";
  const fs::path result = dir / "result";
  auto leaked = sys::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(leaked.ok());
  const std::string fd = std::to_string(leaked->get());
  const fs::path hook =
      write_hook(dir, "check.sh",
                 "if [ -e /proc/$$/fd/" + fd + " ]; then echo open; else echo closed; fi > " +
                     result.string() + "\n");
  // Process keeps inherited_fds open across exec, as a careless parent would.
  ConfiguredDaemon daemon(
      dir,
      "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"plain\"\n\n" +
          output_table(out, "{conn}-{seq}.bin", "on_publish = [\"" + hook.string() + "\"]\n"),
      {"plain"}, Process::Options{.inherited_fds = {leaked->get()}});
  // The premise: the daemon holds it.
  REQUIRE(fs::exists("/proc/" + std::to_string(daemon.process.pid()) + "/fd/" + fd));
  const auto data = random_bytes(1000, 202);
  Sender sender(connect_blocking(daemon.addresses[0]), data);
  CHECK(sender.join().empty());
  daemon.process.wait_for_stderr(": exit 0 after ");
  CHECK(daemon.stop() == 0);
  CHECK(read_text(result) == "closed\n");
}

TEST_CASE("hostile e2e: LOCAL and UNKNOWN headers with data are refused under allow, checks are not") {
  TempDir dir;
  const fs::path out = dir / "out";
  const std::string allow = "allow = [\"192.0.2.0/24\"]\n";
  ConfiguredDaemon daemon(
      dir,
      proxied_listener("local", allow) + proxied_listener("unknown", allow) +
          proxied_listener("checked", allow) +
          proxied_listener("trusting", allow + "allow_proxy_local = true\n") +
          output_table(out, "{listener}/{peer}-{client_cn}-{conn}.bin"),
      {"local", "unknown", "checked", "trusting"});
  const auto data = random_bytes(2000, 203);

  // A v2 LOCAL header, then data: refused, nothing stored.
  {
    sys::UniqueFd socket = connect_blocking(daemon.addresses[0]);
    const auto bytes = with_header(proxy_v2_local(), data);
    REQUIRE(::send(socket.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
    CHECK(closed_by_peer(socket));
  }
  const std::string local = daemon.process.wait_for_stderr("listener local: rejected ");
  CHECK(local.find("names no client") != std::string::npos);
  // A v1 UNKNOWN header, then data: the same.
  {
    sys::UniqueFd socket = connect_blocking(daemon.addresses[1]);
    const auto bytes = with_header("PROXY UNKNOWN\r\n", data);
    REQUIRE(::send(socket.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
  const std::string unknown = daemon.process.wait_for_stderr("listener unknown: rejected ");
  CHECK(unknown.find("names no client") != std::string::npos);

  // A health check (LOCAL, then the end) is no stream: not refused, nothing stored. A client
  // the allow list admits is stored on the same listener after it.
  {
    sys::UniqueFd socket = connect_blocking(daemon.addresses[2]);
    const std::string header = proxy_v2_local();
    REQUIRE(::send(socket.get(), header.data(), header.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(header.size()));
  }
  send_stream(daemon.addresses[2], proxy_v2("192.0.2.7", "10.0.0.1", 4000, 9000), data);
  daemon.process.wait_for_stderr(" from 192.0.2.7:4000 via ");

  // allow_proxy_local = true lets the proxy's own stream in, and a LOCAL header's SSL TLV
  // gives it no client certificate.
  send_stream(daemon.addresses[3],
              proxy_wire::v2(proxy_wire::kLocal, proxy_wire::kUnspec, proxy_ssl_tlv("admin", true)),
              data);
  daemon.process.wait_for_stderr("(the proxy's own connection)");
  CHECK(daemon.stop() == 0);

  const std::string log = daemon.process.stderr_text();
  CHECK(log.find("listener checked: rejected") == std::string::npos);
  CHECK(log.find("listener checked: 1 more") == std::string::npos);
  std::set<std::string> stored;
  for (const fs::path& file : regular_files(out)) {
    stored.insert(file.begin()->string());
    CHECK(read_file(out / file) == data);
  }
  CHECK(stored == std::set<std::string>{"checked", "trusting"});
  const auto trusted = regular_files(out / "trusting");
  REQUIRE(trusted.size() == 1);
  CHECK(trusted.front().string().find("-+nocert-") != std::string::npos);
}

TEST_CASE("hostile e2e: --once --allow refuses a client outside the list and takes one inside") {
  TempDir dir;
  const fs::path out = dir / "received.bin";
  Process zcrecv({zcrecv_binary(), "--once", "-l", "127.0.0.1:0", "-o", out.string(), "--sync",
                  "none", "--allow", "127.0.0.2/32", "--timeout", "30s"});
  const auto address = listening_address(zcrecv.wait_for_stderr("listening on "));
  const auto stranger = random_bytes(1000, 204);
  {
    Sender sender(connect_from("127.0.0.3", address), stranger);
    (void)sender.join();
  }
  const std::string refused = zcrecv.wait_for_stderr("rejected 127.0.0.3:");
  CHECK(refused.find("address not in the allow list") != std::string::npos);
  const auto data = random_bytes(5000, 205);
  Sender sender(connect_from("127.0.0.2", address), data);
  CHECK(sender.join().empty());
  CHECK(zcrecv.wait() == 0);
  CHECK(read_file(out) == data);
}

TEST_CASE("hostile e2e: a rejection the rate limit held back is counted in the log anyway") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--allow", "127.0.0.2/32", "--sync", "none"});
  // Two refusals in the same second: the first is logged, the second held back, and no third
  // comes to carry its count.
  CHECK(closed_by_peer(connect_blocking(daemon.tcp())));
  CHECK(closed_by_peer(connect_blocking(daemon.tcp())));
  daemon.process().wait_for_stderr(": rejected 127.0.0.1:");
  const std::string summary =
      daemon.process().wait_for_stderr("1 more connections rejected", 5s);
  CHECK(summary.find("listener ") != std::string::npos);
  CHECK(daemon.stop() == 0);
}

}  // namespace
}  // namespace zcrecv::test
