#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "daemon/captured_log.hpp"
#include "daemon/daemon.hpp"
#include "daemon/daemon_harness.hpp"
#include "support/random_bytes.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::daemon {
namespace {

using namespace std::chrono_literals;

TEST_CASE("daemon: below min_free_space a connection is not read, then cut when space stays low") {
  harness::CapturedLog log;
  test::TempDir dir;
  config::Config config = harness::test_config(dir, {harness::tcp_listener("tcp")});
  // No filesystem has this much free: reading pauses at once and never resumes.
  config.limits.min_free_space = std::numeric_limits<std::uint64_t>::max() / 2;
  config.limits.shutdown_timeout = 300ms;
  harness::RunningDaemon daemon(config);
  REQUIRE(daemon.wait_listening());

  auto sent = test::random_bytes(10000, 31);
  sys::UniqueFd socket = test::connect_blocking(daemon.addresses()[0]);
  harness::send_all(socket.get(), sent);
  // The connection was accepted and paused for space (a daemon that refused it would log no
  // pause), then cut with nothing read.
  const std::string paused = log.sink().wait_for("reading paused");
  CHECK(paused.find("min_free_space") != std::string::npos);
  CHECK(harness::wait_closed(socket.get()));
  const std::string ended = log.sink().wait_for(": 0 bytes, 0 files, ");
  CHECK(ended.find(" on tcp from 127.0.0.1:") != std::string::npos);
  REQUIRE(daemon.stop() == 0);
  // Nothing was read, so nothing was written, not even an empty file.
  CHECK(test::reassemble(dir / "out").empty());
}

}  // namespace
}  // namespace zcrecv::daemon
