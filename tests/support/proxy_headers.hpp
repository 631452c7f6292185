#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace zcrecv::test {

/// PROXY protocol headers as proxies send them (HAProxy's doc/proxy-protocol.txt), for tests to
/// write before a payload. Addresses are IP literals; each builder fails the current test if
/// one is not.

/// "PROXY TCP4 SRC DST SPORT DPORT\r\n", TCP6 when `source` is IPv6.
std::string proxy_v1(const char* source, const char* destination, std::uint16_t source_port,
                     std::uint16_t destination_port);

/// A v2 PROXY header over TCP (IPv4 or IPv6 by `source`), with `tlvs` (already encoded) after
/// the address block.
std::string proxy_v2(const char* source, const char* destination, std::uint16_t source_port,
                     std::uint16_t destination_port, const std::string& tlvs = {});

/// A v2 LOCAL header (a proxy's own connection, as its health checks send), no addresses.
std::string proxy_v2_local();

/// A v2 PROXY header of a Unix stream client: source and destination sun_path as given (an
/// empty source is an unbound client).
std::string proxy_v2_unix(const std::string& source, const std::string& destination);

/// A v2 SSL TLV (PP2_TYPE_SSL) as HAProxy's `proxy-v2-options ssl,cert-cn` writes it: TLS,
/// with a client certificate on this connection when `common_name` is not empty, `verified`
/// or not, and "TLSv1.3" as the version.
std::string proxy_ssl_tlv(const std::string& common_name, bool verified);

/// The pieces of the v2 binary format, for tests that build headers byte by byte (also
/// malformed ones).
namespace proxy_wire {

inline constexpr std::string_view kSignature("\r\n\r\n\0\r\nQUIT\n", 12);
inline constexpr std::uint8_t kLocal = 0x20;
inline constexpr std::uint8_t kProxy = 0x21;
inline constexpr std::uint8_t kUnspec = 0x00;
inline constexpr std::uint8_t kTcp4 = 0x11;
inline constexpr std::uint8_t kTcp6 = 0x21;
inline constexpr std::uint8_t kUnixStream = 0x31;
inline constexpr std::uint8_t kCrc32c = 0x03;
inline constexpr std::uint8_t kSsl = 0x20;
inline constexpr std::uint8_t kSslVersion = 0x21;
inline constexpr std::uint8_t kSslCn = 0x22;
inline constexpr std::uint8_t kClientSsl = 0x01;
inline constexpr std::uint8_t kClientCertConnection = 0x02;

/// Big-endian integers, as the header carries them.
std::string u8(std::uint8_t value);
std::string u16(std::uint16_t value);
std::string u32(std::uint32_t value);
/// One TLV: type, 16-bit length, value.
std::string tlv(std::uint8_t type, const std::string& value);
/// A v2 header: signature, version and command, family, the length of `body`, then `body`.
std::string v2(std::uint8_t version_command, std::uint8_t family, const std::string& body);
/// The 4 or 16 bytes of the IP literal `text` (IPv6 when it holds a ':').
std::string ip_bytes(const char* text);
/// One 108-byte sun_path field of a Unix address block.
std::string sun_path(const std::string& path);

}  // namespace proxy_wire

/// `text`'s bytes, for the sys:: calls.
inline std::span<const std::byte> bytes_of(const std::string& text) {
  return std::as_bytes(std::span(text));
}

}  // namespace zcrecv::test
