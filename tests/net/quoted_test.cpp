#include "net/quoted.hpp"

#include <doctest/doctest.h>

#include <string>

namespace zcrecv::net {
namespace {

TEST_CASE("quoted escapes what would break a one-line message") {
  CHECK(quoted("") == "\"\"");
  CHECK(quoted("unix:/tmp/x.sock") == "\"unix:/tmp/x.sock\"");
  CHECK(quoted("say \"hi\"\\") == "\"say \\\"hi\\\"\\\\\"");
  CHECK(quoted("a\nb\tc") == "\"a\\nb\\tc\"");
  CHECK(quoted(std::string("\x1b[1m\x7f\xff", 6)) == "\"\\x1b[1m\\x7f\\xff\"");
  CHECK(quoted(std::string("a\0b", 3)) == "\"a\\x00b\"");
}

}  // namespace
}  // namespace zcrecv::net
