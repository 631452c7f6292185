#include "net/proxy_header.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/crc32c.hpp"
#include "support/proxy_headers.hpp"

namespace zcrecv::net {
namespace {

using Parse = sys::Result<std::optional<ProxyHeader>>;

using namespace test::proxy_wire;

constexpr std::uint8_t kSslCipher = 0x23;
constexpr std::uint8_t kSslSigAlg = 0x24;
constexpr std::uint8_t kSslKeyAlg = 0x25;

Parse parse(std::string_view bytes) { return parse_proxy_header(std::as_bytes(std::span(bytes))); }

// The header `bytes` start with; fails the test if they do not hold a complete one.
ProxyHeader complete(const std::string& bytes) {
  auto parsed = parse(bytes);
  if (!parsed.ok()) {
    FAIL(parsed.error().message());
  }
  REQUIRE(parsed->has_value());
  return **parsed;
}

// Every proper prefix of `header` is "need more", as when it arrives a byte at a time.
void check_prefixes_need_more(const std::string& header) {
  for (std::size_t size = 0; size < header.size(); ++size) {
    CAPTURE(size);
    auto parsed = parse(std::string_view(header).substr(0, size));
    REQUIRE(parsed.ok());
    CHECK_FALSE(parsed->has_value());
  }
}

// The first 16 bytes of a v2 header, with whatever `length` a test needs.
std::string fixed_part(std::uint8_t version_command, std::uint8_t family, std::uint16_t length) {
  return std::string(kSignature) + u8(version_command) + u8(family) + u16(length);
}

// A v2 header whose body ends with a CRC32C TLV holding the header's checksum.
std::string v2_with_crc32c(std::uint8_t version_command, std::uint8_t family,
                           const std::string& body) {
  std::string header = v2(version_command, family, body + tlv(kCrc32c, u32(0)));
  std::uint32_t crc = crc32c(std::as_bytes(std::span(header)));
  return header.replace(header.size() - 4, 4, u32(crc));
}

std::string inet_block(const char* source, const char* destination, std::uint16_t source_port,
                       std::uint16_t destination_port) {
  return ip_bytes(source) + ip_bytes(destination) + u16(source_port) +
         u16(destination_port);
}

std::string inet6_block(const char* source, const char* destination, std::uint16_t source_port,
                        std::uint16_t destination_port) {
  return ip_bytes(source) + ip_bytes(destination) + u16(source_port) +
         u16(destination_port);
}

std::string ssl_tlv(std::uint8_t client, std::uint32_t verify, const std::string& sub_tlvs) {
  return tlv(kSsl, u8(client) + u32(verify) + sub_tlvs);
}

// Built when called, not at start-up: inet_block REQUIREs, which needs a running test.
std::string tcp4_body() { return inet_block("192.0.2.1", "198.51.100.2", 56324, 443); }

TEST_CASE("PROXY v1: TCP4, TCP6 and UNKNOWN lines") {
  const std::string tcp4 = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  ProxyHeader header = complete(tcp4);
  CHECK(header.version == 1);
  CHECK_FALSE(header.local);
  REQUIRE(header.source);
  REQUIRE(header.destination);
  CHECK(header.source->to_string() == "192.168.0.1:56324");
  CHECK(header.destination->to_string() == "192.168.0.11:443");
  CHECK_FALSE(header.ssl);
  CHECK(header.length == tcp4.size());
  check_prefixes_need_more(tcp4);

  const std::string edges = "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n";
  header = complete(edges);
  CHECK(header.source->to_string() == "0.0.0.0:0");
  CHECK(header.destination->to_string() == "255.255.255.255:65535");
  check_prefixes_need_more(edges);

  const std::string tcp6 = "PROXY TCP6 2001:db8::1 2001:DB8:0:0:0:0:0:2 1 9000\r\n";
  header = complete(tcp6);
  CHECK(header.source->family() == AF_INET6);
  CHECK(header.source->to_string() == "[2001:db8::1]:1");
  CHECK(header.destination->to_string() == "[2001:db8::2]:9000");
  CHECK(header.length == tcp6.size());
  check_prefixes_need_more(tcp6);

  // The textual form may end in a dotted quad; an IPv4-mapped address prints as IPv4.
  header = complete("PROXY TCP6 ::ffff:10.1.2.3 ::1 80 81\r\n");
  CHECK(header.source->is_ipv4_mapped());
  CHECK(header.source->to_string() == "10.1.2.3:80");

  for (const std::string unknown :
       {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n",
        "PROXY UNKNOWN anything \x01 at all\n even LF\r\n", "PROXY UNKNOWN \r\n"}) {
    CAPTURE(unknown);
    header = complete(unknown);
    CHECK(header.version == 1);
    CHECK(header.local);
    CHECK_FALSE(header.source);
    CHECK_FALSE(header.destination);
    CHECK(header.length == unknown.size());
    check_prefixes_need_more(unknown);
  }
}

TEST_CASE("PROXY v1: the longest line is 107 bytes, CRLF included") {
  const std::string tcp6_longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "65535 65535\r\n";
  CHECK(tcp6_longest.size() == 104);
  CHECK(complete(tcp6_longest).length == 104);

  const std::string unknown_longest = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n";
  REQUIRE(unknown_longest.size() == kMaxProxyV1Size);
  CHECK(complete(unknown_longest + "payload").length == kMaxProxyV1Size);
  check_prefixes_need_more(unknown_longest);

  const std::string one_more = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
  auto parsed = parse(one_more);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().message() == "PROXY v1: no CRLF within the first 107 bytes");
  // Its first 106 bytes could still be a header; the 107th settles it.
  CHECK_FALSE(*parse(one_more.substr(0, 106)));
  CHECK_FALSE(parse(one_more.substr(0, 107)).ok());
}

TEST_CASE("PROXY v2: LOCAL, and PROXY over INET, INET6, UNIX and UNSPEC") {
  const std::string local = v2(kLocal, kUnspec, "");
  ProxyHeader header = complete(local);
  CHECK(header.version == 2);
  CHECK(header.local);
  CHECK_FALSE(header.source);
  CHECK_FALSE(header.destination);
  CHECK(header.length == 16);
  check_prefixes_need_more(local);

  // LOCAL ignores the addresses it is sent, but their length still counts.
  const std::string local_with_addresses = v2(kLocal, kTcp4, tcp4_body());
  header = complete(local_with_addresses);
  CHECK(header.local);
  CHECK_FALSE(header.source);
  CHECK(header.length == 28);
  // So does a family of datagrams: LOCAL ignores it.
  CHECK(complete(v2(kLocal, 0x12, tcp4_body())).local);

  const std::string tcp4 = v2(kProxy, kTcp4, tcp4_body());
  header = complete(tcp4);
  CHECK_FALSE(header.local);
  CHECK(header.source->to_string() == "192.0.2.1:56324");
  CHECK(header.destination->to_string() == "198.51.100.2:443");
  CHECK(header.length == 28);
  check_prefixes_need_more(tcp4);

  const std::string tcp6 = v2(kProxy, kTcp6, inet6_block("2001:db8::1", "2001:db8::2", 1234, 22));
  header = complete(tcp6);
  CHECK(header.source->to_string() == "[2001:db8::1]:1234");
  CHECK(header.destination->to_string() == "[2001:db8::2]:22");
  CHECK(header.length == 52);
  check_prefixes_need_more(tcp6);

  const std::string unix_paths =
      v2(kProxy, kUnixStream, sun_path("/run/client.sock") + sun_path("/run/zcrecv.sock"));
  header = complete(unix_paths);
  CHECK(header.source->family() == AF_UNIX);
  CHECK(header.source->to_string() == "unix:/run/client.sock");
  CHECK(header.destination->to_string() == "unix:/run/zcrecv.sock");
  CHECK(header.length == 16 + 216);
  check_prefixes_need_more(unix_paths);

  // An unbound client and an abstract socket; a path may fill all but the last byte.
  const std::string longest_path(107, 'p');
  header = complete(v2(kProxy, kUnixStream, sun_path("") + sun_path(std::string("\0srv", 4))));
  CHECK(header.source->to_string() == "unix:(unnamed)");
  CHECK(header.destination->to_string() == "unix:@srv");
  header = complete(v2(kProxy, kUnixStream, sun_path(longest_path) + sun_path("/x")));
  CHECK(header.source->to_string() == "unix:" + longest_path);

  // PROXY with UNSPEC: the connection's own addresses, whatever bytes follow.
  const std::string unspec = v2(kProxy, kUnspec, tlv(0x04, "pad"));
  header = complete(unspec);
  CHECK(header.local);
  CHECK_FALSE(header.source);
  CHECK(header.length == unspec.size());
  check_prefixes_need_more(unspec);
}

TEST_CASE("PROXY v2: TLVs are checked and skipped, a correct CRC32C accepted") {
  const std::string tlvs = tlv(0x01, "h2") + tlv(0x02, "example.com") + tlv(0x04, "") +
                           tlv(0x05, std::string(128, 'u')) + tlv(0x30, "netns") +
                           tlv(0xE0, "custom") + tlv(0xF8, "future");
  const std::string with_tlvs = v2(kProxy, kTcp4, tcp4_body() + tlvs);
  ProxyHeader header = complete(with_tlvs);
  CHECK(header.source->to_string() == "192.0.2.1:56324");
  CHECK(header.length == 28 + tlvs.size());
  CHECK_FALSE(header.ssl);
  check_prefixes_need_more(with_tlvs);

  const std::string crc = v2_with_crc32c(kProxy, kTcp4, tcp4_body() + tlv(0x02, "example.com"));
  header = complete(crc);
  CHECK(header.source->to_string() == "192.0.2.1:56324");
  CHECK(header.length == crc.size());
  check_prefixes_need_more(crc);

  // The checksum covers everything, wherever the CRC32C TLV sits.
  std::string crc_first = v2(kProxy, kTcp4, tcp4_body() + tlv(kCrc32c, u32(0)) + tlv(0x01, "h2"));
  const std::uint32_t sum = crc32c(std::as_bytes(std::span(crc_first)));
  crc_first.replace(28 + 3, 4, u32(sum));
  CHECK(complete(crc_first).length == crc_first.size());

  const std::string local_crc = v2_with_crc32c(kLocal, kUnspec, "");
  CHECK(complete(local_crc).local);
}

TEST_CASE("PROXY v2: the SSL TLV") {
  const std::string verified =
      v2(kProxy, kTcp4,
         tcp4_body() +
             ssl_tlv(0x07, 0,
                     tlv(kSslVersion, "TLSv1.3") + tlv(kSslCn, "client.example.com") +
                         tlv(kSslCipher, "TLS_AES_128_GCM_SHA256") + tlv(kSslSigAlg, "RSA-SHA256") +
                         tlv(kSslKeyAlg, "RSA2048") + tlv(0x2f, "a later subtype")));
  ProxyHeader header = complete(verified);
  REQUIRE(header.ssl);
  CHECK(header.ssl->client_ssl);
  CHECK(header.ssl->client_cert_connection);
  CHECK(header.ssl->client_cert_session);
  CHECK(header.ssl->verified);
  CHECK(header.ssl->version == "TLSv1.3");
  CHECK(header.ssl->common_name == "client.example.com");
  CHECK(header.ssl->cipher == "TLS_AES_128_GCM_SHA256");
  CHECK(header.ssl->signature_algorithm == "RSA-SHA256");
  CHECK(header.ssl->key_algorithm == "RSA2048");
  check_prefixes_need_more(verified);

  // A certificate from an earlier connection of the session, which failed verification.
  header = complete(
      v2(kProxy, kTcp4, tcp4_body() + ssl_tlv(0x05, 0x13, tlv(kSslCn, "old.example.com"))));
  CHECK(header.ssl->client_ssl);
  CHECK_FALSE(header.ssl->client_cert_connection);
  CHECK(header.ssl->client_cert_session);
  CHECK_FALSE(header.ssl->verified);
  CHECK(header.ssl->common_name == "old.example.com");
  CHECK(header.ssl->version.empty());

  // No TLS at all, no sub-TLVs; the strings are raw bytes, at most 255 of them.
  header = complete(v2(kLocal, kUnspec, ssl_tlv(0, 1, "")));
  CHECK(header.local);
  CHECK_FALSE(header.ssl->client_ssl);
  CHECK_FALSE(header.ssl->verified);
  CHECK(header.ssl->common_name.empty());
  const std::string raw_cn = std::string(254, 'c') + std::string(1, '\0');
  header = complete(v2(kProxy, kTcp4, tcp4_body() + ssl_tlv(1, 0, tlv(kSslCn, raw_cn))));
  CHECK(header.ssl->common_name == raw_cn);

  const std::string with_crc =
      v2_with_crc32c(kProxy, kTcp6,
                     inet6_block("::1", "::2", 5, 6) +
                         ssl_tlv(0x03, 0, tlv(kSslCn, "cn") + tlv(kSslVersion, "v")));
  header = complete(with_crc);
  CHECK(header.ssl->common_name == "cn");
  CHECK(header.ssl->version == "v");
}

TEST_CASE("PROXY headers: bytes after the header are payload, not counted") {
  const std::string v1 = "PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000\r\n";
  CHECK(complete(v1 + "GET / HTTP/1.1\r\n\r\n").length == v1.size());
  CHECK(complete(v1 + "\r\n").length == v1.size());
  const std::string v2_header = v2(kProxy, kTcp4, tcp4_body() + tlv(0x04, "x"));
  CHECK(complete(v2_header + "PROXY TCP4 payload").length == v2_header.size());
  CHECK(complete(v2_header + std::string(kSignature)).length == v2_header.size());
  // A CRC covers the header only.
  const std::string crc = v2_with_crc32c(kProxy, kTcp4, tcp4_body());
  CHECK(complete(crc + "payload").length == crc.size());
}

TEST_CASE("PROXY v2: a header may be as long as kMaxProxyHeaderSize, not one byte more") {
  const std::size_t padding = kMaxProxyHeaderSize - 16 - 12 - 3;
  const std::string longest = v2(kProxy, kTcp4, tcp4_body() + tlv(0x04, std::string(padding, '.')));
  REQUIRE(longest.size() == kMaxProxyHeaderSize);
  CHECK(complete(longest + "payload").length == kMaxProxyHeaderSize);
  CHECK_FALSE(*parse(longest.substr(0, kMaxProxyHeaderSize - 1)));

  const std::string too_long =
      v2(kProxy, kTcp4, tcp4_body() + tlv(0x04, std::string(padding + 1, '.')));
  auto parsed = parse(too_long);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().message() ==
        "PROXY v2: length 4081 makes a 4097-byte header, more than the 4096 accepted");
  // Refused from its length field on, without waiting for the rest.
  CHECK_FALSE(parse(too_long.substr(0, 16)).ok());
}

struct Malformed {
  const char* what;
  std::string bytes;
  const char* reason;
};

TEST_CASE("PROXY headers: malformed ones are refused with their reason, however they arrive") {
  const std::string tcp6_body = inet6_block("::1", "::2", 1, 2);
  std::string bad_crc = v2_with_crc32c(kProxy, kTcp4, tcp4_body());
  bad_crc[17] ^= 1;  // one bit of the source address
  const std::string unix_no_nul = std::string(108, 'a');

  const Malformed cases[] = {
      // Neither signature.
      {"HTTP", "GET / HTTP/1.1\r\n\r\n", "not a PROXY protocol header (starts with \"G\""},
      {"lower-case proxy", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY protocol header"},
      {"v1 signature cut short", "PROXY\r\n",
       "not a PROXY protocol header (starts with \"PROXY\\x0d\""},
      {"v2 signature cut short", std::string(kSignature.substr(0, 7)) + "GET /",
       "not a PROXY protocol header"},
      {"TLS client hello", std::string("\x16\x03\x01\x02\x00", 5), "not a PROXY protocol header"},
      // v1.
      {"lower-case tcp4", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
       "PROXY v1: unknown protocol \"tcp4\" (expected TCP4, TCP6 or UNKNOWN)"},
      {"unknown protocol", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol \"UDP4\""},
      {"UNKNOWN cut short", "PROXY UNKNOW \r\n", "unknown protocol \"UNKNOW\""},
      {"protocol too long", "PROXY TCP4TCP4 1.2.3.4", "protocol starting \"TCP4TCP4\" is longer"},
      {"no protocol", "PROXY \r\n", "PROXY v1: line ends before the protocol"},
      {"two spaces after PROXY", "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
       "two spaces before the protocol"},
      {"two spaces", "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
       "PROXY v1: two spaces before the destination address"},
      {"TCP4 alone", "PROXY TCP4\r\n", "line ends after TCP4"},
      {"address missing", "PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n", "line ends after the source port"},
      {"no CRLF in 107 bytes", "PROXY UNKNOWN " + std::string(200, 'x'),
       "PROXY v1: no CRLF within the first 107 bytes"},
      {"CR without LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n", "PROXY v1: CR not followed by LF"},
      {"UNKNOWN CR without LF", "PROXY UNKNOWN\r\r\n", "CR not followed by LF"},
      {"LF without CR", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
       "LF without CR after the destination port"},
      {"UNKNOWN LF without CR", "PROXY UNKNOWN\n", "LF without CR after UNKNOWN"},
      {"leading zero in an octet", "PROXY TCP4 192.168.01.1 5.6.7.8 1 2\r\n",
       "TCP4 source address \"192.168.01.1\" is not an IPv4 address (leading zero in \"01\")"},
      {"octet over 255", "PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n",
       "destination address \"5.6.7.256\" is not an IPv4 address (256 is more than 255)"},
      {"three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "\"1.2.3\" is not an IPv4 address"},
      {"IPv4 address too long", "PROXY TCP4 1111.2222.3333.44",
       "source address starting \"1111.2222.3333.4\" is longer than 15 bytes"},
      {"leading zero in a port", "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
       "PROXY v1: source port \"080\" has a leading zero"},
      {"port over 65535", "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
       "PROXY v1: destination port 65536 is more than 65535"},
      {"port not a number", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
       "source port \"-1\" is not a decimal number"},
      {"IPv6 address in TCP4", "PROXY TCP4 ::1 ::2 1 2\r\n",
       "TCP4 source address \"::1\" is not an IPv4 address"},
      {"IPv4 address in TCP6", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
       "TCP6 source address \"1.2.3.4\" is not an IPv6 address"},
      {"IPv6 with a zone", "PROXY TCP6 fe80::1%eth0 ::2 1 2\r\n", "is not an IPv6 address"},
      {"extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
       "PROXY v1: extra field after the destination port"},
      {"trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "extra field after"},
      {"v1 truncated then payload", "PROXY TCP4 1.2.3.4 GET / HTTP/1.1\r\n",
       "destination address \"GET\" is not an IPv4 address"},
      // v2 fixed part.
      {"version 1 in v2", fixed_part(0x11, kTcp4, 12) + tcp4_body(),
       "PROXY v2: version 1 (ver_cmd 0x11), expected 2"},
      {"version 3", fixed_part(0x31, kTcp4, 12), "version 3 (ver_cmd 0x31)"},
      {"command 2", fixed_part(0x22, kTcp4, 12) + tcp4_body(),
       "PROXY v2: unknown command 2 (ver_cmd 0x22), expected 0 (LOCAL) or 1 (PROXY)"},
      {"unknown family", v2(kProxy, 0x41, tcp4_body()), "unknown family and transport (fam 0x41)"},
      {"unknown transport", v2(kProxy, 0x13, tcp4_body()), "(fam 0x13)"},
      {"UNSPEC family with a transport", v2(kProxy, 0x01, ""), "(fam 0x01)"},
      {"UDP over IPv4", v2(kProxy, 0x12, tcp4_body()),
       "PROXY v2: fam 0x12 is datagrams over IPv4, but only streams can be received"},
      {"Unix datagrams", v2(kProxy, 0x32, std::string(216, '\0')), "datagrams over Unix"},
      {"length shorter than INET", fixed_part(kProxy, kTcp4, 5) + "12345",
       "PROXY v2: length 5 is shorter than the INET address block (12 bytes)"},
      {"length shorter than INET6", v2(kProxy, kTcp6, tcp4_body()),
       "length 12 is shorter than the INET6 address block (36 bytes)"},
      {"length shorter than UNIX", v2(kProxy, kUnixStream, tcp6_body),
       "length 36 is shorter than the UNIX address block (216 bytes)"},
      {"LOCAL length shorter than its family's block", v2(kLocal, kTcp4, ""),
       "length 0 is shorter than the INET address block"},
      {"length past the maximum", fixed_part(kProxy, kTcp4, 0xffff),
       "length 65535 makes a 65551-byte header, more than the 4096 accepted"},
      {"Unix path without NUL", v2(kProxy, kUnixStream, unix_no_nul + sun_path("/x")),
       "PROXY v2: Unix source address has no NUL within its 108 bytes"},
      // v2 TLVs.
      {"TLV past the end", v2(kProxy, kTcp4, tcp4_body() + u8(0x02) + u16(10) + "short"),
       "PROXY v2: TLV 0x02 at offset 28 has length 10, past the end of the header (5 bytes left)"},
      {"TLV header with 1 byte", v2(kProxy, kTcp4, tcp4_body() + u8(0x04)),
       "PROXY v2: TLV at offset 28 is cut short: 1 bytes left in the header, a TLV header takes 3"},
      {"TLV header with 2 bytes", v2(kProxy, kTcp4, tcp4_body() + tlv(0x04, "") + u8(0x04) + u8(0)),
       "TLV at offset 31 is cut short: 2 bytes left"},
      {"LOCAL TLV past the end", v2(kLocal, kUnspec, u8(0x05) + u16(0xffff)),
       "TLV 0x05 at offset 16 has length 65535"},
      {"bad CRC32C", bad_crc, "PROXY v2: CRC32C mismatch: the header says 0x"},
      {"CRC32C TLV of 3 bytes", v2(kProxy, kTcp4, tcp4_body() + tlv(kCrc32c, "abc")),
       "PROXY v2: CRC32C TLV at offset 28 has length 3, not 4"},
      {"CRC32C TLV of 5 bytes", v2(kProxy, kTcp4, tcp4_body() + tlv(kCrc32c, "abcde")),
       "has length 5, not 4"},
      {"two CRC32C TLVs", v2_with_crc32c(kProxy, kTcp4, tcp4_body() + tlv(kCrc32c, u32(0))),
       "PROXY v2: second CRC32C TLV at offset 35"},
      {"SSL TLV of 4 bytes",
       v2(kProxy, kTcp4, tcp4_body() + tlv(kSsl, std::string("\x01\0\0\0", 4))),
       "PROXY v2: SSL TLV at offset 28 has length 4, shorter than its client and verify fields"},
      {"SSL sub-TLV past the SSL TLV",
       v2(kProxy, kTcp4,
          tcp4_body() + ssl_tlv(1, 0, u8(kSslCn) + u16(20) + "cn") +
              tlv(0x04, std::string(30, 'p'))),
       "PROXY v2: SSL sub-TLV 0x22 at offset 36 has length 20, past the end of the SSL TLV (2 "
       "bytes "
       "left)"},
      {"SSL sub-TLV header cut short",
       v2(kProxy, kTcp4, tcp4_body() + ssl_tlv(1, 0, u8(kSslCn) + u8(0))),
       "SSL sub-TLV at offset 36 is cut short: 2 bytes left in the SSL TLV"},
      {"two SSL TLVs", v2(kProxy, kTcp4, tcp4_body() + ssl_tlv(1, 0, "") + ssl_tlv(1, 0, "")),
       "PROXY v2: second SSL TLV at offset 36"},
      {"two CNs",
       v2(kProxy, kTcp4, tcp4_body() + ssl_tlv(1, 0, tlv(kSslCn, "good") + tlv(kSslCn, "evil"))),
       "PROXY v2: second SSL CN at offset 43"},
      {"CN of 256 bytes",
       v2(kProxy, kTcp4, tcp4_body() + ssl_tlv(1, 0, tlv(kSslCn, std::string(256, 'c')))),
       "PROXY v2: SSL CN at offset 36 is 256 bytes, more than 255"},
      {"SSL version of 300 bytes",
       v2(kLocal, kUnspec, ssl_tlv(1, 0, tlv(kSslVersion, std::string(300, 'v')))),
       "SSL version at offset 24 is 300 bytes"},
  };
  CHECK(std::size(cases) >= 25);
  for (const Malformed& entry : cases) {
    const std::string what = entry.what;
    const std::string reason = entry.reason;
    CAPTURE(what);
    auto parsed = parse(entry.bytes);
    REQUIRE_FALSE(parsed.ok());
    const std::string message = parsed.error().message();
    CAPTURE(message);
    CHECK(message.find(reason) != std::string::npos);
    CHECK(parsed.error().errno_value() == 0);
    // Byte by byte, each prefix waits for more or is refused for the same reason.
    for (std::size_t size = 0; size < entry.bytes.size(); ++size) {
      CAPTURE(size);
      auto prefix = parse(std::string_view(entry.bytes).substr(0, size));
      if (prefix.ok()) {
        CHECK_FALSE(prefix->has_value());
      } else {
        CHECK(prefix.error().message() == message);
      }
    }
  }
}

TEST_CASE("PROXY headers: what may still become a header needs more bytes") {
  CHECK_FALSE(*parse(""));
  CHECK_FALSE(*parse("P"));
  CHECK_FALSE(*parse("PROXY "));
  CHECK_FALSE(*parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"));
  CHECK_FALSE(*parse(std::string_view("\r\n\r\n\0", 5)));
  CHECK_FALSE(*parse(fixed_part(kProxy, kTcp4, 12) + "partial"));
  // Refused at the first byte that fits neither signature.
  CHECK_FALSE(parse("X").ok());
  CHECK_FALSE(parse("PROXX").ok());
  CHECK_FALSE(parse(std::string_view("\r\n\r\n\x01", 5)).ok());
}

}  // namespace
}  // namespace zcrecv::net
