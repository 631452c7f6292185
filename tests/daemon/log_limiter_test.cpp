#include "daemon/log_limiter.hpp"

#include <doctest/doctest.h>

#include <chrono>

namespace zcrecv::daemon {
namespace {

using namespace std::chrono_literals;

TEST_CASE("LogLimiter lets one line per interval through and counts the others") {
  LogLimiter limiter(1s);
  const LogLimiter::Clock::time_point start{100s};
  CHECK(limiter.admit(start) == std::optional<std::uint64_t>(0));
  CHECK_FALSE(limiter.admit(start + 1ms).has_value());
  CHECK_FALSE(limiter.admit(start + 999ms).has_value());
  CHECK(limiter.admit(start + 1s) == std::optional<std::uint64_t>(2));
  CHECK_FALSE(limiter.admit(start + 1500ms).has_value());
  CHECK(limiter.admit(start + 5s) == std::optional<std::uint64_t>(1));
}

TEST_CASE("LogLimiter::flush reports the lines held back once their window is over") {
  LogLimiter limiter(1s);
  const LogLimiter::Clock::time_point start{100s};
  CHECK_FALSE(limiter.flush(start).has_value());
  CHECK(limiter.admit(start) == std::optional<std::uint64_t>(0));
  CHECK_FALSE(limiter.flush(start + 500ms).has_value());
  CHECK_FALSE(limiter.admit(start + 1ms).has_value());
  CHECK(limiter.window_end() == start + 1s);
  CHECK_FALSE(limiter.flush(start + 999ms).has_value());
  CHECK(limiter.flush(start + 1s) == std::optional<std::uint64_t>(1));
  // Reported once; the summary took the slot of a line.
  CHECK_FALSE(limiter.flush(start + 3s).has_value());
  CHECK(limiter.window_end() == start + 2s);
  CHECK_FALSE(limiter.admit(start + 1500ms).has_value());
  CHECK(limiter.admit(start + 2s) == std::optional<std::uint64_t>(1));
}

}  // namespace
}  // namespace zcrecv::daemon
