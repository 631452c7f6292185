// The receipt line from both sides: what zcrecv writes and what a sender reads back.

#include "net/receipt.hpp"

#include <doctest/doctest.h>

namespace zcrecv::net {
namespace {

TEST_CASE("parse_receipt: reads back what receipt_ok and receipt_err write") {
  CHECK(parse_receipt(receipt_ok(0)) == Receipt{.ok = true, .bytes = 0, .reason = ""});
  CHECK(parse_receipt(receipt_ok(1048577)) == Receipt{.ok = true, .bytes = 1048577, .reason = ""});
  CHECK(parse_receipt(receipt_err(524288, "disk_full")) ==
        Receipt{.ok = false, .bytes = 524288, .reason = "disk_full"});
  CHECK(parse_receipt(receipt_ok(18446744073709551615ULL))->bytes == 18446744073709551615ULL);
}

TEST_CASE("parse_receipt: later fields are ignored, the newline is optional") {
  CHECK(parse_receipt("OK 12 sha256=abc") == Receipt{.ok = true, .bytes = 12, .reason = ""});
  CHECK(parse_receipt("ERR 3 shutdown extra words\n")->reason == "shutdown");
  CHECK(parse_receipt("OK 7")->bytes == 7);
}

TEST_CASE("parse_receipt: anything else is not a receipt") {
  for (const char* line : {"", "\n", "OK", "OK \n", "OK x\n", "OK -1\n", "OK 1x\n", "ok 1\n",
                           "ERR 1\n", "ERR x disk_full\n", "HTTP/1.0 400 Bad Request\r\n",
                           "OK 18446744073709551616\n", "DONE 5\n"}) {
    INFO(line);
    CHECK_FALSE(parse_receipt(line).has_value());
  }
}

}  // namespace
}  // namespace zcrecv::net
