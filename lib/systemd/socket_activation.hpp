#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/listen_address.hpp"
#include "net/socket_address.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::systemd {

/// The first descriptor a service manager passes (SD_LISTEN_FDS_START).
inline constexpr int kFirstInheritedFd = 3;

/// A listening socket the service manager opened and passed on.
struct InheritedSocket {
  /// Its LISTEN_FDNAMES entry (systemd's FileDescriptorName=, `systemd-socket-activate
  /// --fdname`); "unknown" when the manager named none.
  std::string name;
  /// Listening, non-blocking, close-on-exec; bound by the manager and used as it is.
  sys::UniqueFd fd;
  /// What it is bound to (getsockname).
  net::SocketAddress local_address;
};

/// The listening stream sockets passed by socket activation (sd_listen_fds(3)): LISTEN_FDS
/// descriptors from fd 3 on, for the process LISTEN_PID, named by LISTEN_FDNAMES. Each
/// `[[listen]]` entry takes its socket with take(); an entry that finds none binds its own.
class SocketActivation {
 public:
  /// No inherited sockets.
  SocketActivation() = default;

  /// Takes the descriptors passed to this process and removes LISTEN_PID, LISTEN_FDS and
  /// LISTEN_FDNAMES from the environment, so that they are taken once. Call it once, before any
  /// thread starts (it changes the environment). No sockets when LISTEN_PID is unset or names
  /// another process. Each descriptor must be a listening TCP or Unix stream socket: errors name
  /// the variable or the descriptor.
  static sys::Result<SocketActivation> from_environment();

  [[nodiscard]] bool empty() const noexcept { return sockets_.empty(); }
  /// The sockets not taken yet, in descriptor order.
  [[nodiscard]] const std::vector<InheritedSocket>& sockets() const noexcept { return sockets_; }

  /// The socket for the `[[listen]]` entry called `name` at `address`, removed from this set:
  /// the one socket named `name`; among several of that name (one systemd socket unit names
  /// all its descriptors alike), the one bound to `address`; with none of that name, one bound
  /// to `address` whatever its name. std::nullopt when no socket matches: the entry binds its
  /// own. Several of that name and none at `address` is an Error.
  sys::Result<std::optional<InheritedSocket>> take(std::string_view name,
                                                   const net::ListenAddress& address);

 private:
  explicit SocketActivation(std::vector<InheritedSocket> sockets);

  std::vector<InheritedSocket> sockets_;
};

/// Whether a socket bound to `bound` is what `address` asks for: the same Unix path or abstract
/// name; for TCP the same port (not 0) and the same IP, or a wildcard address (0.0.0.0, ::) for
/// an address without a host. A host name never matches (it is resolved only when binding).
bool is_bound_to(const net::SocketAddress& bound, const net::ListenAddress& address);

}  // namespace zcrecv::systemd
