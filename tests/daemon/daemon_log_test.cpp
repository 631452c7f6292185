#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <vector>

#include "daemon/daemon.hpp"
#include "daemon/captured_log.hpp"
#include "daemon/daemon_harness.hpp"
#include "support/random_bytes.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::daemon {
namespace {

TEST_CASE(
    "daemon: logs its listeners, one line per connection, rejections and SIGUSR2 statistics") {
  harness::CapturedLog log;
  test::TempDir dir;
  config::ListenerConfig denied = harness::tcp_listener("denied");
  denied.allow = harness::cidrs({"10.0.0.0/8"});
  config::Config config = harness::test_config(dir, {harness::tcp_listener("open"), denied});
  config.output.max_file_size = 400;
  {
    harness::RunningDaemon daemon(config);
    REQUIRE(daemon.wait_listening());
    auto addresses = daemon.addresses();
    CHECK(log.sink().wait_for("listening on " + addresses[0].to_string() + " (open)") != "");
    CHECK(log.sink().wait_for("listening on " + addresses[1].to_string() + " (denied)") != "");

    harness::send_stream(addresses[0], test::random_bytes(1000, 41));
    sys::UniqueFd rejected = test::connect_blocking(addresses[1]);
    CHECK(harness::wait_closed(rejected.get()));
    daemon.signal(SIGUSR2);

    std::string statistics = log.sink().wait_for("statistics: ");
    CHECK(statistics.find("connections open=0 total=1 rejected=1, bytes=1000, files published=3") !=
          std::string::npos);
    CHECK((statistics.find("splice=1 readwrite=0") != std::string::npos ||
           statistics.find("splice=0 readwrite=1") != std::string::npos));
    CHECK(statistics.find("disk-full pauses=0") != std::string::npos);

    std::string ended = log.sink().wait_for(" on open from 127.0.0.1:");
    CHECK(ended.find(": 1000 bytes, 3 files, ") != std::string::npos);
    CHECK(ended.find(", end of stream") != std::string::npos);
    CHECK(log.sink()
              .wait_for("listener denied: rejected 127.0.0.1:")
              .find(": address not in the allow list (0 similar lines suppressed)") !=
          std::string::npos);
    REQUIRE(daemon.stop() == 0);
  }
}

}  // namespace
}  // namespace zcrecv::daemon
