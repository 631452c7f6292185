#include "sys/umask.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

namespace zcrecv::sys {
namespace {

TEST_CASE("process_umask reads the mask without changing it") {
  // The test runs alone in its process; the mask is restored at the end.
  const mode_t previous = ::umask(0);
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{027}, mode_t{0777}}) {
    INFO("umask ", mask);
    ::umask(mask);
    CHECK(process_umask() == mask);
    CHECK(::umask(mask) == mask);
  }
  ::umask(previous);
}

}  // namespace
}  // namespace zcrecv::sys
