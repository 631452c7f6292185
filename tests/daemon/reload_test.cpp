#include <doctest/doctest.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/captured_log.hpp"
#include "daemon/daemon.hpp"
#include "daemon/daemon_harness.hpp"
#include "support/random_bytes.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"
#include "sys/error.hpp"

namespace zcrecv::daemon {
namespace {

using test::TempDir;

TEST_CASE("daemon: SIGHUP keeps unchanged listeners, opens new ones, closes removed ones") {
  TempDir dir;
  config::Config before = harness::test_config(
      dir, {harness::tcp_listener("a"), harness::unix_listener("b", dir / "b.sock")});
  // The same TCP address under a new name keeps its socket (and port); b goes, c comes.
  config::Config after = harness::test_config(
      dir, {harness::tcp_listener("renamed"), harness::unix_listener("c", dir / "c.sock")});
  after.output.max_file_size = 500;
  std::mutex mutex;
  std::condition_variable reloaded;
  int reloads = 0;
  // The first reload fails: the daemon must keep the old configuration, whole.
  ReloadFunction reload = [&]() -> sys::Result<config::Config> {
    std::lock_guard lock(mutex);
    reloaded.notify_all();
    if (++reloads == 1) {
      return sys::Error::invalid("zcrecv.toml:3:1: first problem\nzcrecv.toml:9:5: second problem");
    }
    return after;
  };
  harness::RunningDaemon daemon(before, reload);
  REQUIRE(daemon.wait_listening());
  auto old_addresses = daemon.addresses();
  REQUIRE(old_addresses.size() == 2);
  harness::DirectoryWatch out(dir / "out");
  harness::DirectoryWatch root(dir.path());

  // A connection on b, open across the reload that removes b.
  auto on_removed = test::random_bytes(3000, 21);
  sys::UniqueFd lingering = test::connect_blocking(old_addresses[1]);
  harness::send_all(lingering.get(), std::span(on_removed).first(1000));
  REQUIRE(out.wait_for_partial_file(1000));

  daemon.signal(SIGHUP);
  {
    // Two SIGHUPs pending at once would be delivered as one.
    std::unique_lock lock(mutex);
    REQUIRE(reloaded.wait_for(lock, harness::kPatience, [&] { return reloads == 1; }));
  }
  daemon.signal(SIGHUP);
  REQUIRE(daemon.wait_listening(2));
  auto new_addresses = daemon.addresses();
  REQUIRE(new_addresses.size() == 2);
  CHECK(new_addresses[0].to_string() == old_addresses[0].to_string());
  REQUIRE(root.wait_until([&] { return !std::filesystem::exists(dir / "b.sock"); }));
  CHECK(std::filesystem::exists(dir / "c.sock"));

  harness::send_all(lingering.get(), std::span(on_removed).subspan(1000));
  REQUIRE(sys::shutdown(lingering.get(), SHUT_WR).ok());
  REQUIRE(harness::wait_closed(lingering.get()));
  auto on_kept = test::random_bytes(1200, 22);
  harness::send_stream(new_addresses[0], on_kept);
  auto on_new = test::random_bytes(800, 23);
  harness::send_stream(new_addresses[1], on_new);
  REQUIRE(daemon.stop() == 0);

  auto streams = test::reassemble(dir / "out");
  REQUIRE(streams.size() == 3);
  std::map<std::string, test::StreamFiles> by_listener;
  for (const auto& [conn, stream] : streams) {
    by_listener[stream.listener] = stream;
  }
  // The connection accepted under the old settings keeps them (no size rotation).
  CHECK(by_listener["b"].bytes == on_removed);
  CHECK(by_listener["b"].sizes.size() == 1);
  CHECK(by_listener["renamed"].bytes == on_kept);
  CHECK(by_listener["renamed"].sizes == std::vector<std::uint64_t>{500, 500, 200});
  CHECK(by_listener["c"].bytes == on_new);
  CHECK(by_listener["c"].sizes == std::vector<std::uint64_t>{500, 300});
}

TEST_CASE("daemon: SIGHUP without a configuration file changes nothing") {
  TempDir dir;
  harness::CapturedLog log;
  harness::RunningDaemon daemon(harness::test_config(dir, {harness::tcp_listener("tcp")}));
  REQUIRE(daemon.wait_listening());
  daemon.signal(SIGHUP);
  // The signal was handled (not ignored, not a stop), and the daemon serves on.
  CHECK(log.sink().wait_for("SIGHUP: no configuration file, nothing to reload") != "");
  auto sent = test::random_bytes(100, 24);
  harness::send_stream(daemon.addresses()[0], sent);
  REQUIRE(daemon.stop() == 0);
  auto streams = test::reassemble(dir / "out");
  REQUIRE(streams.size() == 1);
  CHECK(streams.begin()->second.bytes == sent);
}

}  // namespace
}  // namespace zcrecv::daemon
