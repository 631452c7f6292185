#include "metrics/http_request.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>

namespace zcrecv::metrics {
namespace {

TEST_CASE("HTTP request head: ends at the first empty line, CRLF or bare LF") {
  CHECK(find_request_head_end("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 27);
  CHECK(find_request_head_end("GET / HTTP/1.1\r\n\r\nbody") == 18);
  CHECK(find_request_head_end("GET / HTTP/1.0\n\n") == 16);
  CHECK(find_request_head_end("GET / HTTP/1.0\nA: b\r\n\n") == 22);
  CHECK(find_request_head_end("\r\n\r\n") == 4);
  CHECK_FALSE(find_request_head_end("").has_value());
  CHECK_FALSE(find_request_head_end("GET / HTTP/1.1\r\nHost: x\r\n").has_value());
  CHECK_FALSE(find_request_head_end("GET / HTTP/1.1\r\n\r").has_value());
  CHECK_FALSE(find_request_head_end("GET / HTTP/1.1\r\r\n").has_value());
}

TEST_CASE("HTTP request head: found the same when it arrives a byte at a time") {
  for (std::string_view head : {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.0\n\n",
                                "GET / HTTP/1.0\r\n\n", "GET / HTTP/1.1\n\r\n"}) {
    CAPTURE(head);
    std::optional<std::size_t> found;
    std::size_t searched = 0;
    for (std::size_t length = 1; length <= head.size() && !found; ++length) {
      found = find_request_head_end(head.substr(0, length), searched);
      searched = length;
    }
    CHECK(found == head.size());
  }
}

TEST_CASE("HTTP request line: method, path without the query, version") {
  auto request = parse_request_line("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(request.has_value());
  CHECK(request->method == "GET");
  CHECK(request->path == "/metrics");
  CHECK(request->version == "HTTP/1.1");

  request = parse_request_line("HEAD /health?probe=lb&x=%20 HTTP/1.0\n\n");
  REQUIRE(request.has_value());
  CHECK(request->method == "HEAD");
  CHECK(request->path == "/health");
  CHECK(request->version == "HTTP/1.0");

  request = parse_request_line("M-SEARCH / HTTP/1.1\r\n\r\n");
  REQUIRE(request.has_value());
  CHECK(request->method == "M-SEARCH");
}

TEST_CASE("HTTP request line: anything else is refused") {
  for (std::string_view line : {
           "", "\r\n\r\n", "hello\r\n\r\n",
           "GET /metrics\r\n\r\n",                   // HTTP/0.9
           "GET /metrics HTTP/2.0\r\n\r\n",          // not 1.x
           "GET /metrics http/1.1\r\n\r\n",          // the version is case-sensitive
           "GET /metrics HTTP/1.1 \r\n\r\n",         // trailing space
           "GET  /metrics HTTP/1.1\r\n\r\n",         // two spaces
           "GET /a b HTTP/1.1\r\n\r\n",              // a space in the target
           "GET metrics HTTP/1.1\r\n\r\n",           // not origin form
           "GET http://x/metrics HTTP/1.1\r\n\r\n",  // absolute form, for proxies
           "G(T /metrics HTTP/1.1\r\n\r\n",          // not a token
           "GET /m\x01 HTTP/1.1\r\n\r\n",            // a control character
           "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",      // not ASCII
           "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",       // the HTTP/2 preface
       }) {
    CAPTURE(line);
    CHECK_FALSE(parse_request_line(line).has_value());
  }
}

}  // namespace
}  // namespace zcrecv::metrics
