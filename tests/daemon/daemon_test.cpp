#include "daemon/daemon.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "daemon/daemon_harness.hpp"
#include "net/listener.hpp"
#include "support/gate.hpp"
#include "support/random_bytes.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::daemon {
namespace {

using namespace std::chrono_literals;
using harness::RunningDaemon;
using test::TempDir;

std::vector<std::byte> concat(std::span<const std::byte> a, std::span<const std::byte> b) {
  std::vector<std::byte> all(a.begin(), a.end());
  all.insert(all.end(), b.begin(), b.end());
  return all;
}

TEST_CASE("daemon: 50 concurrent TCP and Unix streams are stored byte for byte") {
  TempDir dir;
  config::Config config = harness::test_config(
      dir, {harness::tcp_listener("tcp"), harness::unix_listener("unix", dir / "s.sock")});
  config.output.max_file_size = 300'000;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  auto addresses = daemon.addresses();
  REQUIRE(addresses.size() == 2);

  constexpr int kStreams = 50;
  std::mt19937_64 random(7);
  std::vector<std::vector<std::byte>> data(kStreams);
  std::vector<std::size_t> chunks(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    // Some empty streams, some small, most up to 2 MiB; written in one go or in small pieces.
    std::size_t size = i % 10 == 0 ? 0 : 64 + random() % (2 << 20);
    data[i] = test::random_bytes(size, 1000 + static_cast<std::uint64_t>(i));
    chunks[i] = i % 3 == 0 ? (1 << 20) : 1 + random() % 65536;
  }
  std::vector<std::thread> senders;
  for (int i = 0; i < kStreams; ++i) {
    senders.emplace_back([&, i] { harness::send_stream(addresses[i % 2], data[i], chunks[i]); });
  }
  for (std::thread& sender : senders) {
    sender.join();
  }
  REQUIRE(daemon.stop() == 0);

  auto streams = test::reassemble(dir / "out");
  std::map<std::vector<std::byte>, int> expected;
  for (int i = 0; i < kStreams; ++i) {
    if (!data[i].empty()) {
      expected.emplace(data[i], i);
    }
  }
  CHECK(streams.size() == expected.size());
  for (const auto& [conn, stream] : streams) {
    INFO("connection " << conn);
    auto found = expected.find(stream.bytes);
    REQUIRE(found != expected.end());
    CHECK(stream.listener == (found->second % 2 == 0 ? "tcp" : "unix"));
    CHECK_FALSE(stream.incomplete);
    const std::vector<std::uint64_t>& sizes = stream.sizes;
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
      CHECK(sizes[i] == 300'000);
    }
    CHECK(sizes.back() > 0);
    CHECK(sizes.back() <= 300'000);
    expected.erase(found);
  }
  CHECK(expected.empty());
}

TEST_CASE("daemon: size rotation makes files of exactly max_file_size, none empty") {
  TempDir dir;
  config::Config config = harness::test_config(dir, {harness::tcp_listener("tcp")});
  config.output.max_file_size = 1000;
  // Even with keep_empty, a stream that ends on a boundary leaves no empty file after it.
  config.output.keep_empty = true;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());

  auto uneven = test::random_bytes(3500, 1);
  harness::send_stream(daemon.addresses()[0], uneven, 300);
  REQUIRE(daemon.stop() == 0);
  const test::StreamFiles stream = test::only_stream(dir / "out");
  CHECK(stream.sizes == std::vector<std::uint64_t>{1000, 1000, 1000, 500});
  CHECK(stream.bytes == uneven);
  CHECK_FALSE(stream.incomplete);
}

TEST_CASE("daemon: a stream ending exactly on a size boundary leaves no empty file") {
  TempDir dir;
  config::Config config = harness::test_config(dir, {harness::tcp_listener("tcp")});
  config.output.max_file_size = 1000;
  config.output.keep_empty = true;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());

  auto even = test::random_bytes(3000, 2);
  harness::send_stream(daemon.addresses()[0], even);
  REQUIRE(daemon.stop() == 0);
  const test::StreamFiles stream = test::only_stream(dir / "out");
  CHECK(stream.sizes == std::vector<std::uint64_t>{1000, 1000, 1000});
  CHECK(stream.bytes == even);
}

TEST_CASE("daemon: time rotation publishes a file when its interval passes, without new bytes") {
  TempDir dir;
  config::Config config = harness::test_config(dir, {harness::tcp_listener("tcp")});
  config.output.rotate_interval = 200ms;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  harness::DirectoryWatch out(dir / "out");

  auto first = test::random_bytes(1000, 3);
  auto second = test::random_bytes(700, 4);
  sys::UniqueFd socket = test::connect_blocking(daemon.addresses()[0]);
  harness::send_all(socket.get(), first);
  // Nothing more is sent until the timer has published the first file.
  REQUIRE(out.wait_for_published_file(first.size()));
  harness::send_all(socket.get(), second);
  REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
  REQUIRE(harness::wait_closed(socket.get()));
  REQUIRE(daemon.stop() == 0);

  const test::StreamFiles stream = test::only_stream(dir / "out");
  REQUIRE(stream.sizes.size() >= 2);
  CHECK(stream.file(0) == first);
  CHECK(stream.bytes == concat(first, second));
  CHECK_FALSE(stream.incomplete);
}

TEST_CASE("daemon: SIGUSR1 rotates the open files of streams in progress") {
  TempDir dir;
  config::Config config =
      harness::test_config(dir, {harness::unix_listener("unix", dir / "s.sock")});
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  harness::DirectoryWatch out(dir / "out");

  auto first = test::random_bytes(5000, 5);
  auto second = test::random_bytes(3000, 6);
  sys::UniqueFd socket = test::connect_blocking(daemon.addresses()[0]);
  harness::send_all(socket.get(), first);
  REQUIRE(out.wait_for_partial_file(first.size()));
  daemon.signal(SIGUSR1);
  REQUIRE(out.wait_for_published_file(first.size()));
  harness::send_all(socket.get(), second);
  REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
  REQUIRE(harness::wait_closed(socket.get()));
  REQUIRE(daemon.stop() == 0);

  const test::StreamFiles stream = test::only_stream(dir / "out");
  REQUIRE(stream.sizes.size() == 2);
  CHECK(stream.file(0) == first);
  CHECK(stream.file(1) == second);
  CHECK_FALSE(stream.incomplete);
}

TEST_CASE("daemon: graceful stop lets a stream in flight finish within shutdown_timeout") {
  TempDir dir;
  config::Config config =
      harness::test_config(dir, {harness::unix_listener("unix", dir / "s.sock")});
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  harness::DirectoryWatch out(dir / "out");
  harness::DirectoryWatch root(dir.path());

  auto first = test::random_bytes(4000, 7);
  auto second = test::random_bytes(6000, 8);
  sys::UniqueFd socket = test::connect_blocking(daemon.addresses()[0]);
  harness::send_all(socket.get(), first);
  REQUIRE(out.wait_for_partial_file(first.size()));
  daemon.signal(SIGTERM);
  // The socket file goes when the listeners close: the stop is under way.
  REQUIRE(root.wait_until([&] { return !std::filesystem::exists(dir / "s.sock"); }));
  harness::send_all(socket.get(), second);
  REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
  REQUIRE(harness::wait_closed(socket.get()));
  CHECK(daemon.wait() == 0);

  const test::StreamFiles stream = test::only_stream(dir / "out");
  CHECK(stream.bytes == concat(first, second));
  CHECK_FALSE(stream.incomplete);
}

TEST_CASE("daemon: graceful stop cuts a stream still open after shutdown_timeout") {
  TempDir dir;
  config::Config config = harness::test_config(dir, {harness::tcp_listener("tcp")});
  config.limits.shutdown_timeout = 300ms;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  harness::DirectoryWatch out(dir / "out");

  auto sent = test::random_bytes(4000, 9);
  sys::UniqueFd socket = test::connect_blocking(daemon.addresses()[0]);
  harness::send_all(socket.get(), sent);
  REQUIRE(out.wait_for_partial_file(sent.size()));
  daemon.signal(SIGTERM);
  CHECK(daemon.wait() == 0);
  CHECK(harness::wait_closed(socket.get()));

  const test::StreamFiles stream = test::only_stream(dir / "out");
  CHECK(stream.bytes == sent);
  CHECK(stream.incomplete);
}

TEST_CASE("daemon: a second SIGTERM cuts open streams at once") {
  TempDir dir;
  config::Config config =
      harness::test_config(dir, {harness::unix_listener("unix", dir / "s.sock")});
  config.limits.shutdown_timeout = 1h;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  harness::DirectoryWatch out(dir / "out");
  harness::DirectoryWatch root(dir.path());

  auto sent = test::random_bytes(2000, 10);
  sys::UniqueFd socket = test::connect_blocking(daemon.addresses()[0]);
  harness::send_all(socket.get(), sent);
  REQUIRE(out.wait_for_partial_file(sent.size()));
  daemon.signal(SIGTERM);
  REQUIRE(root.wait_until([&] { return !std::filesystem::exists(dir / "s.sock"); }));
  daemon.signal(SIGTERM);
  CHECK(daemon.wait() == 0);

  const test::StreamFiles stream = test::only_stream(dir / "out");
  CHECK(stream.bytes == sent);
  CHECK(stream.incomplete);
}

TEST_CASE("daemon: connections outside the allow-list are closed before any file exists") {
  TempDir dir;
  config::ListenerConfig allowed = harness::tcp_listener("allowed");
  allowed.allow = harness::cidrs({"127.0.0.0/8"});
  config::ListenerConfig denied = harness::tcp_listener("denied");
  denied.allow = harness::cidrs({"10.0.0.0/8", "::1/128"});
  config::ListenerConfig other_uid = harness::unix_listener("uid", dir / "s.sock");
  other_uid.allow_uids = {::getuid() + 1};
  config::Config config = harness::test_config(dir, {allowed, denied, other_uid});
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  auto addresses = daemon.addresses();

  auto sent = test::random_bytes(1000, 11);
  for (std::size_t i : {1, 2}) {
    sys::UniqueFd socket = test::connect_blocking(addresses[i]);
    // The daemon may close before or after these bytes arrive: the write may fail.
    (void)::send(socket.get(), sent.data(), sent.size(), MSG_NOSIGNAL);
    CHECK(harness::wait_closed(socket.get()));
  }
  harness::send_stream(addresses[0], sent);
  REQUIRE(daemon.stop() == 0);

  const test::StreamFiles stream = test::only_stream(dir / "out");
  CHECK(stream.listener == "allowed");
  CHECK(stream.bytes == sent);
}

TEST_CASE("daemon: max_connections_per_peer closes a peer's extra connection") {
  TempDir dir;
  config::Config config = harness::test_config(dir, {harness::tcp_listener("tcp")});
  config.limits.max_connections_per_peer = 1;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());
  harness::DirectoryWatch out(dir / "out");

  auto first = test::random_bytes(1500, 12);
  sys::UniqueFd socket = test::connect_blocking(daemon.addresses()[0]);
  harness::send_all(socket.get(), first);
  REQUIRE(out.wait_for_partial_file(first.size()));
  sys::UniqueFd extra = test::connect_blocking(daemon.addresses()[0]);
  CHECK(harness::wait_closed(extra.get()));
  REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
  REQUIRE(harness::wait_closed(socket.get()));
  // With the first connection gone, the peer may connect again.
  auto second = test::random_bytes(800, 13);
  harness::send_stream(daemon.addresses()[0], second);
  REQUIRE(daemon.stop() == 0);

  auto streams = test::reassemble(dir / "out");
  REQUIRE(streams.size() == 2);
  std::vector<std::vector<std::byte>> stored;
  for (const auto& [conn, stream] : streams) {
    stored.push_back(stream.bytes);
  }
  CHECK(
      ((stored[0] == first && stored[1] == second) || (stored[0] == second && stored[1] == first)));
}

TEST_CASE("daemon: an idle connection is cut after idle_timeout") {
  TempDir dir;
  config::Config config = harness::test_config(dir, {harness::tcp_listener("tcp")});
  config.limits.idle_timeout = 200ms;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());

  auto sent = test::random_bytes(3000, 14);
  sys::UniqueFd socket = test::connect_blocking(daemon.addresses()[0]);
  harness::send_all(socket.get(), sent);
  CHECK(harness::wait_closed(socket.get()));
  REQUIRE(daemon.stop() == 0);

  const test::StreamFiles stream = test::only_stream(dir / "out");
  CHECK(stream.bytes == sent);
  CHECK(stream.incomplete);
}

TEST_CASE("daemon: max_connection_bytes keeps exactly that many bytes, marked incomplete") {
  TempDir dir;
  config::Config config = harness::test_config(dir, {harness::tcp_listener("tcp")});
  config.limits.max_connection_bytes = 1000;
  config.output.max_file_size = 400;
  RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());

  auto sent = test::random_bytes(5000, 15);
  sys::UniqueFd socket = test::connect_blocking(daemon.addresses()[0]);
  (void)::send(socket.get(), sent.data(), sent.size(), MSG_NOSIGNAL);
  CHECK(harness::wait_closed(socket.get()));
  REQUIRE(daemon.stop() == 0);

  const test::StreamFiles stream = test::only_stream(dir / "out");
  CHECK(stream.sizes == std::vector<std::uint64_t>{400, 400, 200});
  CHECK(stream.bytes == std::vector<std::byte>(sent.begin(), sent.begin() + 1000));
  CHECK(stream.incomplete);
}

TEST_CASE("daemon: keep_empty decides whether a connection that sent nothing leaves a file") {
  for (bool keep_empty : {false, true}) {
    CAPTURE(keep_empty);
    TempDir dir;
    config::Config config = harness::test_config(dir, {harness::tcp_listener("tcp")});
    config.output.keep_empty = keep_empty;
    RunningDaemon daemon(config);
    REQUIRE(daemon.wait_listening());
    harness::send_stream(daemon.addresses()[0], {});
    REQUIRE(daemon.stop() == 0);

    if (keep_empty) {
      const test::StreamFiles stream = test::only_stream(dir / "out");
      CHECK(stream.sizes == std::vector<std::uint64_t>{0});
      CHECK_FALSE(stream.incomplete);
    } else {
      CHECK(test::reassemble(dir / "out").empty());
    }
  }
}

TEST_CASE("daemon: a connection whose publish is held does not hold another on its worker") {
  TempDir dir;
  config::Config config = harness::test_config(
      dir, {harness::tcp_listener("tcp"), harness::unix_listener("unix", dir / "s.sock")});
  config.workers = 1;
  config.output.sync = config::SyncMode::kPublish;
  // The first file's fdatasync waits at the gate; the others pass.
  test::Gate first_sync;
  std::atomic<int> fdatasyncs{0};
  DaemonHooks hooks;
  hooks.sync_calls = output::SyncCalls::system();
  hooks.sync_calls->fdatasync = [&](int fd) {
    if (++fdatasyncs == 1) {
      first_sync.pass();
    }
    return sys::fdatasync(fd);
  };
  RunningDaemon daemon(config, {}, hooks);
  REQUIRE(daemon.wait_listening());
  harness::DirectoryWatch out(dir / "out");

  // Its stream ends: the daemon closes it at once, though its file is not durable yet.
  auto held = test::random_bytes(200'000, 31);
  harness::send_stream(daemon.addresses()[0], held);
  REQUIRE(first_sync.wait_for_arrivals(1));
  // The same worker serves another connection to its end, file published, meanwhile.
  auto served = test::random_bytes(50'000, 32);
  harness::send_stream(daemon.addresses()[1], served);
  REQUIRE(out.wait_for_published_file(served.size()));
  CHECK(out.wait_for_partial_file(held.size()));
  CHECK(first_sync.arrivals() == 1);
  first_sync.open();
  REQUIRE(out.wait_for_published_file(held.size()));
  REQUIRE(daemon.stop() == 0);
  auto streams = test::reassemble(dir / "out");
  REQUIRE(streams.size() == 2);
  for (const auto& [conn, stream] : streams) {
    CHECK(stream.bytes == (stream.listener == "tcp" ? held : served));
  }
}

TEST_CASE("daemon: with sync = none a receipt listener still syncs, and a plain one does not") {
  TempDir dir;
  config::ListenerConfig with_receipt = harness::unix_listener("receipt", dir / "r.sock");
  with_receipt.receipt = true;
  config::Config config =
      harness::test_config(dir, {harness::tcp_listener("plain"), with_receipt});
  std::atomic<int> fdatasyncs{0};
  std::atomic<int> directory_fsyncs{0};
  DaemonHooks hooks;
  hooks.sync_calls = output::SyncCalls::system();
  hooks.sync_calls->fdatasync = [&](int fd) {
    ++fdatasyncs;
    return sys::fdatasync(fd);
  };
  hooks.sync_calls->fsync_directory = [&](int fd) {
    ++directory_fsyncs;
    return sys::fsync(fd);
  };
  RunningDaemon daemon(config, {}, hooks);
  REQUIRE(daemon.wait_listening());

  auto plain = test::random_bytes(20'000, 33);
  harness::send_stream(daemon.addresses()[0], plain);
  CHECK(fdatasyncs.load() == 0);
  CHECK(directory_fsyncs.load() == 0);

  auto durable = test::random_bytes(30'000, 34);
  sys::UniqueFd socket = test::connect_blocking(daemon.addresses()[1]);
  harness::send_all(socket.get(), durable);
  REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
  CHECK(test::read_until_closed(socket) == "OK 30000\n");
  CHECK(fdatasyncs.load() == 1);
  CHECK(directory_fsyncs.load() == 1);
  REQUIRE(daemon.stop() == 0);
  auto streams = test::reassemble(dir / "out");
  REQUIRE(streams.size() == 2);
  for (const auto& [conn, stream] : streams) {
    CHECK(stream.bytes == (stream.listener == "plain" ? plain : durable));
  }
}

TEST_CASE("daemon: a listener that cannot be opened makes run_daemon return 1") {
  auto address = net::parse_listen_address("127.0.0.1:0");
  REQUIRE(address.ok());
  auto taken = net::Listener::open(*address);
  REQUIRE(taken.ok());
  TempDir dir;
  config::ListenerConfig listener = harness::tcp_listener("tcp");
  listener.address =
      *config::make_address(taken->local_address().to_string(), config::Origin{"test"});
  RunningDaemon daemon(harness::test_config(dir, {listener}));
  CHECK_FALSE(daemon.wait_listening());
  CHECK(daemon.wait() == 1);
}

}  // namespace
}  // namespace zcrecv::daemon
