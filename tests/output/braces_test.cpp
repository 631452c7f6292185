#include "output/braces.hpp"

#include <doctest/doctest.h>

namespace zcrecv::output {
namespace {

TEST_CASE("braces: {{ and }} are literal braces, {NAME} a placeholder, read to its end") {
  auto open = read_brace("a{{b", 1);
  REQUIRE(open.ok());
  CHECK_FALSE(open->placeholder.has_value());
  CHECK(open->end == 3);

  auto close = read_brace("}}", 0);
  REQUIRE(close.ok());
  CHECK_FALSE(close->placeholder.has_value());
  CHECK(close->end == 2);

  auto named = read_brace("x-{seq}.bin", 2);
  REQUIRE(named.ok());
  REQUIRE(named->placeholder.has_value());
  CHECK(*named->placeholder == "seq");
  CHECK(named->end == 7);

  auto empty = read_brace("{}", 0);
  REQUIRE(empty.ok());
  REQUIRE(empty->placeholder.has_value());
  CHECK(empty->placeholder->empty());
  CHECK(empty->end == 2);
}

TEST_CASE("braces: an unclosed '{' and a lone '}' are refused with their offset and the fix") {
  auto unclosed = read_brace("x-{seq.bin", 2);
  REQUIRE_FALSE(unclosed.ok());
  CHECK(unclosed.error().message() ==
        "'{' at offset 2 is never closed (write {{ for a literal brace)");

  auto lone = read_brace("x-seq}.bin", 5);
  REQUIRE_FALSE(lone.ok());
  CHECK(lone.error().message() ==
        "'}' at offset 5 has no matching '{' (write }} for a literal brace)");

  auto last = read_brace("ab{", 2);
  REQUIRE_FALSE(last.ok());
  CHECK(last.error().message() == "'{' at offset 2 is never closed (write {{ for a literal brace)");
}

}  // namespace
}  // namespace zcrecv::output
