#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sys/result.hpp"

namespace zcrecv::net {

/// The longest Unix socket path, in bytes without the terminating NUL: sun_path holds 108 bytes
/// and a path needs its NUL. An abstract name starts after sun_path's leading NUL and needs no
/// terminator, so it has the same limit.
inline constexpr std::size_t kMaxUnixPathLength = 107;

/// Where a listener listens, as written by the operator (docs/design.md §9.1), before any name is
/// resolved or socket opened.
struct ListenAddress {
  enum class Kind { kTcp, kUnixPath, kUnixAbstract };

  Kind kind = Kind::kTcp;
  /// kTcp: an IPv4 literal, an IPv6 literal (without brackets) or a host name resolved when the
  /// listener opens; empty means every interface.
  std::string host;
  /// kTcp: the port; 0 asks the kernel for an ephemeral one.
  std::uint16_t port = 0;
  /// kUnixPath: the file system path (relative paths allowed). kUnixAbstract: the name, without
  /// the `@`.
  std::string path;

  /// The canonical form, which parses back to an equal address: ":9000", "127.0.0.1:9000",
  /// "[::1]:9000", "unix:/path", "unix:@name" (see unix_path_text for paths starting with '@').
  [[nodiscard]] std::string to_string() const;

  bool operator==(const ListenAddress&) const = default;
};

/// The text that parse_listen_address reads back as the Unix socket file `path`: "unix:PATH",
/// except for a path starting with '@', which "unix:" would make an abstract name. Such a path
/// is written bare when it contains '/' ("@run/x.sock"), else as "unix:./@NAME".
std::string unix_path_text(std::string_view path);

/// Parses a `--listen` / `[[listen]] address` value. Accepts `:PORT`, `HOST:PORT`,
/// `[IPV6]:PORT`, `unix:PATH`, any value containing `/` (a Unix path) and `unix:@NAME`. Anything
/// else is an Error::invalid of the form `listen address "TEXT": REASON`.
sys::Result<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace zcrecv::net
