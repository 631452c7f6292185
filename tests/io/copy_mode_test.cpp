#include "io/copy_mode.hpp"

#include <doctest/doctest.h>

namespace zcrecv::io {
namespace {

TEST_CASE("parse_copy_mode accepts the three modes and to_string spells them back") {
  for (CopyMode mode : {CopyMode::kAuto, CopyMode::kSplice, CopyMode::kReadWrite}) {
    auto parsed = parse_copy_mode(to_string(mode));
    REQUIRE(parsed.ok());
    CHECK(*parsed == mode);
  }
  CHECK(to_string(CopyMode::kAuto) == "auto");
  CHECK(to_string(CopyMode::kSplice) == "splice");
  CHECK(to_string(CopyMode::kReadWrite) == "readwrite");
}

TEST_CASE("parse_copy_mode names the bad value and the accepted ones") {
  for (const char* bad : {"", "Auto", "read-write", "splice "}) {
    auto parsed = parse_copy_mode(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().message() ==
          "--copy-mode \"" + std::string(bad) + "\": expected auto, splice or readwrite");
  }
}

TEST_CASE("DataPath names as shown in logs") {
  CHECK(to_string(DataPath::kSplice) == "splice");
  CHECK(to_string(DataPath::kSpliceDirect) == "splice-direct");
  CHECK(to_string(DataPath::kReadWrite) == "readwrite");
}

}  // namespace
}  // namespace zcrecv::io
