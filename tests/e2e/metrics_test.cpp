// The metrics endpoint of the real zcrecv binary: what it counts against what the test did, read
// by Prometheus' own parser; clients that misbehave; /health through a stop; scrapes while 100
// streams run; the endpoint moved, kept and removed by reloads; --metrics and --check-config.

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/process.hpp"
#include "support/prometheus_parser.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using Labels = std::map<std::string, std::string>;

// GET /metrics, read by prometheus_client: the value of one sample, found by its name (with
// its suffix: "zcrecv_connections_accepted_total") and all its labels.
class Scrape {
 public:
  explicit Scrape(const net::SocketAddress& endpoint) {
    const HttpReply reply = http_request(endpoint, "/metrics");
    REQUIRE(reply.status == 200);
    CHECK(reply.head.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    families_ = parse_with_prometheus_client(reply.body);
  }

  [[nodiscard]] double value(const std::string& name, const Labels& labels = {}) const {
    for (const ParsedFamily& family : families_) {
      for (const ParsedSample& sample : family.samples) {
        if (sample.name == name && sample.labels == labels) {
          return sample.value;
        }
      }
    }
    throw std::runtime_error("no sample " + name + " with those labels in the scrape");
  }

  // The type prometheus_client gives the family `name` (without a counter's _total).
  [[nodiscard]] std::string type(const std::string& name) const {
    for (const ParsedFamily& family : families_) {
      if (family.name == name) {
        return family.type;
      }
    }
    return "absent";
  }

 private:
  std::vector<ParsedFamily> families_;
};

// The value of one sample, scraped without the parser: for polls, which run many times.
double quick_value(const net::SocketAddress& endpoint, const std::string& series) {
  const HttpReply reply = http_request(endpoint, "/metrics");
  REQUIRE(reply.status == 200);
  const std::size_t at = reply.body.find("\n" + series + " ");
  REQUIRE_MESSAGE(at != std::string::npos, series);
  return std::stod(reply.body.substr(at + series.size() + 2));
}

net::SocketAddress metrics_endpoint(Process& daemon) {
  return listening_address(daemon.wait_for_stderr("metrics listening on "));
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t found = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++found;
  }
  return found;
}

TEST_CASE("metrics: the counters say what the test did, as Prometheus' own parser reads them") {
  TempDir dir;
  constexpr std::size_t kConnections = 10;
  constexpr std::size_t kBytes = 10000;
  constexpr std::size_t kLimit = std::size_t{64} * 1024;
  const fs::path config = dir / "zcrecv.toml";
  write_text(config,
             "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"main\"\n\n"
             "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"guarded\"\n"
             "allow = [\"127.0.0.2/32\"]\n\n"
             "[output]\ndirectory = \"" +
                 (dir / "out").string() +
                 "\"\nname = \"{listener}/{conn}-{seq}.bin\"\nsync = \"none\"\n\n"
                 "[limits]\nmax_connections = 2\nmax_connections_per_peer = 1\n"
                 "max_connection_bytes = \"64KiB\"\n\n"
                 "[metrics]\nlisten = \"127.0.0.1:0\"\n");
  Process daemon({zcrecv_binary(), "-c", config.string(), "--workers", "2"});
  const auto main = listening_address(daemon.wait_for_stderr("(main)"));
  const auto guarded = listening_address(daemon.wait_for_stderr("(guarded)"));
  const auto endpoint = metrics_endpoint(daemon);

  // N connections of M bytes, one after the other (max_connections_per_peer = 1).
  for (std::size_t i = 0; i < kConnections; ++i) {
    const auto data = random_bytes(kBytes, 300 + i);
    Sender sender(connect_blocking(main), data);
    CHECK(sender.join().empty());
    daemon.wait_for_stderr_count(" files, ", i + 1);
  }
  {
    const Scrape scrape(endpoint);
    CHECK(scrape.value("zcrecv_connections_accepted_total", {{"listener", "main"}}) ==
          kConnections);
    CHECK(scrape.value("zcrecv_received_bytes_total", {{"listener", "main"}, {"path", "splice"}}) +
              scrape.value("zcrecv_received_bytes_total",
                           {{"listener", "main"}, {"path", "readwrite"}}) ==
          kConnections * kBytes);
    CHECK(scrape.value("zcrecv_files_published_total",
                       {{"listener", "main"}, {"completion", "complete"}}) == kConnections);
  }

  // One cut at max_connection_bytes: its file is published .incomplete.
  const auto long_stream = random_bytes(kLimit + 5000, 399);
  Sender cut(connect_blocking(main), long_stream);
  daemon.wait_for_stderr("max_connection_bytes (65536) reached");
  (void)cut.join();

  // An allow-list refusal (127.0.0.1 on a listener that lets 127.0.0.2 in).
  CHECK(closed_by_peer(connect_blocking(guarded)));
  // A per-peer refusal: 127.0.0.3 holds one connection open and asks for a second.
  const auto held = connect_from("127.0.0.3", main);
  poll_until(
      [&] { return quick_value(endpoint, "zcrecv_connections_open{listener=\"main\"}") == 1; },
      "the held connection is open");
  CHECK(closed_by_peer(connect_from("127.0.0.3", main)));
  // A max_connections refusal: two held open, a third from another peer.
  const auto second = connect_from("127.0.0.4", main);
  poll_until(
      [&] { return quick_value(endpoint, "zcrecv_connections_open{listener=\"main\"}") == 2; },
      "both held connections are open");
  CHECK(closed_by_peer(connect_from("127.0.0.5", main)));

  const Scrape scrape(endpoint);
  CHECK(scrape.value("zcrecv_connections_accepted_total", {{"listener", "main"}}) ==
        kConnections + 3);
  CHECK(scrape.value("zcrecv_connections_accepted_total", {{"listener", "guarded"}}) == 0);
  CHECK(scrape.value("zcrecv_connections_open", {{"listener", "main"}}) == 2);
  CHECK(scrape.value("zcrecv_connections_open", {{"listener", "guarded"}}) == 0);
  const std::map<std::string, std::map<std::string, double>> rejections{
      {"main", {{"allow", 0}, {"per_peer", 1}, {"max_connections", 1}, {"proxy", 0}}},
      {"guarded", {{"allow", 1}, {"per_peer", 0}, {"max_connections", 0}, {"proxy", 0}}}};
  for (const auto& listener : rejections) {
    for (const auto& reason : listener.second) {
      INFO(listener.first, " ", reason.first);
      CHECK(scrape.value("zcrecv_connections_rejected_total",
                         {{"listener", listener.first}, {"reason", reason.first}}) ==
            reason.second);
    }
  }
  CHECK(scrape.value("zcrecv_received_bytes_total", {{"listener", "main"}, {"path", "splice"}}) +
            scrape.value("zcrecv_received_bytes_total",
                         {{"listener", "main"}, {"path", "readwrite"}}) ==
        kConnections * kBytes + kLimit);
  CHECK(scrape.value("zcrecv_files_published_total",
                     {{"listener", "main"}, {"completion", "complete"}}) == kConnections);
  CHECK(scrape.value("zcrecv_files_published_total",
                     {{"listener", "main"}, {"completion", "incomplete"}}) == 1);
  CHECK(scrape.value("zcrecv_lost_bytes_total") == 0);
  CHECK(scrape.value("zcrecv_disk_full_pauses_total") == 0);
  CHECK(scrape.value("zcrecv_paused_connections", {{"reason", "output"}}) == 0);
  CHECK(scrape.value("zcrecv_sync_queue_files") == 0);
  CHECK(scrape.value("zcrecv_build_info", {{"version", ZCRECV_VERSION}}) == 1);
  CHECK(scrape.value("process_open_fds") > 0);
  CHECK(scrape.value("process_resident_memory_bytes") > 0);
  CHECK(scrape.value("process_start_time_seconds") > 0);
  for (const char* family :
       {"zcrecv_connections_accepted", "zcrecv_connections_rejected", "zcrecv_received_bytes",
        "zcrecv_files_published", "zcrecv_lost_bytes", "zcrecv_disk_full_pauses", "zcrecv_receipts",
        "zcrecv_hooks_started", "process_cpu_seconds"}) {
    CHECK_MESSAGE(scrape.type(family) == "counter", family);
  }
  for (const char* family :
       {"zcrecv_connections_open", "zcrecv_paused_connections", "zcrecv_sync_queue_files",
        "zcrecv_hooks_backlog_files", "process_open_fds", "process_max_fds"}) {
    CHECK_MESSAGE(scrape.type(family) == "gauge", family);
  }
  CHECK(scrape.type("zcrecv_publish_duration_seconds") == "histogram");

  // The statistics line reads the same counters.
  daemon.signal(SIGUSR2);
  CHECK(daemon.wait_for_stderr("statistics: ")
            .find("connections open=2 total=13 rejected=3, bytes=165536, files published=11") !=
        std::string::npos);

  daemon.signal(SIGTERM);
  CHECK(daemon.wait() == 0);
  CHECK(list_files(dir / "out").size() == kConnections + 1);
}

TEST_CASE("metrics: clients that say nothing, never end their header or ask for /nope") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--metrics", "127.0.0.1:0", "--sync", "none"});
  const auto endpoint = metrics_endpoint(daemon.process());

  // Says nothing: cut at the endpoint's deadline.
  const auto silent = connect_blocking(endpoint);
  // A head that fills the 8 KiB the endpoint reads: answered 431, closed.
  {
    const auto socket = connect_blocking(endpoint);
    const std::string head(8192, 'a');
    REQUIRE(::send(socket.get(), head.data(), head.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(head.size()));
    CHECK(read_until_closed(socket).starts_with("HTTP/1.1 431 "));
  }
  // A header that never ends: cut however much it sends (at most 64 MiB here).
  {
    const auto socket = connect_blocking(endpoint);
    const std::string chunk(4096, 'b');
    bool cut = false;
    for (std::size_t sent = 0; !cut && sent < (std::size_t{64} << 20); sent += chunk.size()) {
      cut = ::send(socket.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0;
    }
    CHECK(cut);
  }
  CHECK(http_request(endpoint, "/nope").status == 404);
  CHECK(http_request(endpoint, "/metrics", "POST").status == 405);
  CHECK(read_until_closed(silent).empty());

  // The daemon serves on, metrics and data alike.
  CHECK(http_request(endpoint, "/metrics").status == 200);
  const auto data = random_bytes(100000, 41);
  Sender sender(connect_blocking(daemon.tcp()), data);
  CHECK(sender.join().empty());
  daemon.wait_for_ended(1);
  CHECK(only_stream(daemon.out()).bytes == data);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("metrics: /health answers 200, then 503 from SIGTERM while a connection drains") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--metrics", "127.0.0.1:0", "--sync", "none"});
  const auto endpoint = metrics_endpoint(daemon.process());
  const HttpReply healthy = http_request(endpoint, "/health");
  CHECK(healthy.status == 200);
  CHECK(healthy.body == "ok\n");

  const auto data = random_bytes(50000, 42);
  const auto draining = connect_blocking(daemon.tcp());
  write_all(draining, prefix(data, 20000));
  poll_until(
      [&] {
        return quick_value(endpoint, "zcrecv_connections_open{listener=\"tcp-127.0.0.1-0\"}") == 1;
      },
      "the connection is open");
  daemon.process().signal(SIGTERM);
  daemon.process().wait_for_stderr("stopping: closing the listeners");
  const HttpReply stopping = http_request(endpoint, "/health");
  CHECK(stopping.status == 503);
  CHECK(stopping.body == "stopping\n");
  const Scrape draining_scrape(endpoint);
  CHECK(draining_scrape.value("zcrecv_connections_open", {{"listener", "tcp-127.0.0.1-0"}}) == 1);
  CHECK(draining_scrape.value("zcrecv_health_state", {{"state", "stopping"}}) == 1);
  CHECK(draining_scrape.value("zcrecv_health_state", {{"state", "ok"}}) == 0);

  write_all(draining, std::span(data).subspan(20000));
  CHECK(::shutdown(draining.get(), SHUT_WR) == 0);
  CHECK(daemon.process().wait() == 0);
  CHECK(only_stream(daemon.out()).bytes == data);
  CHECK_THROWS(connect_blocking(endpoint));
}

TEST_CASE("metrics: scrapes are answered while 100 streams run, and every stream is byte-exact") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--metrics", "127.0.0.1:0", "--sync", "none"});
  const auto endpoint = metrics_endpoint(daemon.process());
  constexpr std::size_t kStreams = 100;
  constexpr std::size_t kHead = std::size_t{16} * 1024;
  constexpr std::size_t kTail = std::size_t{256} * 1024;
  std::vector<std::vector<std::byte>> sent;
  std::vector<sys::UniqueFd> sockets;
  for (std::size_t i = 0; i < kStreams; ++i) {
    sent.push_back(random_bytes(kHead + kTail + i, 500 + i));
    sockets.push_back(connect_blocking(daemon.tcp()));
    write_all(sockets.back(), prefix(sent.back(), kHead));
  }
  // Every stream is half-way: the scrapes see them all open.
  poll_until(
      [&] {
        return quick_value(endpoint, "zcrecv_connections_open{listener=\"tcp-127.0.0.1-0\"}") ==
               kStreams;
      },
      "all 100 streams are open");
  // Bytes count as they arrive, not at a connection's end.
  const std::string received = R"(zcrecv_received_bytes_total{listener="tcp-127.0.0.1-0",path=)";
  poll_until(
      [&] {
        return quick_value(endpoint, received + R"("splice"})") +
                   quick_value(endpoint, received + R"("readwrite"})") ==
               static_cast<double>(kStreams * kHead);
      },
      "the first 16 KiB of every stream are counted");

  std::atomic<bool> done{false};
  std::atomic<std::size_t> answered{0};
  std::atomic<std::size_t> failed{0};
  std::thread scraper([&] {
    while (!done.load()) {
      try {
        const HttpReply reply = http_request(endpoint, "/metrics");
        ++(reply.status == 200 &&
                   reply.body.find("zcrecv_received_bytes_total") != std::string::npos
               ? answered
               : failed);
      } catch (const std::exception&) {
        ++failed;
      }
    }
  });
  std::vector<std::unique_ptr<Sender>> senders;
  for (std::size_t i = 0; i < kStreams; ++i) {
    senders.push_back(std::make_unique<Sender>(std::move(sockets[i]),
                                               std::span(sent[i]).subspan(kHead),
                                               SenderOptions{.chunk_size = 16384}));
  }
  for (auto& sender : senders) {
    CHECK(sender->join().empty());
  }
  done = true;
  scraper.join();
  CHECK(answered.load() >= 1);
  CHECK(failed.load() == 0);

  daemon.wait_for_ended(kStreams);
  CHECK(daemon.stop() == 0);
  const auto streams = reassemble(daemon.out());
  REQUIRE(streams.size() == kStreams);
  std::vector<bool> matched(kStreams, false);
  for (const auto& each : streams) {
    INFO("connection ", each.first);
    const StreamFiles& stream = each.second;
    CHECK_FALSE(stream.incomplete);
    // Each stream has its own length.
    const std::size_t index = stream.bytes.size() - kHead - kTail;
    REQUIRE(index < kStreams);
    CHECK(stream.bytes == sent[index]);
    matched[index] = true;
  }
  CHECK(std::count(matched.begin(), matched.end(), true) == kStreams);
}

TEST_CASE("metrics: a reload moves the endpoint, keeps it, keeps it on a bad address, removes it") {
  TempDir dir;
  const fs::path config = dir / "zcrecv.toml";
  const fs::path socket_file = dir / "metrics.sock";
  auto write_config = [&](const std::string& metrics) {
    write_text(config,
               "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"data\"\n\n[output]\n"
               "directory = \"" +
                   (dir / "out").string() + "\"\nname = \"{conn}-{seq}.bin\"\nsync = \"none\"\n" +
                   metrics);
  };
  write_config("\n[metrics]\nlisten = \"127.0.0.1:0\"\n");
  Process daemon({zcrecv_binary(), "-c", config.string(), "--workers", "1"});
  const auto data_address = listening_address(daemon.wait_for_stderr("(data)"));
  const auto first = metrics_endpoint(daemon);
  CHECK(http_request(first, "/health").status == 200);

  // Moved: the new address opens, the old one closes.
  write_config("\n[metrics]\nlisten = \"unix:" + socket_file.string() + "\"\n");
  daemon.signal(SIGHUP);
  daemon.wait_for_stderr_count("configuration reloaded", 1);
  CHECK_FALSE(daemon.wait_for_stderr("metrics endpoint 127.0.0.1:").empty());
  const auto moved = listening_address(daemon.wait_for_stderr("metrics listening on unix:"));
  CHECK(http_request(moved, "/health").status == 200);
  CHECK_THROWS(connect_blocking(first));

  // The same address: the endpoint stays as it is.
  daemon.signal(SIGHUP);
  daemon.wait_for_stderr_count("configuration reloaded", 2);
  CHECK(count(daemon.stderr_text(), "metrics listening on ") == 2);

  // An address that cannot open: the reload fails, the endpoint stays.
  write_config("\n[metrics]\nlisten = \"unix:" + (dir / "missing" / "m.sock").string() + "\"\n");
  daemon.signal(SIGHUP);
  daemon.wait_for_stderr("reload failed, keeping the old configuration");
  CHECK_FALSE(daemon.wait_for_stderr("missing/m.sock").empty());
  CHECK(http_request(moved, "/health").status == 200);

  // Removed: closed, its socket file gone.
  write_config("");
  daemon.signal(SIGHUP);
  daemon.wait_for_stderr_count("configuration reloaded", 3);
  CHECK_FALSE(daemon.wait_for_stderr("metrics endpoint unix:").empty());
  CHECK_THROWS(connect_blocking(moved));
  CHECK_FALSE(fs::exists(socket_file));

  // Data was served all along.
  const auto data = random_bytes(30000, 43);
  Sender sender(connect_blocking(data_address), data);
  CHECK(sender.join().empty());
  daemon.wait_for_stderr(" files, ");
  daemon.signal(SIGTERM);
  CHECK(daemon.wait() == 0);
  CHECK(only_stream(dir / "out").bytes == data);
}

TEST_CASE(
    "metrics: --metrics overrides the file, survives a reload, and --check-config prints it") {
  TempDir dir;
  const fs::path config = dir / "zcrecv.toml";
  write_text(config, "[[listen]]\naddress = \"127.0.0.1:0\"\n\n[output]\ndirectory = \"" +
                         (dir / "out").string() +
                         "\"\n\n[metrics]\nlisten = \"unix:@zcrecv-metrics-test-file\"\n");

  Process check({zcrecv_binary(), "--check-config", "-c", config.string()});
  CHECK(check.wait() == 0);
  CHECK(
      check.stdout_text().ends_with("\n[metrics]\nlisten = \"unix:@zcrecv-metrics-test-file\"\n"));
  Process overridden(
      {zcrecv_binary(), "--check-config", "-c", config.string(), "--metrics", "127.0.0.1:9180"});
  CHECK(overridden.wait() == 0);
  CHECK(overridden.stdout_text().ends_with("\n[metrics]\nlisten = \"127.0.0.1:9180\"\n"));

  Process daemon({zcrecv_binary(), "-c", config.string(), "--metrics", "127.0.0.1:0", "--workers",
                  "1", "--sync", "none"});
  const auto endpoint = metrics_endpoint(daemon);
  CHECK(http_request(endpoint, "/metrics").status == 200);
  daemon.signal(SIGHUP);
  daemon.wait_for_stderr("configuration reloaded");
  CHECK(count(daemon.stderr_text(), "metrics listening on ") == 1);
  CHECK(http_request(endpoint, "/health").status == 200);
  daemon.signal(SIGTERM);
  CHECK(daemon.wait() == 0);
  CHECK(daemon.stderr_text().find("zcrecv-metrics-test-file") == std::string::npos);
}

}  // namespace
}  // namespace zcrecv::test
