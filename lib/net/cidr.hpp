#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/socket_address.hpp"
#include "sys/result.hpp"

namespace zcrecv::net {

/// An IPv4 or IPv6 network for allow-lists: `10.0.0.0/8`, `2001:db8::/32`.
///
/// IPv4 and IPv6 are kept apart: an IPv4 network matches IPv4 peers (including the IPv4-mapped
/// ::ffff:a.b.c.d that a dual-stack listener reports), an IPv6 network matches IPv6 peers only,
/// so `::/0` does not let in IPv4. A network written in the mapped range (`::ffff:10.0.0.0/104`)
/// is taken as the IPv4 network it stands for.
class Cidr {
 public:
  /// `ADDRESS/PREFIX`, or a bare address (a single host: /32, /128). Host bits below the prefix
  /// are accepted and cleared (`10.1.2.3/8` is `10.0.0.0/8`). Errors are Error::invalid of the
  /// form `CIDR "TEXT": REASON`.
  static sys::Result<Cidr> parse(std::string_view text);

  /// Whether `peer`'s IP address lies in this network; never true for Unix peers.
  [[nodiscard]] bool contains(const SocketAddress& peer) const;
  /// AF_INET or AF_INET6.
  [[nodiscard]] int family() const noexcept { return family_; }
  [[nodiscard]] unsigned prefix_length() const noexcept { return prefix_length_; }
  /// The canonical form, host bits cleared: "10.0.0.0/8", "2001:db8::/32", "::1/128".
  [[nodiscard]] std::string to_string() const;

  bool operator==(const Cidr&) const = default;

 private:
  Cidr(int family, const std::uint8_t* address, unsigned prefix_length);

  int family_;
  /// The network address in network byte order; IPv4 uses the first 4 bytes.
  std::array<std::uint8_t, 16> bytes_{};
  unsigned prefix_length_;
};

}  // namespace zcrecv::net
