#include "support/proxy_headers.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <cstring>
#include <string_view>

namespace zcrecv::test {
namespace proxy_wire {

std::string u8(std::uint8_t value) { return std::string(1, static_cast<char>(value)); }

std::string u16(std::uint16_t value) {
  return u8(static_cast<std::uint8_t>(value >> 8)) + u8(static_cast<std::uint8_t>(value));
}

std::string u32(std::uint32_t value) {
  return u16(static_cast<std::uint16_t>(value >> 16)) + u16(static_cast<std::uint16_t>(value));
}

std::string tlv(std::uint8_t type, const std::string& value) {
  return u8(type) + u16(static_cast<std::uint16_t>(value.size())) + value;
}

std::string v2(std::uint8_t version_command, std::uint8_t family, const std::string& body) {
  return std::string(kSignature) + u8(version_command) + u8(family) +
         u16(static_cast<std::uint16_t>(body.size())) + body;
}

std::string ip_bytes(const char* text) {
  const int family = std::strchr(text, ':') != nullptr ? AF_INET6 : AF_INET;
  std::string bytes(family == AF_INET ? 4 : 16, '\0');
  REQUIRE_MESSAGE(::inet_pton(family, text, bytes.data()) == 1, text);
  return bytes;
}

std::string sun_path(const std::string& path) {
  constexpr std::size_t kSunPathSize = 108;
  REQUIRE(path.size() < kSunPathSize);
  return path + std::string(kSunPathSize - path.size(), '\0');
}

}  // namespace proxy_wire

using namespace proxy_wire;

std::string proxy_v1(const char* source, const char* destination, std::uint16_t source_port,
                     std::uint16_t destination_port) {
  const bool ipv6 = std::strchr(source, ':') != nullptr;
  return std::string("PROXY ") + (ipv6 ? "TCP6 " : "TCP4 ") + source + " " +
         destination + " " + std::to_string(source_port) + " " + std::to_string(destination_port) +
         "\r\n";
}

std::string proxy_v2(const char* source, const char* destination, std::uint16_t source_port,
                     std::uint16_t destination_port, const std::string& tlvs) {
  return v2(
      kProxy, std::strchr(source, ':') != nullptr ? kTcp6 : kTcp4,
      ip_bytes(source) + ip_bytes(destination) + u16(source_port) + u16(destination_port) + tlvs);
}

std::string proxy_v2_local() { return v2(kLocal, kUnspec, ""); }

std::string proxy_v2_unix(const std::string& source, const std::string& destination) {
  return v2(kProxy, kUnixStream, sun_path(source) + sun_path(destination));
}

std::string proxy_ssl_tlv(const std::string& common_name, bool verified) {
  const std::uint8_t client =
      common_name.empty() ? kClientSsl : (kClientSsl | kClientCertConnection);
  std::string subs = tlv(kSslVersion, "TLSv1.3");
  if (!common_name.empty()) {
    subs += tlv(kSslCn, common_name);
  }
  return tlv(kSsl, u8(client) + u32(verified ? 0 : 1) + subs);
}

}  // namespace zcrecv::test
