#include <doctest/doctest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/daemon.hpp"
#include "daemon/daemon_harness.hpp"
#include "support/random_bytes.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::daemon {
namespace {

// Keeps the lines logged, for a test to wait for and look at.
class CapturingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // The first line containing `needle`, once one is logged; "" after kPatience.
  std::string wait_for(const std::string& needle) {
    std::unique_lock lock(lines_mutex_);
    std::string found;
    logged_.wait_for(lock, harness::kPatience, [&] {
      for (const std::string& line : lines_) {
        if (line.find(needle) != std::string::npos) {
          found = line;
          return true;
        }
      }
      return false;
    });
    return found;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    std::lock_guard lock(lines_mutex_);
    lines_.emplace_back(message.payload.data(), message.payload.size());
    logged_.notify_all();
  }
  void flush_() override {}

 private:
  std::mutex lines_mutex_;
  std::condition_variable logged_;
  std::vector<std::string> lines_;
};

// Makes a CapturingSink the default logger's only sink while it lives.
class CapturedLog {
 public:
  CapturedLog() : sink_(std::make_shared<CapturingSink>()), previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink_));
  }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;
  ~CapturedLog() { spdlog::set_default_logger(previous_); }

  CapturingSink& sink() { return *sink_; }

 private:
  std::shared_ptr<CapturingSink> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_CASE(
    "daemon: logs its listeners, one line per connection, rejections and SIGUSR2 statistics") {
  CapturedLog log;
  test::TempDir dir;
  config::ListenerConfig denied = harness::tcp_listener("denied");
  denied.allow = {{"10.0.0.0/8", {}}};
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
