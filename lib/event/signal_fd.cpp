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
  if (auto blocked = sys::block_signals(mask); !blocked) {
    return std::move(blocked).error();
  }
  auto fd = sys::signalfd(mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (!fd) {
    return std::move(fd).error();
  }
  return SignalFd(std::move(fd).value());
}

sys::Result<std::optional<int>> SignalFd::read_signal() {
  signalfd_siginfo info{};
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
