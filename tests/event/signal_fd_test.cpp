#include "event/signal_fd.hpp"

#include <doctest/doctest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <array>

#include "sys/syscalls.hpp"

namespace zcrecv::event {
namespace {

TEST_CASE("SignalFd turns a blocked signal into readable data, in order, without a handler") {
  sigset_t previous;
  pthread_sigmask(SIG_SETMASK, nullptr, &previous);
  {
    auto signals = SignalFd::create({SIGUSR1, SIGUSR2});
    REQUIRE(signals.ok());
    auto none = signals->read_signal();
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());

    // Thread-directed, so the signal is pending on this thread, whose mask blocks it.
    REQUIRE(pthread_kill(pthread_self(), SIGUSR2) == 0);
    std::array<pollfd, 1> fds{pollfd{signals->fd(), POLLIN, 0}};
    auto ready = sys::poll(fds, 5000);
    REQUIRE(ready.ok());
    REQUIRE(*ready == 1);
    auto got = signals->read_signal();
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK(**got == SIGUSR2);
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

}  // namespace
}  // namespace zcrecv::event
