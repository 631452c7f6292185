#include "sys/unique_fd.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <utility>

namespace zcrecv::sys {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST_CASE("UniqueFd closes its descriptor once, when the last owner goes") {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(raw >= 0);
  {
    UniqueFd first(raw);
    UniqueFd second(std::move(first));
    CHECK_FALSE(first.valid());
    CHECK(second.get() == raw);
    CHECK(is_open(raw));
  }
  CHECK_FALSE(is_open(raw));
}

TEST_CASE("UniqueFd move-assignment closes the descriptor it replaces") {
  int a = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int b = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  UniqueFd owner_a(a);
  UniqueFd owner_b(b);
  owner_a = std::move(owner_b);
  CHECK_FALSE(is_open(a));
  CHECK(owner_a.get() == b);
  int released = owner_a.release();
  CHECK(released == b);
  CHECK_FALSE(owner_a.valid());
  CHECK(is_open(b));
  ::close(b);
}

}  // namespace
}  // namespace zcrecv::sys
