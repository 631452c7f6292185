#include "event/signal_fd.hpp"

#include <sys/signalfd.h>

#include <cstddef>
#include <span>

#include "sys/syscalls.hpp"

namespace zcrecv::event {

sys::Result<SignalFd> SignalFd::create(std::initializer_list<int> signals) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int signal_number : signals) {
    sigaddset(&mask, signal_number);
  }
  // The signals must be blocked before the signalfd can see them: an unblocked signal is delivered
  // by its default action (SIGTERM kills) and never reaches the signalfd (signalfd(2)).
  if (auto blocked = sys::block_signals(mask); !blocked) {
    return std::move(blocked).error();
  }
  // Non-blocking: several signals may be pending behind one readable event, and a reader that
  // drains them stops at EAGAIN instead of waiting inside the loop.
  auto fd = sys::signalfd(mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (!fd) {
    return std::move(fd).error();
  }
  return SignalFd(std::move(fd).value());
}

sys::Result<std::optional<int>> SignalFd::read_signal() {
  signalfd_siginfo info{};
  // A read returns whole signalfd_siginfo records only, so one record's size is never a short read.
  auto got = sys::read(fd_.get(), std::as_writable_bytes(std::span(&info, 1)));
  if (!got) {
    return std::move(got).error().with_context("signalfd");
  }
  if (!got->has_value()) {
    return std::optional<int>();
  }
  return std::optional<int>(static_cast<int>(info.ssi_signo));
}

}  // namespace zcrecv::event
