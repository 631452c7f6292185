#include "sys/quoted.hpp"

#include <doctest/doctest.h>

#include <string>

namespace zcrecv::sys {
namespace {

TEST_CASE("quoted escapes what would break a one-line message") {
  CHECK(quoted("") == "\"\"");
  CHECK(quoted("unix:/tmp/x.sock") == "\"unix:/tmp/x.sock\"");
  CHECK(quoted("say \"hi\"\\") == "\"say \\\"hi\\\"\\\\\"");
  CHECK(quoted("a\nb\tc") == "\"a\\nb\\tc\"");
  CHECK(quoted(std::string("\x1b[1m\x7f\xff", 6)) == "\"\\x1b[1m\\x7f\\xff\"");
  CHECK(quoted(std::string("a\0b", 3)) == "\"a\\x00b\"");
}

// Moved from tests/output/client_value_test.cpp with output::quoted_value, which this quoter
// replaced: a newline now reads "\n" rather than "\x0a".
TEST_CASE("quoted shows a client value exactly, on one line") {
  CHECK(quoted("alice") == "\"alice\"");
  CHECK(quoted(std::string("a\"\\\n\xff", 5)) == "\"a\\\"\\\\\\n\\xff\"");
}

}  // namespace
}  // namespace zcrecv::sys
