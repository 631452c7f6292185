#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace zcrecv::test {

/// Holds the threads that pass() it until open(): the way a test stops a background thread at a
/// chosen point (a sync call, say) and knows it is there.
class Gate {
 public:
  /// Blocks until the gate is open.
  void pass();
  /// Lets every thread through, now and later.
  void open();
  /// Waits until `count` threads have arrived at pass() (those let through count too); false
  /// after `timeout`.
  bool wait_for_arrivals(std::size_t count,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Threads that have arrived so far.
  [[nodiscard]] std::size_t arrivals();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t arrivals_ = 0;
  bool open_ = false;
};

}  // namespace zcrecv::test
