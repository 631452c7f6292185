#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "net/socket_address.hpp"
#include "sys/result.hpp"

namespace zcrecv::net {

/// The longest PROXY header accepted, v1 or v2, in bytes: the most a connection has to peek.
///
/// v2's length field would allow 16 + 65535 bytes, but real headers are a few hundred: the
/// largest address block (Unix) is 216 bytes, and the TLVs senders add (SSL with a CN,
/// AUTHORITY, UNIQUE_ID of at most 128 bytes, cloud load balancers' custom TLVs) a few hundred
/// more; the spec means a header to fit one 536-byte TCP segment. 4096 leaves room for all of
/// them at once, while bounding the peek buffer and what a peer can make a connection hold
/// before it is refused.
inline constexpr std::size_t kMaxProxyHeaderSize = 4096;

/// The longest v1 header, CRLF included: the spec's worst case, `PROXY UNKNOWN` followed by two
/// full-length IPv6 addresses and two ports.
inline constexpr std::size_t kMaxProxyV1Size = 107;

/// The longest string accepted in the SSL TLV (version, CN, cipher, algorithms). A longer one
/// makes the header invalid instead of being cut, so that two different CNs never read alike.
inline constexpr std::size_t kMaxProxySslStringSize = 255;

/// What a PROXY v2 header's SSL TLV (PP2_TYPE_SSL) says about the client's TLS connection.
///
/// The strings are the sender's bytes, unchecked (any byte may appear, NUL included): sanitise
/// them before putting them in a file name or a log line. An absent one is empty.
struct ProxySsl {
  /// PP2_CLIENT_SSL: the client connected over TLS.
  bool client_ssl = false;
  /// PP2_CLIENT_CERT_CONN: the client presented a certificate on this connection.
  bool client_cert_connection = false;
  /// PP2_CLIENT_CERT_SESS: the client presented a certificate at least once in this TLS session.
  bool client_cert_session = false;
  /// The `verify` field is 0, which the spec defines as "the client presented a certificate and
  /// it was verified". Whoever trusts `common_name` should also require client_cert_connection,
  /// rather than rely on every sender setting `verify` right when there was no certificate.
  bool verified = false;
  /// PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3".
  std::string version;
  /// PP2_SUBTYPE_SSL_CN: the Common Name of the client certificate's subject.
  std::string common_name;
  /// PP2_SUBTYPE_SSL_CIPHER, e.g. "ECDHE-RSA-AES128-GCM-SHA256".
  std::string cipher;
  /// PP2_SUBTYPE_SSL_SIG_ALG: how the certificate was signed, e.g. "RSA-SHA256".
  std::string signature_algorithm;
  /// PP2_SUBTYPE_SSL_KEY_ALG: the certificate's key, e.g. "RSA2048".
  std::string key_algorithm;
};

/// A complete PROXY protocol header: who the proxy's client was.
struct ProxyHeader {
  /// 1 (text) or 2 (binary).
  int version = 0;
  /// The header gives no addresses to use (v1 UNKNOWN, v2 LOCAL, v2 AF_UNSPEC): the
  /// connection's own addresses stand, and `source` and `destination` are empty.
  bool local = false;
  /// The original client: IPv4 or IPv6 with its port, or (v2 only) a Unix socket address.
  std::optional<SocketAddress> source;
  /// The address the original client connected to.
  std::optional<SocketAddress> destination;
  /// v2's SSL TLV, when the sender included one.
  std::optional<ProxySsl> ssl;
  /// The header's size in bytes (at most kMaxProxyHeaderSize): consume exactly this many, and
  /// the next byte is the first of the payload.
  std::size_t length = 0;
};

/// Reads a PROXY protocol header, v1 or v2 (HAProxy's doc/proxy-protocol.txt), at the start of
/// `bytes`: what has arrived of a connection so far, peeked. Bytes after the header are payload
/// and play no part.
///
/// Returns the header once it is complete; std::nullopt while `bytes` may still be the start of
/// a valid header (an empty input is), so the caller waits for more; Error::invalid otherwise,
/// with a one-line message starting "PROXY v1: ", "PROXY v2: " or "not a PROXY protocol header".
/// A wrong signature byte, v2 version, command, family or length is refused as soon as it
/// arrives, a v1 field at the space or CR that ends it, and anything else once the header is
/// complete. The result never depends on how the bytes were split: a header given whole and one
/// given byte by byte end alike, with the same message. At most kMaxProxyHeaderSize bytes are
/// read.
///
/// Stricter than the spec in two places: a v2 LOCAL header's family must still be a valid one,
/// because it sizes the address block that the TLVs follow; and a repeated CRC32C or SSL TLV,
/// or a repeated string inside the SSL TLV, is invalid rather than one of them winning.
sys::Result<std::optional<ProxyHeader>> parse_proxy_header(std::span<const std::byte> bytes);

}  // namespace zcrecv::net
