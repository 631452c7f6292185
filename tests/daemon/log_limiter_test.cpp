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

}  // namespace
}  // namespace zcrecv::daemon
