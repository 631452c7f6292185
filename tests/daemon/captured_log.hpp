#pragma once

// The daemon's log lines, captured from the spdlog default logger for a test to wait for: what an
// operator would read, so a test can check that a signal was handled or a pause happened.

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/daemon_harness.hpp"

namespace zcrecv::daemon::harness {

// Keeps the lines logged, for a test to wait for and look at.
class CapturingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // The first line containing `needle`, once one is logged; "" after kPatience.
  std::string wait_for(const std::string& needle) {
    std::unique_lock lock(lines_mutex_);
    std::string found;
    logged_.wait_for(lock, kPatience, [&] {
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

}  // namespace zcrecv::daemon::harness
