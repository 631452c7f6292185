// /health and the disk state of the real zcrecv binary: 503 disk_full while the output
// filesystem is below min_free_space and 200 ok when space returns, with the log lines and the
// metrics; the warning of a daemon started on a full disk; a removed output directory; the
// automatic min_free_space on a small filesystem; HAProxy's HTTP check on /health, configured
// as docs/scale-out.md does, taking a full host out and back. The small filesystems are tmpfs
// mounts, which need root: without it those tests are reported skipped.
//
// No `no_listeners` state is tested because none exists: a configuration always has a
// [[listen]] entry (an empty list is refused), a reload that cannot open one changes nothing,
// and a listener is closed only by a stop, when /health says stopping.

#include <doctest/doctest.h>
#include <signal.h>

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/skip.hpp"
#include "support/small_tmpfs.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::size_t kMiB = std::size_t{1} << 20;

net::SocketAddress metrics_endpoint(Process& daemon) {
  return listening_address(daemon.wait_for_stderr("metrics listening on "));
}

// The value of the sample `series` (name and labels, as exported) in a scrape.
double metric(const net::SocketAddress& endpoint, const std::string& series) {
  const HttpReply reply = http_request(endpoint, "/metrics");
  REQUIRE(reply.status == 200);
  const std::size_t at = reply.body.find("\n" + series + " ");
  REQUIRE_MESSAGE(at != std::string::npos, series);
  return std::stod(reply.body.substr(at + series.size() + 2));
}

std::string state_series(const std::string& state) {
  return "zcrecv_health_state{state=\"" + state + "\"}";
}

std::string low_series(const fs::path& directory) {
  return "zcrecv_disk_space_low{directory=\"" + directory.string() + "\"}";
}

// A daemon on dir/out with the metrics endpoint and `toml` as its configuration file.
DaemonProcess start_daemon(const TempDir& dir, const std::string& toml) {
  const fs::path config = dir / "zcrecv.toml";
  write_text(config, toml);
  return DaemonProcess(dir, {"-c", config.string(), "--metrics", "127.0.0.1:0", "--sync", "none"});
}

TEST_CASE("health: 503 disk_full below min_free_space, logged and exported, then 200 ok again") {
  TempDir dir;
  SmallTmpfs disk(dir / "out", 8 * kMiB);
  if (skipped_because(!disk.mounted(), disk.error())) {
    return;
  }
  DaemonProcess daemon = start_daemon(dir, "[limits]\nmin_free_space = \"2MiB\"\n");
  const auto endpoint = metrics_endpoint(daemon.process());
  const HttpReply healthy = http_request(endpoint, "/health");
  CHECK(healthy.status == 200);
  CHECK(healthy.body == "ok\n");
  CHECK(metric(endpoint, state_series("ok")) == 1);
  CHECK(metric(endpoint, state_series("disk_full")) == 0);
  CHECK(metric(endpoint, low_series(daemon.out())) == 0);
  CHECK(metric(endpoint, "zcrecv_disk_min_free_bytes{directory=\"" + daemon.out().string() +
                             "\"}") == 2 * kMiB);

  // 1 MiB left, below the 2 MiB floor.
  const fs::path filler = disk.fill(kMiB);
  const std::string warning = daemon.process().wait_for_stderr("cannot take data");
  CHECK(warning.find(" warning: ") != std::string::npos);
  CHECK(warning.find("\"" + daemon.out().string() + "\"") != std::string::npos);
  CHECK(warning.find(" bytes free, below limits.min_free_space = 2MiB") != std::string::npos);
  // The monitor logs before a request can be served: the state is already the new one.
  const HttpReply full = http_request(endpoint, "/health");
  CHECK(full.status == 503);
  CHECK(full.body.rfind("disk_full " + daemon.out().string() + ": ", 0) == 0);
  CHECK(http_request(endpoint, "/health", "HEAD").status == 503);
  CHECK(metric(endpoint, state_series("disk_full")) == 1);
  CHECK(metric(endpoint, state_series("ok")) == 0);
  CHECK(metric(endpoint, low_series(daemon.out())) == 1);

  fs::remove(filler);
  const std::string back = daemon.process().wait_for_stderr("takes data again");
  CHECK(back.find(" info: ") != std::string::npos);
  CHECK(back.find("limits.min_free_space = 2MiB") != std::string::npos);
  const HttpReply again = http_request(endpoint, "/health");
  CHECK(again.status == 200);
  CHECK(again.body == "ok\n");
  CHECK(metric(endpoint, state_series("ok")) == 1);
  CHECK(metric(endpoint, low_series(daemon.out())) == 0);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("health: started on a starved disk, the daemon warns naming directory, space and key") {
  TempDir dir;
  SmallTmpfs disk(dir / "out", 8 * kMiB);
  if (skipped_because(!disk.mounted(), disk.error())) {
    return;
  }
  const fs::path filler = disk.fill(kMiB);
  DaemonProcess daemon = start_daemon(dir, "[limits]\nmin_free_space = \"2MiB\"\n");
  const auto endpoint = metrics_endpoint(daemon.process());
  const std::string log = daemon.process().stderr_text();
  const std::size_t warned = log.find("cannot take data");
  REQUIRE(warned != std::string::npos);
  // Before the workers start: no connection is read before the operator is told.
  CHECK(warned < log.find("started 2 workers"));
  const std::string line = log.substr(log.rfind('\n', warned) + 1);
  CHECK(line.find(" warning: output directory \"" + daemon.out().string() + "\"") !=
        std::string::npos);
  CHECK(line.find(" bytes free, below limits.min_free_space = 2MiB") != std::string::npos);
  CHECK(http_request(endpoint, "/health").status == 503);
  CHECK(metric(endpoint, low_series(daemon.out())) == 1);

  // Entering the state again is warned about again.
  fs::remove(filler);
  daemon.process().wait_for_stderr("takes data again");
  const fs::path again = disk.fill(kMiB);
  daemon.process().wait_for_stderr_count("cannot take data", 2);
  CHECK(http_request(endpoint, "/health").status == 503);
  fs::remove(again);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("health: the automatic min_free_space lets a 48 MiB filesystem take a stream at once") {
  TempDir dir;
  SmallTmpfs disk(dir / "out", 48 * kMiB);
  if (skipped_because(!disk.mounted(), disk.error())) {
    return;
  }
  DaemonProcess daemon = start_daemon(dir, "");
  const auto endpoint = metrics_endpoint(daemon.process());
  // 5 % of 48 MiB in whole KiB, not 256 MiB, which is more than the filesystem.
  const std::string floor = daemon.process().wait_for_stderr("limits.min_free_space = ");
  CHECK(floor.find("limits.min_free_space = 2457KiB (auto: the smaller of 256MiB and 5 % of "
                   "48MiB)") != std::string::npos);
  CHECK(http_request(endpoint, "/health").status == 200);

  const auto data = random_bytes(8 * kMiB, 48);
  Sender sender(connect_blocking(daemon.tcp()), data);
  CHECK(sender.join().empty());
  daemon.wait_for_ended(1);
  CHECK(only_stream(daemon.out()).bytes == data);
  CHECK(daemon.stop() == 0);
  CHECK(daemon.process().stderr_text().find("reading paused") == std::string::npos);
}

TEST_CASE("health: a removed output directory is disk_full until it is made again and reloaded") {
  TempDir dir;
  // No floor: the directory's failure alone makes the state.
  DaemonProcess daemon = start_daemon(dir, "[limits]\nmin_free_space = \"0\"\n");
  const auto endpoint = metrics_endpoint(daemon.process());
  CHECK(http_request(endpoint, "/health").status == 200);

  fs::remove_all(daemon.out());
  const std::string warning = daemon.process().wait_for_stderr("cannot take data");
  CHECK(warning.find("\"" + daemon.out().string() + "\" cannot take data: it was removed") !=
        std::string::npos);
  const HttpReply gone = http_request(endpoint, "/health");
  CHECK(gone.status == 503);
  CHECK(gone.body.rfind("disk_full ", 0) == 0);
  CHECK(metric(endpoint, low_series(daemon.out())) == 1);

  fs::create_directory(daemon.out());
  daemon.process().signal(SIGHUP);
  daemon.process().wait_for_stderr("takes data again");
  CHECK(http_request(endpoint, "/health").status == 200);
  CHECK(metric(endpoint, low_series(daemon.out())) == 0);
  const auto data = random_bytes(100000, 49);
  Sender sender(connect_blocking(daemon.tcp()), data);
  CHECK(sender.join().empty());
  daemon.wait_for_ended(1);
  CHECK(only_stream(daemon.out()).bytes == data);
  CHECK(daemon.stop() == 0);
}

// One line of HAProxy's `show stat` CSV, the one of `backend`/`server`, from its stats socket.
std::string haproxy_server_stat(const fs::path& stats_socket, const std::string& backend,
                                const std::string& server) {
  const sys::UniqueFd socket =
      connect_blocking(net::SocketAddress::unix_path(stats_socket.string()));
  const std::string command = "show stat\n";
  REQUIRE(::send(socket.get(), command.data(), command.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(command.size()));
  const std::string csv = read_until_closed(socket);
  const std::string prefix = backend + "," + server + ",";
  const std::size_t at = csv.find("\n" + prefix);
  REQUIRE_MESSAGE(at != std::string::npos, csv);
  return csv.substr(at + 1, csv.find('\n', at + 1) - at - 1);
}

TEST_CASE("health: HAProxy's check of /health takes a full host out, and back when it has room") {
  TempDir dir;
  SmallTmpfs disk(dir / "out", 8 * kMiB);
  if (skipped_because(!disk.mounted(), disk.error())) {
    return;
  }
  REQUIRE_MESSAGE(fs::exists("/usr/sbin/haproxy"),
                  "/usr/sbin/haproxy is missing: run .ci/install-deps");
  const fs::path config = dir / "zcrecv.toml";
  write_text(config,
             "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"ingest\"\nproxy_protocol = true\n"
             "proxy_from = [\"127.0.0.1/32\"]\n\n[output]\ndirectory = \"" +
                 (dir / "out").string() +
                 "\"\nsync = \"none\"\n\n[limits]\nmin_free_space = \"2MiB\"\n\n"
                 "[metrics]\nlisten = \"127.0.0.1:0\"\n");
  Process zcrecv({zcrecv_binary(), "-c", config.string()});
  const auto ingest = listening_address(zcrecv.wait_for_stderr("(ingest)"));
  const auto metrics = metrics_endpoint(zcrecv);

  // docs/scale-out.md's backend, with this test's addresses (no frontend: only the checks
  // matter here); `check port` is the metrics port.
  const fs::path stats_socket = dir / "haproxy.sock";
  const fs::path haproxy_config = dir / "haproxy.cfg";
  std::ofstream(haproxy_config)
      << "global\n  log stderr format raw local0 info\n  stats socket " << stats_socket.string()
      << "\ndefaults\n  mode tcp\n  log global\n  timeout connect 5s\n"
      << "  timeout client 30s\n  timeout server 30s\n"
      << "backend zcrecv\n  balance leastconn\n  option httpchk GET /health\n"
      << "  http-check expect status 200\n"
      << "  default-server check port " << metrics.port() << " inter 200ms fall 2 rise 2\n"
      << "  server z1 " << ingest.to_string() << " send-proxy-v2 proxy-v2-options crc32c\n";
  Process haproxy({"haproxy", "-f", haproxy_config.string(), "-db"});
  // The checks pass: plain HTTP on the metrics port (a PROXY header there would be a 400).
  poll_until(
      [&] {
        try {
          return haproxy_server_stat(stats_socket, "zcrecv", "z1").find(",L7OK,") !=
                 std::string::npos;
        } catch (const std::runtime_error&) {
          // The stats socket does not take connections before HAProxy has read its
          // configuration.
          return false;
        }
      },
      "HAProxy's first check of /health passes", 10s);

  const fs::path filler = disk.fill(kMiB);
  const auto filled = std::chrono::steady_clock::now();
  const std::string down = haproxy.wait_for_stderr("z1 is DOWN");
  const auto out_after = std::chrono::steady_clock::now() - filled;
  CHECK(down.find("code: 503") != std::string::npos);
  MESSAGE("HAProxy took the full host out ",
          std::chrono::duration_cast<std::chrono::milliseconds>(out_after).count(),
          " ms after its disk filled (bound in docs/scale-out.md: 100 ms + fall 2 x inter 200 ms)");

  fs::remove(filler);
  haproxy.wait_for_stderr("z1 is UP");
  CHECK(http_request(metrics, "/health").status == 200);
  haproxy.signal(SIGTERM);
  haproxy.wait();
  zcrecv.signal(SIGTERM);
  CHECK(zcrecv.wait() == 0);
}

}  // namespace
}  // namespace zcrecv::test
