#include "net/peer_identity.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "sys/quoted.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::net {
namespace {

// A peer that came straight to zcrecv, not through a proxy.
PeerIdentity direct(std::string file_token, std::string display, std::string key,
                    std::optional<ucred> credentials = std::nullopt) {
  PeerIdentity peer;
  peer.file_token = std::move(file_token);
  peer.display = std::move(display);
  peer.key = std::move(key);
  peer.credentials = credentials;
  return peer;
}

PeerIdentity identify_unix(int fd) {
  auto credentials = sys::get_peer_credentials(fd);
  if (!credentials) {
    // Peers whose credentials cannot be read share one key, so that max_connections_per_peer still
    // bounds them together rather than not at all.
    return direct("unix-unknown", "unix (credentials unknown)", "uid:unknown");
  }
  std::string uid = std::to_string(credentials->uid);
  std::string pid = std::to_string(credentials->pid);
  return direct("unix-uid" + uid + "-pid" + pid, "unix uid=" + uid + " pid=" + pid, "uid:" + uid,
                *credentials);
}

// `v6-` and the address as 32 hex digits: the textual form's colons cannot be in a file name,
// and writing every digit out keeps two addresses from ever sharing a token.
std::string ipv6_token(const SocketAddress& peer) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token = "v6-";
  for (std::uint8_t byte : peer.ip_bytes()) {
    token += kHex[byte >> 4];
    token += kHex[byte & 0xf];
  }
  return token + "_" + std::to_string(peer.port());
}

// `text` as it is when every byte is printable and unambiguous, else quoted and escaped: a
// header's Unix path and a certificate's CN are the sender's bytes, and a log line stays one
// line.
std::string printable(const std::string& text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  return plain ? text : sys::quoted(text);
}

// What the proxy says of the client's TLS, for the log: " (TLS, client certificate CN
// \"alice\", verified)"; empty when the client did not use TLS.
std::string tls_note(const ProxySsl& ssl) {
  if (!ssl.client_ssl) {
    return {};
  }
  if (!ssl.client_cert_connection) {
    return " (TLS, no client certificate)";
  }
  const std::string subject =
      ssl.common_name.empty() ? "without a CN" : "CN " + sys::quoted(ssl.common_name);
  return " (TLS, client certificate " + subject +
         (ssl.verified ? ", verified)" : ", NOT verified)");
}

// Whether `a` and `b` are the same IP address and port (IPv4-mapped IPv6 as IPv4).
bool same_endpoint(const SocketAddress& a, const SocketAddress& b) {
  const SocketAddress left = a.unmapped();
  const SocketAddress right = b.unmapped();
  return left.family() == right.family() && !left.ip_bytes().empty() &&
         std::ranges::equal(left.ip_bytes(), right.ip_bytes()) && left.port() == right.port();
}

}  // namespace

PeerIdentity identify_proxied_peer(const ProxyHeader& header, const SocketAddress& proxy_address,
                                   const PeerIdentity& proxy) {
  PeerIdentity peer;
  // A header that names the proxy's own connection (a health check that fills in its own address)
  // is the proxy speaking for itself: its stream gets the proxy's identity and no file if empty.
  if (header.local || !header.source || same_endpoint(*header.source, proxy_address)) {
    peer = proxy;
    peer.via = " (the proxy's own connection)";
    peer.proxy_itself = true;
  } else if (header.source->family() == AF_UNIX) {
    peer.file_token = "unix-via-" + proxy.file_token;
    peer.display = printable(header.source->to_string());
    peer.key = "unix-via:" + proxy.key;
    peer.via = " via " + proxy.display;
  } else {
    peer = identify_peer(-1, *header.source);
    peer.via = " via " + proxy.display;
  }
  // A header that names no client has no client's certificate either: a LOCAL header's SSL
  // TLV is the sender's word about nobody, and must not lend an unknown stream an identity.
  if (header.ssl && !peer.proxy_itself) {
    peer.via += tls_note(*header.ssl);
    if (header.ssl->client_ssl && header.ssl->client_cert_connection) {
      // A CN is an identity only when the proxy checked the certificate it came from.
      if (header.ssl->verified) {
        peer.client_certificate = PeerIdentity::Certificate::kVerified;
        peer.client_cn = header.ssl->common_name;
      } else {
        peer.client_certificate = PeerIdentity::Certificate::kUnverified;
      }
    }
  }
  return peer;
}

PeerIdentity identify_peer(int fd, const SocketAddress& peer) {
  // IPv4-mapped addresses count as IPv4: a client reaching a dual-stack socket is the same peer,
  // for allow lists, per-peer limits and {peer}, as one reaching an IPv4 socket. The key leaves out
  // the port, so that the per-peer limit counts a host's connections, not each connection.
  SocketAddress plain = peer.unmapped();
  switch (plain.family()) {
    case AF_INET:
      return direct(plain.ip_string() + "_" + std::to_string(plain.port()), plain.to_string(),
                    plain.ip_string());
    case AF_INET6:
      return direct(ipv6_token(plain), plain.to_string(), plain.ip_string());
    case AF_UNIX:
      return identify_unix(fd);
    default:
      return direct("unknown", plain.to_string(), "unknown");
  }
}

}  // namespace zcrecv::net
