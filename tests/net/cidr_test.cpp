#include "net/cidr.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <string>
#include <utility>

#include "support/loopback.hpp"

namespace zcrecv::net {
namespace {

Cidr cidr(std::string_view text) {
  auto parsed = Cidr::parse(text);
  if (!parsed.ok()) {
    FAIL(parsed.error().message());
  }
  return *parsed;
}

// The port plays no part in matching.
SocketAddress ip(const char* text) { return test::ip(text, 4242); }

TEST_CASE("CIDR parsing: networks, single hosts, host bits masked") {
  Cidr ten = cidr("10.0.0.0/8");
  CHECK(ten.family() == AF_INET);
  CHECK(ten.prefix_length() == 8);
  CHECK(ten.to_string() == "10.0.0.0/8");

  CHECK(cidr("127.0.0.1").to_string() == "127.0.0.1/32");
  CHECK(cidr("0.0.0.0/0").to_string() == "0.0.0.0/0");
  CHECK(cidr("::1/128").to_string() == "::1/128");
  CHECK(cidr("::1").to_string() == "::1/128");
  CHECK(cidr("::1").family() == AF_INET6);
  CHECK(cidr("2001:db8::/32").to_string() == "2001:db8::/32");
  CHECK(cidr("::/0").to_string() == "::/0");
  CHECK(cidr("10.1.2.3/8").to_string() == "10.0.0.0/8");
  CHECK(cidr("192.168.1.255/23").to_string() == "192.168.0.0/23");
  CHECK(cidr("2001:db8:ffff::1/33").to_string() == "2001:db8:8000::/33");
  CHECK(cidr("10.1.2.3/8") == cidr("10.0.0.0/8"));
  CHECK(cidr("10.0.0.0/08").prefix_length() == 8);

  // A network in the IPv4-mapped range is the IPv4 network it stands for.
  Cidr mapped = cidr("::ffff:10.0.0.0/104");
  CHECK(mapped.family() == AF_INET);
  CHECK(mapped.to_string() == "10.0.0.0/8");
  CHECK(cidr("::ffff:0:0/96").to_string() == "0.0.0.0/0");
  CHECK(cidr("::ffff:0:0/95").family() == AF_INET6);
}

TEST_CASE("bad CIDRs are refused with a message naming the input") {
  std::pair<std::string, std::string> cases[] = {
      {"", "empty (expected ADDRESS/PREFIX, like 10.0.0.0/8 or 2001:db8::/32)"},
      {"/8", "missing address before '/'"},
      {"10.0.0.0/", "missing prefix length after '/'"},
      {"10.0.0.0/33", "prefix length 33 is more than 32 (IPv4)"},
      {"::/129", "prefix length 129 is more than 128 (IPv6)"},
      {"10.0.0.0/99999999999999999999",
       "prefix length 99999999999999999999 is more than 32 (IPv4)"},
      {"10.0.0.0/-1", "prefix length \"-1\" is not a number"},
      {"10.0.0.0/+8", "prefix length \"+8\" is not a number"},
      {"10.0.0.0/8/8", "prefix length \"8/8\" is not a number"},
      {"10.0.0.0/8 ", "prefix length \"8 \" is not a number"},
      {"10.0.0/8", "\"10.0.0\" is not an IPv4 address"},
      {"256.0.0.0/8", "\"256.0.0.0\" is not an IPv4 address"},
      {"localhost", "\"localhost\" is not an IPv4 address"},
      {" 10.0.0.0/8", "\" 10.0.0.0\" is not an IPv4 address"},
      {"2001:db8::g/32", "\"2001:db8::g\" is not an IPv6 address"},
      {"[::1]/128", "\"[::1]\" is not an IPv6 address"},
      {"fe80::1%eth0/64", "\"fe80::1%eth0\" is not an IPv6 address"},
  };
  for (const auto& entry : cases) {
    // Named copies, not a structured binding: CAPTURE needs a variable a lambda can capture.
    const std::string& text = entry.first;
    const std::string& reason = entry.second;
    CAPTURE(text);
    auto parsed = Cidr::parse(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().errno_value() == 0);
    CHECK(parsed.error().message() == "CIDR \"" + text + "\": " + reason);
  }
}

TEST_CASE("IPv4 matching, at the network's edges") {
  Cidr net = cidr("192.168.4.0/22");
  CHECK(net.contains(ip("192.168.4.0")));
  CHECK(net.contains(ip("192.168.5.17")));
  CHECK(net.contains(ip("192.168.7.255")));
  CHECK_FALSE(net.contains(ip("192.168.3.255")));
  CHECK_FALSE(net.contains(ip("192.168.8.0")));

  CHECK(cidr("127.0.0.1").contains(ip("127.0.0.1")));
  CHECK_FALSE(cidr("127.0.0.1").contains(ip("127.0.0.2")));
  CHECK(cidr("0.0.0.0/0").contains(ip("255.255.255.255")));
  CHECK(cidr("10.0.0.0/8").contains(ip("10.255.255.255")));
  CHECK_FALSE(cidr("10.0.0.0/8").contains(ip("11.0.0.0")));
  CHECK_FALSE(cidr("10.0.0.0/8").contains(ip("9.255.255.255")));
}

TEST_CASE("IPv6 matching, at the network's edges") {
  Cidr net = cidr("2001:db8::/32");
  CHECK(net.contains(ip("2001:db8::")));
  CHECK(net.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  CHECK_FALSE(net.contains(ip("2001:db9::")));
  CHECK_FALSE(net.contains(ip("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")));

  Cidr odd = cidr("2001:db8:8000::/33");
  CHECK(odd.contains(ip("2001:db8:8000::1")));
  CHECK_FALSE(odd.contains(ip("2001:db8:7fff:ffff::")));

  CHECK(cidr("::1/128").contains(ip("::1")));
  CHECK_FALSE(cidr("::1/128").contains(ip("::2")));
  CHECK(cidr("::/0").contains(ip("2001:db8::1")));
}

TEST_CASE("families are kept apart: mapped peers match IPv4 networks, Unix peers nothing") {
  CHECK(cidr("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
  CHECK_FALSE(cidr("10.0.0.0/8").contains(ip("::ffff:11.1.2.3")));
  CHECK(cidr("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
  CHECK(cidr("::ffff:10.0.0.0/104").contains(ip("::ffff:10.9.9.9")));
  CHECK_FALSE(cidr("::/0").contains(ip("10.0.0.1")));
  CHECK_FALSE(cidr("::/0").contains(ip("::ffff:10.0.0.1")));
  CHECK_FALSE(cidr("0.0.0.0/0").contains(ip("::1")));
  CHECK_FALSE(cidr("0.0.0.0/0").contains(SocketAddress::unix_path("/tmp/x.sock")));
  CHECK_FALSE(cidr("::/0").contains(SocketAddress::unix_abstract("x")));
  CHECK_FALSE(cidr("0.0.0.0/0").contains(SocketAddress()));
}

}  // namespace
}  // namespace zcrecv::net
