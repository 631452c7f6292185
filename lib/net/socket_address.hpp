#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sys/result.hpp"

namespace zcrecv::net {

/// A socket address of any family (IPv4, IPv6, Unix), as the kernel hands it out from
/// getsockname/getpeername/accept and takes it in bind/connect.
class SocketAddress {
 public:
  /// An empty address (AF_UNSPEC).
  SocketAddress() noexcept;
  /// A copy of the first `length` bytes of `address` (at most sizeof(sockaddr_storage)).
  SocketAddress(const sockaddr* address, socklen_t length) noexcept;

  /// An IPv4 or IPv6 literal ("127.0.0.1", "::1", no brackets) and a port; nullopt if `ip` is
  /// neither.
  static std::optional<SocketAddress> from_ip(std::string_view ip, std::uint16_t port);
  /// The wildcard address of `family` (AF_INET: 0.0.0.0, AF_INET6: ::) with `port`.
  static SocketAddress any(int family, std::uint16_t port);
  /// A Unix socket path; the caller has checked that it fits sun_path.
  static SocketAddress unix_path(std::string_view path);
  /// A Linux abstract Unix socket name (without the leading NUL or `@`); checked by the caller.
  static SocketAddress unix_abstract(std::string_view name);
  /// getsockname(2): the address `fd` is bound to.
  static sys::Result<SocketAddress> local_of(int fd);
  /// getpeername(2): the address of `fd`'s peer.
  static sys::Result<SocketAddress> peer_of(int fd);

  [[nodiscard]] sa_family_t family() const noexcept { return storage_.ss_family; }
  /// For bind(2)/connect(2).
  [[nodiscard]] const sockaddr* data() const noexcept;
  [[nodiscard]] socklen_t size() const noexcept { return length_; }
  /// The port of an IPv4/IPv6 address; 0 for other families.
  [[nodiscard]] std::uint16_t port() const noexcept;

  /// True for IPv4 addresses written as IPv6 (::ffff:a.b.c.d), which a dual-stack listener
  /// reports for its IPv4 peers.
  [[nodiscard]] bool is_ipv4_mapped() const noexcept;
  /// The same address with an IPv4-mapped IPv6 address turned into plain IPv4 (same port);
  /// every other address unchanged.
  [[nodiscard]] SocketAddress unmapped() const noexcept;
  /// True for 0.0.0.0 and ::.
  [[nodiscard]] bool is_unspecified() const noexcept;

  /// The IP address's bytes in network order: 4 for IPv4, 16 for IPv6 (mapped or not), none
  /// for other families. Valid as long as this object.
  [[nodiscard]] std::span<const std::uint8_t> ip_bytes() const noexcept;
  /// The IP address alone, without port or brackets ("10.0.0.5", "::1"; IPv4-mapped addresses
  /// as IPv4); empty for non-IP families.
  [[nodiscard]] std::string ip_string() const;
  /// "127.0.0.1:9000", "[::1]:9000", "unix:/path", "unix:@name", "unix:(unnamed)"; IPv4-mapped
  /// addresses print as IPv4. A socket file's path is written as unix_path_text does, so the
  /// text parses back to the same socket.
  [[nodiscard]] std::string to_string() const;

 private:
  sockaddr_storage storage_;
  socklen_t length_;
};

}  // namespace zcrecv::net
