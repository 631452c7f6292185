#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "net/listen_address.hpp"
#include "net/socket_address.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::net {

/// How a Listener opens its socket.
struct ListenerOptions {
  /// listen(2) backlog; the kernel caps it at net.core.somaxconn.
  int backlog = 4096;
  /// TCP: set SO_REUSEPORT, so that several sockets (one per worker) can share the port.
  bool reuse_port = false;
  /// Unix path sockets only: the socket file's permissions, owner and group, applied after
  /// bind and before listen. Setting them on another kind of address is an error.
  std::optional<mode_t> mode;
  std::optional<uid_t> owner;
  std::optional<gid_t> group;
};

/// A connection taken from a listener's queue.
struct AcceptedConnection {
  /// Non-blocking, close-on-exec.
  sys::UniqueFd fd;
  SocketAddress peer;
};

/// A listening, non-blocking stream socket (TCP or Unix). Move-only. A Unix socket file it
/// created is removed when it is destroyed, unless the file has been replaced since.
class Listener {
 public:
  /// Opens, binds and listens. `:PORT` listens on every interface, dual-stack where IPv6
  /// exists; a host name is resolved here. A stale Unix socket file (nothing answers on it) is
  /// replaced; a live one, or a file that is not a socket, is an error and stays untouched.
  /// Errors name the address: `listen on 127.0.0.1:80: bind: Permission denied`.
  static sys::Result<Listener> open(const ListenAddress& address,
                                    const ListenerOptions& options = {});

  /// Serves a listening socket someone else opened (socket activation) as it is: nothing is
  /// bound or set, and no socket file is removed when it closes (it belongs to its creator).
  static sys::Result<Listener> adopt(sys::UniqueFd fd, const ListenAddress& address);
  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  /// The address this listener was opened from (port 0 stays 0).
  [[nodiscard]] const ListenAddress& address() const noexcept { return address_; }
  /// The address the socket is bound to (getsockname): the real port when 0 was asked for.
  [[nodiscard]] const SocketAddress& local_address() const noexcept { return local_address_; }

  /// accept4(2) with SOCK_NONBLOCK|SOCK_CLOEXEC; std::nullopt when no connection is waiting.
  sys::Result<std::optional<AcceptedConnection>> accept();

 private:
  // The socket file a Unix path listener bound, identified by inode so that a file put in its
  // place later is never removed.
  struct SocketFile {
    std::string path;
    dev_t device;
    ino_t inode;
  };

  Listener(sys::UniqueFd fd, ListenAddress address);
  void remove_socket_file() noexcept;

  sys::UniqueFd fd_;
  ListenAddress address_;
  SocketAddress local_address_;
  std::optional<SocketFile> socket_file_;
};

}  // namespace zcrecv::net
