#include "send/retry_policy.hpp"

#include <doctest/doctest.h>

namespace zcrecv::send {
namespace {

using std::chrono::milliseconds;

TEST_CASE("retry policy: the wait doubles per attempt from --backoff up to --backoff-max") {
  RetryPolicy policy{.attempts = 10, .backoff = milliseconds(100), .backoff_max = milliseconds(1000)};
  // unit_random just below 1: the top of the jitter range, i.e. the undithered wait.
  const double top = 0.999999999;
  CHECK(policy.delay_before(1, top) == milliseconds(0));
  CHECK(policy.delay_before(2, top) / milliseconds(1) == 99);
  CHECK(policy.delay_before(3, top) / milliseconds(1) == 199);
  CHECK(policy.delay_before(4, top) / milliseconds(1) == 399);
  CHECK(policy.delay_before(5, top) / milliseconds(1) == 799);
  CHECK(policy.delay_before(6, top) / milliseconds(1) == 999);
  CHECK(policy.delay_before(1000, top) / milliseconds(1) == 999);
}

TEST_CASE("retry policy: the jitter keeps the upper half of the wait, never more") {
  RetryPolicy policy{.attempts = 10, .backoff = milliseconds(400), .backoff_max = milliseconds(400)};
  CHECK(policy.delay_before(2, 0.0) == milliseconds(200));
  CHECK(policy.delay_before(2, 0.5) == milliseconds(300));
  CHECK(policy.delay_before(9, 0.25) == milliseconds(250));
  // Out-of-range randomness is clamped rather than trusted.
  CHECK(policy.delay_before(2, -3.0) == milliseconds(200));
  CHECK(policy.delay_before(2, 7.0) == milliseconds(400));
}

TEST_CASE("retry policy: a zero backoff retries at once") {
  RetryPolicy policy{.attempts = 3, .backoff = milliseconds(0), .backoff_max = milliseconds(0)};
  CHECK(policy.delay_before(2, 0.7).count() == 0);
  CHECK(policy.delay_before(3, 0.7).count() == 0);
}

TEST_CASE("retry policy: every retry moves on to the next address, round the list") {
  CHECK(RetryPolicy::address_of(1, 0, 3) == 0);
  CHECK(RetryPolicy::address_of(2, 0, 3) == 1);
  CHECK(RetryPolicy::address_of(3, 0, 3) == 2);
  CHECK(RetryPolicy::address_of(4, 0, 3) == 0);
  CHECK(RetryPolicy::address_of(1, 2, 3) == 2);
  CHECK(RetryPolicy::address_of(2, 2, 3) == 0);
  CHECK(RetryPolicy::address_of(5, 0, 1) == 0);
}

}  // namespace
}  // namespace zcrecv::send
