#pragma once

#include <cstdint>
#include <span>
#include <string>

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

/// `text`'s bytes, for the sys:: calls.
inline std::span<const std::byte> bytes_of(const std::string& text) {
  return std::as_bytes(std::span(text));
}

}  // namespace zcrecv::test
