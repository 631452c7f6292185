#include "sys/seconds.hpp"

#include <doctest/doctest.h>

namespace zcrecv::sys {
namespace {

TEST_CASE("seconds and seconds_text give a duration in seconds") {
  using namespace std::chrono_literals;
  CHECK(seconds(1500ms) == 1.5);
  CHECK(seconds(0ns) == 0.0);
  CHECK(seconds_text(1250ms) == "1.250 s");
  CHECK(seconds_text(0ns) == "0.000 s");
  CHECK(seconds_text(30s) == "30.000 s");
}

}  // namespace
}  // namespace zcrecv::sys
