#include "net/listen_address.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>

namespace zcrecv::net {
namespace {

using Kind = ListenAddress::Kind;

ListenAddress parsed(std::string_view text) {
  auto address = parse_listen_address(text);
  if (!address.ok()) {
    FAIL(address.error().message());
  }
  return *address;
}

TEST_CASE("TCP listen addresses: every interface, IPv4, IPv6, host names, port 0") {
  ListenAddress any = parsed(":9000");
  CHECK(any.kind == Kind::kTcp);
  CHECK(any.host.empty());
  CHECK(any.port == 9000);
  CHECK(any.to_string() == ":9000");

  ListenAddress v4 = parsed("127.0.0.1:9000");
  CHECK(v4.kind == Kind::kTcp);
  CHECK(v4.host == "127.0.0.1");
  CHECK(v4.port == 9000);
  CHECK(v4.to_string() == "127.0.0.1:9000");

  ListenAddress v6 = parsed("[::1]:9000");
  CHECK(v6.kind == Kind::kTcp);
  CHECK(v6.host == "::1");
  CHECK(v6.port == 9000);
  CHECK(v6.to_string() == "[::1]:9000");

  ListenAddress v6_any = parsed("[::]:80");
  CHECK(v6_any.host == "::");
  CHECK(v6_any.to_string() == "[::]:80");

  ListenAddress mapped = parsed("[::ffff:10.0.0.1]:1");
  CHECK(mapped.host == "::ffff:10.0.0.1");

  ListenAddress name = parsed("localhost:9000");
  CHECK(name.kind == Kind::kTcp);
  CHECK(name.host == "localhost");
  CHECK(name.port == 9000);
  CHECK(name.to_string() == "localhost:9000");

  CHECK(parsed("ingest-1.example.org:443").host == "ingest-1.example.org");
  CHECK(parsed("example.org.:443").host == "example.org.");

  ListenAddress ephemeral = parsed("127.0.0.1:0");
  CHECK(ephemeral.port == 0);
  CHECK(parsed(":0").to_string() == ":0");
  CHECK(parsed(":65535").port == 65535);
  CHECK(parsed(":00080").port == 80);
}

TEST_CASE("Unix listen addresses: unix:PATH, anything with a slash, unix:@NAME") {
  ListenAddress prefixed = parsed("unix:/run/zcrecv/x.sock");
  CHECK(prefixed.kind == Kind::kUnixPath);
  CHECK(prefixed.path == "/run/zcrecv/x.sock");
  CHECK(prefixed.host.empty());
  CHECK(prefixed.to_string() == "unix:/run/zcrecv/x.sock");

  ListenAddress bare = parsed("/tmp/x.sock");
  CHECK(bare.kind == Kind::kUnixPath);
  CHECK(bare.path == "/tmp/x.sock");
  CHECK(bare.to_string() == "unix:/tmp/x.sock");

  ListenAddress relative = parsed("./x.sock");
  CHECK(relative.kind == Kind::kUnixPath);
  CHECK(relative.path == "./x.sock");
  CHECK(relative.to_string() == "unix:./x.sock");

  CHECK(parsed("unix:x.sock").path == "x.sock");
  CHECK(parsed("run/x:80").kind == Kind::kUnixPath);  // a slash makes it a path, colon or not
  CHECK(parsed("/tmp/my socket").path == "/tmp/my socket");

  ListenAddress abstract = parsed("unix:@zcrecv");
  CHECK(abstract.kind == Kind::kUnixAbstract);
  CHECK(abstract.path == "zcrecv");
  CHECK(abstract.to_string() == "unix:@zcrecv");
  CHECK(parsed("unix:@a/b").kind == Kind::kUnixAbstract);

  // The longest that fit: 107 bytes and the NUL for a path; 107 after the leading NUL for a
  // name.
  std::string longest(107, 'p');
  CHECK(parsed("/" + longest.substr(1)).path.size() == 107);
  CHECK(parsed("unix:@" + longest).path.size() == 107);
}

TEST_CASE("parsing the canonical form gives the same address back") {
  for (const char* text : {":9000", "127.0.0.1:9000", "[::1]:9000", "[2001:db8::5]:1",
                           "localhost:0", "unix:/tmp/x.sock", "unix:./x.sock", "unix:@name"}) {
    CAPTURE(text);
    ListenAddress address = parsed(text);
    CHECK(address.to_string() == text);
    CHECK(parsed(address.to_string()) == address);
  }
}

TEST_CASE("bad listen addresses are refused with a message naming the input") {
  std::string too_long_path = "/" + std::string(107, 'p');
  std::string too_long_name = "unix:@" + std::string(108, 'n');
  std::string long_label = std::string(64, 'a') + ".example:80";
  std::pair<std::string, std::string> cases[] = {
      {"", "empty (expected [HOST]:PORT, unix:PATH or unix:@NAME)"},
      {"9000", "missing port (expected [HOST]:PORT, unix:PATH or unix:@NAME)"},
      {"localhost", "missing port (expected [HOST]:PORT, unix:PATH or unix:@NAME)"},
      {"127.0.0.1:", "missing port after ':'"},
      {":", "missing port after ':'"},
      {":65536", "port 65536 is out of range (0-65535)"},
      {":99999999999999999999", "port 99999999999999999999 is out of range (0-65535)"},
      {":http", "port \"http\" is not a number"},
      {":-1", "port \"-1\" is not a number"},
      {":+80", "port \"+80\" is not a number"},
      {":9000x", "port \"9000x\" is not a number"},
      {"127.0.0.1:80:80",
       "host \"127.0.0.1:80\" contains \":\" (a host is an IPv4 address, [IPv6 address] or "
       "host name)"},
      {"[::1", "'[' without a matching ']'"},
      {"[::1:80", "'[' without a matching ']'"},
      {"[]:80", "empty IPv6 address between '[' and ']'"},
      {"[::1]", "missing port (expected [IPV6]:PORT)"},
      {"[::1]80", "expected ':PORT' after ']', found \"80\""},
      {"[::1]:80]", "port \"80]\" is not a number"},
      {"[1.2.3.4]:80", "\"1.2.3.4\" is not an IPv6 address"},
      {"[::g]:80", "\"::g\" is not an IPv6 address"},
      {"::1:80", "an IPv6 address needs brackets, like [::1]:9000"},
      {"::1", "an IPv6 address needs brackets, like [::1]:9000"},
      {"256.0.0.1:80", "host \"256.0.0.1\" is not a valid IPv4 address"},
      {"10.1:80", "host \"10.1\" is not a valid IPv4 address"},
      {"local_host:80",
       "host \"local_host\" contains \"_\" (a host is an IPv4 address, [IPv6 address] or host "
       "name)"},
      {"exa mple:80",
       "host \"exa mple\" contains \" \" (a host is an IPv4 address, [IPv6 address] or host "
       "name)"},
      {"-bad:80", "host \"-bad\" is not a valid host name"},
      {"a..b:80", "host \"a..b\" is not a valid host name"},
      {".:80", "host \".\" is not a valid host name"},
      {long_label, "host \"" + long_label.substr(0, 72) + "\" is not a valid host name"},
      {" :9000", "has leading or trailing whitespace"},
      {":9000 ", "has leading or trailing whitespace"},
      {":9000\n", "contains a control character"},
      {"unix:", "\"unix:\" needs a path or @name after it"},
      {"unix:@", "abstract socket name is empty"},
      {too_long_path, "socket path is 108 bytes, more than the 107 that fit in sun_path"},
      {"unix:" + too_long_path, "socket path is 108 bytes, more than the 107 that fit in sun_path"},
      {too_long_name, "abstract socket name is 108 bytes, more than the 107 that fit in sun_path"},
      {"@name:80",
       "host \"@name\" contains \"@\" (a host is an IPv4 address, [IPv6 address] or host name)"},
  };
  for (const auto& entry : cases) {
    // Named copies, not a structured binding: CAPTURE needs a variable a lambda can capture.
    const std::string& text = entry.first;
    const std::string& reason = entry.second;
    CAPTURE(text);
    auto address = parse_listen_address(text);
    REQUIRE_FALSE(address.ok());
    CHECK(address.error().errno_value() == 0);
    // The input is quoted with its control characters escaped, so the message stays one line.
    std::string shown = text == ":9000\n" ? "\":9000\\n\"" : "\"" + text + "\"";
    CHECK(address.error().message() == "listen address " + shown + ": " + reason);
  }
}

// Found by tests/fuzz/listen_address_fuzzer: "@01:9/x" is a relative socket path (it contains
// '/'), but it printed as "unix:@01:9/x", which names an abstract socket.
TEST_CASE("a socket path starting with '@' prints as text that parses back to that path") {
  for (std::string_view text : {"@01:9/x", "@run/x.sock", "unix:./@x"}) {
    CAPTURE(text);
    ListenAddress address = parsed(text);
    REQUIRE(address.kind == Kind::kUnixPath);
    CHECK(parsed(address.to_string()) == address);
  }
  CHECK(parsed("@run/x.sock").to_string() == "@run/x.sock");
  CHECK(unix_path_text("@x") == "unix:./@x");
  CHECK(parsed(unix_path_text("@x")).path == "./@x");
  CHECK(unix_path_text("/run/x.sock") == "unix:/run/x.sock");
  CHECK(parsed("unix:@run/x.sock").kind == Kind::kUnixAbstract);
}

}  // namespace
}  // namespace zcrecv::net
