#include "daemon/peer_table.hpp"

#include <doctest/doctest.h>

namespace zcrecv::daemon {
namespace {

TEST_CASE("PeerTable counts connections per peer against a limit") {
  PeerTable table;
  CHECK(table.acquire("10.0.0.5", 2));
  CHECK(table.acquire("10.0.0.5", 2));
  CHECK_FALSE(table.acquire("10.0.0.5", 2));
  CHECK(table.acquire("uid:1000", 2));
  CHECK(table.count("10.0.0.5") == 2);
  table.release("10.0.0.5");
  CHECK(table.count("10.0.0.5") == 1);
  CHECK(table.acquire("10.0.0.5", 2));
  CHECK_FALSE(table.acquire("::1", 0));
  CHECK(table.count("::1") == 0);
}

}  // namespace
}  // namespace zcrecv::daemon
