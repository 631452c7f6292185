#include "daemon/connection_ids.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

namespace zcrecv::daemon {
namespace {

TEST_CASE("ConnectionIds are the prefix and a counter, in hex") {
  ConnectionIds ids(0x9f3a61c2);
  CHECK(ids.next() == "9f3a61c200000000");
  CHECK(ids.next() == "9f3a61c200000001");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    seen.insert(ids.next());
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("ConnectionIds prefixes differ between processes (random)") {
  auto first = ConnectionIds::random_prefix();
  auto second = ConnectionIds::random_prefix();
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  // Two equal draws of 32 random bits happen once in four billion runs.
  CHECK(*first != *second);
}

}  // namespace
}  // namespace zcrecv::daemon
