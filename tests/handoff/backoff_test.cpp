#include "handoff/backoff.hpp"

#include <doctest/doctest.h>

namespace zcrecv::handoff {
namespace {

using namespace std::chrono_literals;

TEST_CASE("hook backoff: 1 s after the first failure, doubling, never above 5 minutes") {
  CHECK(backoff_delay(1) == 1s);
  CHECK(backoff_delay(2) == 2s);
  CHECK(backoff_delay(3) == 4s);
  CHECK(backoff_delay(9) == 256s);
  CHECK(backoff_delay(10) == 300s);
  CHECK(backoff_delay(11) == 300s);
  CHECK(backoff_delay(4'000'000'000U) == 300s);
  CHECK(kRetryMin == 1s);
  CHECK(kRetryMax == 5min);
}

}  // namespace
}  // namespace zcrecv::handoff
