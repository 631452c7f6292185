#include "net/socket_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "net/listen_address.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::net {
namespace {

// sockaddr_storage is the one type that may be viewed as each family's sockaddr; the casts are
// the sockets API's own convention.
template <class T>
const T& view(const sockaddr_storage& storage) {
  return *reinterpret_cast<const T*>(&storage);
}
template <class T>
T& view(sockaddr_storage& storage) {
  return *reinterpret_cast<T*>(&storage);
}

constexpr socklen_t kUnixPathOffset = offsetof(sockaddr_un, sun_path);

using GetName = sys::Result<void> (*)(int, sockaddr*, socklen_t*);

sys::Result<SocketAddress> query(int fd, GetName get_name) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  auto done = get_name(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  if (!done) {
    return std::move(done).error();
  }
  return SocketAddress(reinterpret_cast<const sockaddr*>(&storage), length);
}

}  // namespace

SocketAddress::SocketAddress() noexcept : storage_{}, length_(0) { storage_.ss_family = AF_UNSPEC; }

// The length is capped: accept(2) and getpeername report an address's full length even when they
// had to truncate it, so a length may exceed what was copied.
SocketAddress::SocketAddress(const sockaddr* address, socklen_t length) noexcept
    : storage_{}, length_(std::min<socklen_t>(length, sizeof storage_)) {
  std::memcpy(&storage_, address, length_);
}

std::optional<SocketAddress> SocketAddress::from_ip(std::string_view ip, std::uint16_t port) {
  std::string text(ip);
  SocketAddress address;
  auto& v4 = view<sockaddr_in>(address.storage_);
  auto& v6 = view<sockaddr_in6>(address.storage_);
  if (::inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    address.length_ = sizeof v4;
    return address;
  }
  // inet_pton takes no zone index ("fe80::1%eth0") and no brackets: text with either is not taken
  // for an address here.
  if (::inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    address.length_ = sizeof v6;
    return address;
  }
  return std::nullopt;
}

SocketAddress SocketAddress::any(int family, std::uint16_t port) {
  SocketAddress address;
  if (family == AF_INET6) {
    auto& v6 = view<sockaddr_in6>(address.storage_);
    v6.sin6_family = AF_INET6;
    // With IPV6_V6ONLY off (bind_tcp), the IPv6 wildcard also takes IPv4 connections, as mapped
    // addresses: one socket serves both families.
    v6.sin6_addr = in6addr_any;
    v6.sin6_port = htons(port);
    address.length_ = sizeof v6;
  } else {
    auto& v4 = view<sockaddr_in>(address.storage_);
    v4.sin_family = AF_INET;
    v4.sin_addr.s_addr = htonl(INADDR_ANY);
    v4.sin_port = htons(port);
    address.length_ = sizeof v4;
  }
  return address;
}

SocketAddress SocketAddress::unix_path(std::string_view path) {
  SocketAddress address;
  auto& un = view<sockaddr_un>(address.storage_);
  un.sun_family = AF_UNIX;
  // One byte is kept for the terminator. Longer paths are refused where listen addresses are parsed
  // (they must fit in sun_path); this cut only keeps the copy inside the storage.
  std::size_t length = std::min(path.size(), sizeof un.sun_path - 1);
  std::memcpy(un.sun_path, path.data(), length);
  address.length_ = static_cast<socklen_t>(kUnixPathOffset + length + 1);  // with the NUL
  return address;
}

SocketAddress SocketAddress::unix_abstract(std::string_view name) {
  SocketAddress address;
  auto& un = view<sockaddr_un>(address.storage_);
  un.sun_family = AF_UNIX;
  // The name follows a leading NUL and is exactly as long as the address length says: no
  // terminator, and trailing NULs would be part of the name.
  std::size_t length = std::min(name.size(), sizeof un.sun_path - 1);
  std::memcpy(un.sun_path + 1, name.data(), length);
  address.length_ = static_cast<socklen_t>(kUnixPathOffset + 1 + length);
  return address;
}

sys::Result<SocketAddress> SocketAddress::local_of(int fd) { return query(fd, sys::getsockname); }

sys::Result<SocketAddress> SocketAddress::peer_of(int fd) { return query(fd, sys::getpeername); }

const sockaddr* SocketAddress::data() const noexcept {
  return reinterpret_cast<const sockaddr*>(&storage_);
}

std::uint16_t SocketAddress::port() const noexcept {
  switch (family()) {
    case AF_INET:
      return ntohs(view<sockaddr_in>(storage_).sin_port);
    case AF_INET6:
      return ntohs(view<sockaddr_in6>(storage_).sin6_port);
    default:
      return 0;
  }
}

bool SocketAddress::is_ipv4_mapped() const noexcept {
  return family() == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&view<sockaddr_in6>(storage_).sin6_addr);
}

SocketAddress SocketAddress::unmapped() const noexcept {
  if (!is_ipv4_mapped()) {
    return *this;
  }
  const auto& v6 = view<sockaddr_in6>(storage_);
  SocketAddress address;
  auto& v4 = view<sockaddr_in>(address.storage_);
  v4.sin_family = AF_INET;
  v4.sin_port = v6.sin6_port;
  // The IPv4 address is the last four bytes of ::ffff:a.b.c.d, already in network order.
  std::memcpy(&v4.sin_addr, v6.sin6_addr.s6_addr + 12, sizeof v4.sin_addr);
  address.length_ = sizeof v4;
  return address;
}

std::span<const std::uint8_t> SocketAddress::ip_bytes() const noexcept {
  switch (family()) {
    case AF_INET:
      return {reinterpret_cast<const std::uint8_t*>(&view<sockaddr_in>(storage_).sin_addr), 4};
    case AF_INET6:
      return view<sockaddr_in6>(storage_).sin6_addr.s6_addr;
    default:
      return {};
  }
}

bool SocketAddress::is_unspecified() const noexcept {
  switch (family()) {
    case AF_INET:
      return view<sockaddr_in>(storage_).sin_addr.s_addr == htonl(INADDR_ANY);
    case AF_INET6:
      return IN6_IS_ADDR_UNSPECIFIED(&view<sockaddr_in6>(storage_).sin6_addr);
    default:
      return false;
  }
}

std::string SocketAddress::ip_string() const {
  // Unmapped first: a client on the dual-stack socket shows as 10.0.0.1, not ::ffff:10.0.0.1, in
  // logs, per-peer keys and {peer}, the same as on an IPv4 socket.
  SocketAddress plain = unmapped();
  std::span<const std::uint8_t> bytes = plain.ip_bytes();
  if (bytes.empty()) {
    return {};
  }
  char buffer[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(plain.family(), bytes.data(), buffer, sizeof buffer);
  return buffer;
}

std::string SocketAddress::to_string() const {
  switch (family()) {
    case AF_INET:
      return ip_string() + ":" + std::to_string(port());
    case AF_INET6:
      if (is_ipv4_mapped()) {
        return unmapped().to_string();
      }
      return "[" + ip_string() + "]:" + std::to_string(port());
    case AF_UNIX: {
      // An unbound peer (a client that never called bind) has an address of the family alone.
      if (length_ <= kUnixPathOffset) {
        return "unix:(unnamed)";
      }
      const auto& un = view<sockaddr_un>(storage_);
      std::size_t length = length_ - kUnixPathOffset;
      if (un.sun_path[0] == '\0') {
        return "unix:@" + std::string(un.sun_path + 1, length - 1);
      }
      // The kernel may or may not count the path's NUL in the length (unix(7)).
      return unix_path_text(std::string_view(un.sun_path, ::strnlen(un.sun_path, length)));
    }
    case AF_UNSPEC:
      return "(no address)";
    default:
      return "(address family " + std::to_string(family()) + ")";
  }
}

}  // namespace zcrecv::net
