#include "systemd/socket_activation.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <utility>

#include "sys/quoted.hpp"
#include "sys/environment.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::systemd {
namespace {

using sys::Error;
using sys::Result;

// sd_listen_fds_with_names(3) calls a descriptor the manager did not name "unknown".
constexpr std::string_view kUnnamed = "unknown";

std::vector<std::string> split_names(std::string_view text) {
  std::vector<std::string> names;
  for (;;) {
    std::size_t colon = text.find(':');
    names.emplace_back(text.substr(0, colon));
    if (colon == std::string_view::npos) {
      return names;
    }
    text.remove_prefix(colon + 1);
  }
}

// Checks that `fd` is what a daemon with listeners can serve, and prepares it. Accept=yes hands
// over a connected socket instead, which only `zcrecv --stdin` can receive.
Result<InheritedSocket> adopt(int fd, std::string name) {
  const std::string context = "inherited fd " + std::to_string(fd) + " (" + sys::quoted(name) + ")";
  auto info = sys::fstat(fd);
  if (!info) {
    return info.error().with_context(context);
  }
  if (!S_ISSOCK(info->st_mode)) {
    return Error::invalid(context + ": not a socket");
  }
  // Checked rather than trusted: a unit file that passes a datagram socket or a FIFO
  // (ListenDatagram=, ListenFIFO=) must fail at start with a clear message, not at the first
  // accept.
  auto type = sys::getsockopt_int(fd, SOL_SOCKET, SO_TYPE);
  if (!type) {
    return type.error().with_context(context);
  }
  auto domain = sys::getsockopt_int(fd, SOL_SOCKET, SO_DOMAIN);
  if (!domain) {
    return domain.error().with_context(context);
  }
  if (*type != SOCK_STREAM || (*domain != AF_INET && *domain != AF_INET6 && *domain != AF_UNIX)) {
    return Error::invalid(context + ": not a TCP or Unix stream socket");
  }
  auto listening = sys::getsockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN);
  if (!listening) {
    return listening.error().with_context(context);
  }
  if (*listening == 0) {
    return Error::invalid(context +
                          ": not listening (a connection passed with Accept=yes is for "
                          "zcrecv --stdin)");
  }
  // From here on the descriptor is ours, and closed if a later step fails.
  InheritedSocket socket{std::move(name), sys::UniqueFd(fd), net::SocketAddress()};
  // Non-blocking like a socket we open ourselves: the workers' accept loops rely on EAGAIN, and an
  // inherited socket may come blocking.
  Result<void> prepared = sys::set_nonblocking(fd, true);
  if (prepared) {
    // The manager cleared FD_CLOEXEC to pass the descriptor across its execve; nothing we run
    // should inherit it in turn.
    prepared = sys::set_close_on_exec(fd);
  }
  if (!prepared) {
    return prepared.error().with_context(context);
  }
  auto local = net::SocketAddress::local_of(fd);
  if (!local) {
    return local.error().with_context(context);
  }
  socket.local_address = *local;
  return socket;
}

}  // namespace

SocketActivation::SocketActivation(std::vector<InheritedSocket> sockets)
    : sockets_(std::move(sockets)) {}

Result<SocketActivation> SocketActivation::from_environment() {
  auto pid_text = sys::environment_variable("LISTEN_PID");
  auto count_text = sys::environment_variable("LISTEN_FDS");
  auto names_text = sys::environment_variable("LISTEN_FDNAMES");
  // Copies: unsetenv invalidates what getenv returned.
  std::optional<std::string> pid_value(pid_text);
  std::optional<std::string> count_value(count_text);
  std::optional<std::string> names_value(names_text);
  // Unset at once, as sd_listen_fds(3) does with its unset_environment flag: hooks and other
  // children must not take these descriptors, by those numbers, for their own.
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");

  if (!pid_value || !count_value) {
    return SocketActivation();
  }
  auto pid = sys::parse_decimal<pid_t>(*pid_value);
  if (!pid || *pid <= 0) {
    return Error::invalid("LISTEN_PID " + sys::quoted(*pid_value) + ": expected a process id");
  }
  // Variables left for another process: our parent was socket-activated, not us.
  if (*pid != ::getpid()) {
    return SocketActivation();
  }
  auto count = sys::parse_decimal<int>(*count_value);
  if (!count || *count < 0 || *count > INT_MAX - kFirstInheritedFd) {
    return Error::invalid("LISTEN_FDS " + sys::quoted(*count_value) +
                          ": expected a number of descriptors");
  }
  std::vector<std::string> names(static_cast<std::size_t>(*count), std::string(kUnnamed));
  if (names_value) {
    names = split_names(*names_value);
    if (names.size() != static_cast<std::size_t>(*count)) {
      return Error::invalid("LISTEN_FDNAMES " + sys::quoted(*names_value) + ": " +
                            std::to_string(names.size()) +
                            " names for LISTEN_FDS=" + std::to_string(*count) + " descriptors");
    }
  }

  std::vector<InheritedSocket> sockets;
  sockets.reserve(names.size());
  for (int i = 0; i < *count; ++i) {
    auto socket = adopt(kFirstInheritedFd + i, std::move(names[static_cast<std::size_t>(i)]));
    if (!socket) {
      return std::move(socket).error();
    }
    sockets.push_back(std::move(*socket));
  }
  return SocketActivation(std::move(sockets));
}

Result<std::optional<InheritedSocket>> SocketActivation::take(std::string_view name,
                                                              const net::ListenAddress& address) {
  auto named = [&](const InheritedSocket& socket) { return socket.name == name; };
  auto bound = [&](const InheritedSocket& socket) {
    return is_bound_to(socket.local_address, address);
  };
  auto found = sockets_.end();
  auto same_name = std::count_if(sockets_.begin(), sockets_.end(), named);
  // A unique name decides (FileDescriptorName= in the socket unit). Without one, or with several,
  // the bound address tells the sockets apart, so a unit that names nothing still works.
  if (same_name == 1) {
    found = std::find_if(sockets_.begin(), sockets_.end(), named);
  } else {
    found = std::find_if(sockets_.begin(), sockets_.end(), [&](const InheritedSocket& socket) {
      return (same_name == 0 || named(socket)) && bound(socket);
    });
    if (found == sockets_.end() && same_name > 1) {
      return Error::invalid(std::to_string(same_name) + " inherited sockets are named " +
                            sys::quoted(name) + " and none is bound to " + address.to_string());
    }
  }
  if (found == sockets_.end()) {
    return std::optional<InheritedSocket>();
  }
  std::optional<InheritedSocket> taken(std::move(*found));
  sockets_.erase(found);
  return taken;
}

bool is_bound_to(const net::SocketAddress& bound, const net::ListenAddress& address) {
  switch (address.kind) {
    case net::ListenAddress::Kind::kUnixPath:
      return bound.family() == AF_UNIX &&
             bound.to_string() == net::SocketAddress::unix_path(address.path).to_string();
    case net::ListenAddress::Kind::kUnixAbstract:
      return bound.family() == AF_UNIX &&
             bound.to_string() == net::SocketAddress::unix_abstract(address.path).to_string();
    case net::ListenAddress::Kind::kTcp: {
      if (bound.family() == AF_UNIX || address.port == 0 || bound.port() != address.port) {
        return false;
      }
      if (address.host.empty()) {
        return bound.is_unspecified();
      }
      auto ip = net::SocketAddress::from_ip(address.host, address.port);
      // Compared unmapped: a socket bound to ::ffff:127.0.0.1 is the configured 127.0.0.1.
      return ip && ip->unmapped().to_string() == bound.unmapped().to_string();
    }
  }
  return false;
}

}  // namespace zcrecv::systemd
