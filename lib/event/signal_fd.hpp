#pragma once

#include <initializer_list>
#include <optional>

#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::event {

/// Signals delivered as readable data on a descriptor (signalfd), so that no work ever runs in a
/// signal handler. The signals must be blocked in every thread: create this in the main thread
/// before any other thread starts, and the threads it starts inherit the mask.
class SignalFd {
 public:
  /// Blocks `signals` in the calling thread and opens a non-blocking signalfd for them.
  static sys::Result<SignalFd> create(std::initializer_list<int> signals);

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  /// The next pending signal number, or std::nullopt when none is pending.
  sys::Result<std::optional<int>> read_signal();

 private:
  explicit SignalFd(sys::UniqueFd fd) : fd_(std::move(fd)) {}

  sys::UniqueFd fd_;
};

}  // namespace zcrecv::event
