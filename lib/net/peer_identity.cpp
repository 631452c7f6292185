#include "net/peer_identity.hpp"

#include "sys/syscalls.hpp"

namespace zcrecv::net {
namespace {

PeerIdentity identify_unix(int fd) {
  auto credentials = sys::get_peer_credentials(fd);
  if (!credentials) {
    return {"unix-unknown", "unix (credentials unknown)", "uid:unknown", std::nullopt};
  }
  std::string uid = std::to_string(credentials->uid);
  std::string pid = std::to_string(credentials->pid);
  return {"unix-uid" + uid + "-pid" + pid, "unix uid=" + uid + " pid=" + pid, "uid:" + uid,
          *credentials};
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

}  // namespace

PeerIdentity identify_peer(int fd, const SocketAddress& peer) {
  SocketAddress plain = peer.unmapped();
  switch (plain.family()) {
    case AF_INET:
      return {plain.ip_string() + "_" + std::to_string(plain.port()), plain.to_string(),
              plain.ip_string(), std::nullopt};
    case AF_INET6:
      return {ipv6_token(plain), plain.to_string(), plain.ip_string(), std::nullopt};
    case AF_UNIX:
      return identify_unix(fd);
    default:
      return {"unknown", plain.to_string(), "unknown", std::nullopt};
  }
}

}  // namespace zcrecv::net
