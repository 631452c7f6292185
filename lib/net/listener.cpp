#include "net/listener.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>

#include "sys/quoted.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::net {
namespace {

using sys::Error;
using sys::Result;
using sys::UniqueFd;

constexpr int kSocketFlags = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;

// A stream socket of `address`'s family, with the TCP options set, bound to `address`.
// `v6only` is IPV6_V6ONLY for IPv6 sockets.
Result<UniqueFd> bind_ip(const SocketAddress& address, const ListenerOptions& options,
                         bool v6only) {
  auto fd = sys::socket(address.family(), kSocketFlags, 0);
  if (!fd) {
    return std::move(fd).error();
  }
  // SO_REUSEADDR lets a restarted daemon bind while connections of its predecessor linger in
  // TIME_WAIT; it does not let two listeners share the port (that is SO_REUSEPORT).
  Result<void> set = sys::setsockopt_int(fd->get(), SOL_SOCKET, SO_REUSEADDR, 1);
  if (set && options.reuse_port) {
    set = sys::setsockopt_int(fd->get(), SOL_SOCKET, SO_REUSEPORT, 1);
  }
  if (set && address.family() == AF_INET6) {
    set = sys::setsockopt_int(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, v6only ? 1 : 0);
  }
  if (!set) {
    return std::move(set).error();
  }
  if (auto bound = sys::bind(fd->get(), address.data(), address.size()); !bound) {
    return std::move(bound).error();
  }
  return fd;
}

// Binds the first address `host` resolves to that accepts the bind.
Result<UniqueFd> bind_host_name(const std::string& host, std::uint16_t port,
                                const ListenerOptions& options) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc == EAI_SYSTEM) {
    return Error::from_errno(errno, "getaddrinfo " + sys::quoted(host));
  }
  if (rc != 0) {
    return Error::invalid("resolve " + sys::quoted(host) + ": " + ::gai_strerror(rc));
  }
  std::optional<Error> last_error;
  UniqueFd fd;
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    SocketAddress address(entry->ai_addr, entry->ai_addrlen);
    // v6only, as for an explicit IPv6 address (bind_tcp): a name means the address it resolves to,
    // never IPv4 traffic as well.
    auto bound = bind_ip(address, options, true);
    if (bound) {
      fd = std::move(*bound);
      break;
    }
    last_error = bound.error().with_context(address.to_string());
  }
  ::freeaddrinfo(found);
  if (!fd) {
    return last_error ? *last_error : Error::invalid("resolve " + sys::quoted(host) + ": no address");
  }
  return fd;
}

Result<UniqueFd> bind_tcp(const ListenAddress& address, const ListenerOptions& options) {
  if (address.host.empty()) {
    // Every interface: one IPv6 socket that also takes IPv4 (its peers appear as ::ffff:a.b.c.d),
    // or plain IPv4 on a kernel without IPv6 (booted with ipv6.disable=1).
    auto fd = bind_ip(SocketAddress::any(AF_INET6, address.port), options, false);
    if (!fd && fd.error().errno_value() == EAFNOSUPPORT) {
      return bind_ip(SocketAddress::any(AF_INET, address.port), options, false);
    }
    return fd;
  }
  if (auto ip = SocketAddress::from_ip(address.host, address.port)) {
    // An explicit IPv6 address means IPv6 only, whatever net.ipv6.bindv6only says, so that
    // "[::]:9000" and "0.0.0.0:9000" can be listened on side by side.
    return bind_ip(*ip, options, true);
  }
  return bind_host_name(address.host, address.port, options);
}

// Makes way for binding `path`: nothing there, or a socket file nobody answers on (left by a
// process that did not clean up), which is removed. Anything else is refused and left alone.
Result<void> clear_stale_socket(const std::string& path) {
  auto info = sys::fstatat(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW);
  if (!info) {
    if (info.error().errno_value() == ENOENT) {
      return {};
    }
    return info.error().with_context(sys::quoted(path));
  }
  if (!S_ISSOCK(info->st_mode)) {
    return Error::invalid(sys::quoted(path) + " exists and is not a socket (left in place)");
  }
  auto probe = sys::socket(AF_UNIX, kSocketFlags, 0);
  if (!probe) {
    return std::move(probe).error();
  }
  SocketAddress address = SocketAddress::unix_path(path);
  auto connected = sys::connect(probe->get(), address.data(), address.size());
  int err = connected ? 0 : connected.error().errno_value();
  switch (err) {
    case ECONNREFUSED:
      // No socket is bound to the file any more: it is stale.
      break;
    case 0:           // accepted into a listener's queue
    case EAGAIN:      // a listener whose queue is full (a non-blocking Unix connect says EAGAIN)
    case EPROTOTYPE:  // bound by a live socket of another type (datagram)
      return Error::invalid(sys::quoted(path) + " is already in use by a running process");
    default:
      return connected.error().with_context("checking whether " + sys::quoted(path) + " is in use");
  }
  if (auto removed = sys::unlinkat(AT_FDCWD, path.c_str(), 0); !removed) {
    return removed.error().with_context("removing stale socket " + sys::quoted(path));
  }
  return {};
}

Result<UniqueFd> bind_unix(const SocketAddress& address) {
  auto fd = sys::socket(AF_UNIX, kSocketFlags, 0);
  if (!fd) {
    return std::move(fd).error();
  }
  if (auto bound = sys::bind(fd->get(), address.data(), address.size()); !bound) {
    return std::move(bound).error();
  }
  return fd;
}

// A socket of the address's kind, bound to it.
Result<UniqueFd> bind_socket(const ListenAddress& address, const ListenerOptions& options) {
  switch (address.kind) {
    case ListenAddress::Kind::kTcp:
      return bind_tcp(address, options);
    case ListenAddress::Kind::kUnixPath:
      if (auto cleared = clear_stale_socket(address.path); !cleared) {
        return std::move(cleared).error();
      }
      return bind_unix(SocketAddress::unix_path(address.path));
    case ListenAddress::Kind::kUnixAbstract:
      return bind_unix(SocketAddress::unix_abstract(address.path));
  }
  return Error::invalid("unknown kind of listen address");
}

// chmod/chown go through the path: on Linux, fchmod/fchown on a socket descriptor change the
// socket's own inode in sockfs, not the file that bind created.
Result<void> set_permissions(const std::string& path, const ListenerOptions& options) {
  if (options.mode && ::chmod(path.c_str(), *options.mode) == -1) {
    return Error::from_errno(errno, "chmod");
  }
  if (options.owner || options.group) {
    auto owner = options.owner.value_or(static_cast<uid_t>(-1));  // -1: leave unchanged
    auto group = options.group.value_or(static_cast<gid_t>(-1));
    // lchown: if the path were replaced by a symlink meanwhile, the link would change owner, never
    // what it points to.
    if (::lchown(path.c_str(), owner, group) == -1) {
      return Error::from_errno(errno, "chown");
    }
  }
  return {};
}

// Errors accept(2) reports for the connection being accepted, not for the listener: Linux
// passes already-pending network errors on the new socket through accept, and the caller
// should go on to the next connection (accept(2), NOTES).
bool is_connection_error(int err) {
  switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

}  // namespace

Listener::Listener(UniqueFd fd, ListenAddress address)
    : fd_(std::move(fd)), address_(std::move(address)) {}

Listener::Listener(Listener&& other) noexcept
    : fd_(std::move(other.fd_)),
      address_(std::move(other.address_)),
      local_address_(other.local_address_),
      socket_file_(std::exchange(other.socket_file_, std::nullopt)) {}

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    remove_socket_file();
    fd_ = std::move(other.fd_);
    address_ = std::move(other.address_);
    local_address_ = other.local_address_;
    socket_file_ = std::exchange(other.socket_file_, std::nullopt);
  }
  return *this;
}

Listener::~Listener() { remove_socket_file(); }

Result<Listener> Listener::adopt(UniqueFd fd, const ListenAddress& address) {
  Listener listener(std::move(fd), address);
  auto local = SocketAddress::local_of(listener.fd());
  if (!local) {
    return local.error().with_context("inherited socket for " + address.to_string());
  }
  listener.local_address_ = *local;
  return listener;
}

Result<Listener> Listener::open(const ListenAddress& address, const ListenerOptions& options) {
  const std::string context = "listen on " + address.to_string();
  bool is_path = address.kind == ListenAddress::Kind::kUnixPath;
  if (!is_path && (options.mode || options.owner || options.group)) {
    return Error::invalid(context + ": mode, owner and group apply to Unix socket files only");
  }

  auto fd = bind_socket(address, options);
  if (!fd) {
    return fd.error().with_context(context);
  }
  Listener listener(std::move(*fd), address);

  if (is_path) {
    auto info = sys::fstatat(AT_FDCWD, address.path.c_str(), AT_SYMLINK_NOFOLLOW);
    if (!info) {
      return info.error().with_context(context);
    }
    // From here on the destructor removes the file if a later step fails.
    listener.socket_file_ = SocketFile{address.path, info->st_dev, info->st_ino};
    // Before listen(): until then a connect is refused, so no client gets in under the
    // permissions the umask gave.
    if (auto set = set_permissions(address.path, options); !set) {
      return set.error().with_context(context);
    }
  }
  // The backlog is capped by net.core.somaxconn without an error (listen(2)); connections beyond
  // the queue are dropped or refused by the kernel, which a sender sees as a slow or failed
  // connect.
  if (auto listening = sys::listen(listener.fd(), options.backlog); !listening) {
    return listening.error().with_context(context);
  }
  auto local = SocketAddress::local_of(listener.fd());
  if (!local) {
    return local.error().with_context(context);
  }
  listener.local_address_ = *local;
  return listener;
}

Result<std::optional<AcceptedConnection>> Listener::accept() {
  for (;;) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    auto* peer = reinterpret_cast<sockaddr*>(&storage);
    auto accepted = sys::accept4(fd_.get(), peer, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!accepted) {
      // That connection is gone; the next one in the queue is still there to accept.
      if (is_connection_error(accepted.error().errno_value())) {
        continue;
      }
      return accepted.error().with_context("accept on " + address_.to_string());
    }
    if (!accepted->has_value()) {
      return std::optional<AcceptedConnection>();
    }
    return std::optional<AcceptedConnection>(
        AcceptedConnection{std::move(**accepted), SocketAddress(peer, length)});
  }
}

void Listener::remove_socket_file() noexcept {
  if (!socket_file_) {
    return;
  }
  // Plain lstat/unlink rather than the sys wrappers: their errors allocate a message, and
  // nothing here may throw (this runs in the destructor); a failure is ignored either way. The
  // file stays, and the next start finds it stale.
  const SocketFile& file = *socket_file_;
  struct stat info {};
  // Only the file this listener created: the device and inode tell it from a socket another process
  // (a new daemon, started meanwhile) has bound at the same path.
  if (::lstat(file.path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode) &&
      info.st_dev == file.device && info.st_ino == file.inode) {
    ::unlink(file.path.c_str());
  }
  socket_file_.reset();
}

}  // namespace zcrecv::net
