#include "net/crc32c.hpp"

#include <doctest/doctest.h>

#include <span>
#include <string>
#include <string_view>

namespace zcrecv::net {
namespace {

std::uint32_t crc_of(std::string_view text) { return crc32c(std::as_bytes(std::span(text))); }

TEST_CASE("crc32c: the standard check value and known vectors") {
  CHECK(crc_of("123456789") == 0xE3069283);
  CHECK(crc_of("") == 0);
  // RFC 3720 (iSCSI) appendix B.4: 32 bytes of zeros, and of 0xff.
  CHECK(crc_of(std::string_view("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                                32)) == 0x8A9136AA);
  CHECK(crc_of(std::string(32, '\xff')) == 0x62A8AB43);
}

TEST_CASE("crc32c: a result continues over the next bytes") {
  CHECK(crc32c(std::as_bytes(std::span(std::string_view("456789"))), crc_of("123")) ==
        crc_of("123456789"));
  CHECK(crc32c({}, crc_of("123456789")) == crc_of("123456789"));
}

}  // namespace
}  // namespace zcrecv::net
