#include "systemd/notifier.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "net/listen_address.hpp"
#include "sys/quoted.hpp"
#include "sys/environment.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::systemd {
namespace {

using sys::Error;
using sys::Result;

// The watchdog interval sd_watchdog_enabled(3) asks for: half of WATCHDOG_USEC, so that a ping
// that runs late still arrives in time; nullopt when the pings are meant for another process
// (WATCHDOG_PID names it: we are a child of the main process).
Result<std::optional<std::chrono::microseconds>> watchdog_from_environment() {
  using Interval = std::optional<std::chrono::microseconds>;
  auto usec = sys::environment_variable("WATCHDOG_USEC");
  if (!usec) {
    return Interval();
  }
  auto microseconds = sys::parse_decimal<std::uint64_t>(*usec);
  // Below 2 µs half the period would be 0, a timer that never fires.
  if (!microseconds || *microseconds < 2) {
    return Error::invalid("WATCHDOG_USEC " + sys::quoted(*usec) +
                          ": expected a number of microseconds, at least 2");
  }
  if (auto pid_text = sys::environment_variable("WATCHDOG_PID")) {
    auto pid = sys::parse_decimal<pid_t>(*pid_text);
    if (!pid || *pid <= 0) {
      return Error::invalid("WATCHDOG_PID " + sys::quoted(*pid_text) + ": expected a process id");
    }
    if (*pid != ::getpid()) {
      return Interval();
    }
  }
  return Interval(std::chrono::microseconds(*microseconds / 2));
}

// Line breaks would end the STATUS= assignment and start another one.
std::string one_line(std::string_view text) {
  std::string line(text);
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return line;
}

}  // namespace

Notifier::Notifier(sys::UniqueFd fd, net::SocketAddress address, std::string socket)
    : fd_(std::move(fd)), address_(address), socket_(std::move(socket)) {}

Result<Notifier> Notifier::from_environment() {
  auto socket = sys::environment_variable("NOTIFY_SOCKET");
  if (!socket) {
    return Notifier();
  }
  auto notifier = open(*socket);
  if (!notifier) {
    return std::move(notifier).error();
  }
  auto interval = watchdog_from_environment();
  if (!interval) {
    return std::move(interval).error();
  }
  notifier->watchdog_interval_ = *interval;
  return notifier;
}

Result<Notifier> Notifier::open(std::string_view socket) {
  const std::string context = "NOTIFY_SOCKET " + sys::quoted(socket);
  bool abstract = socket.starts_with('@');
  std::string_view name = abstract ? socket.substr(1) : socket;
  // Newer managers also offer vsock:CID:PORT (systemd 254, for virtual machines); a service on
  // this host is always given a Unix socket.
  if (name.empty() || (!abstract && !socket.starts_with('/'))) {
    return Error::invalid(context + ": expected an absolute socket path or @name");
  }
  if (name.size() > net::kMaxUnixPathLength) {
    return Error::invalid(context + ": longer than " + std::to_string(net::kMaxUnixPathLength) +
                          " bytes");
  }
  // net::SocketAddress gives an abstract name the length of the name itself, not sizeof(sockaddr_un):
  // the padding NULs would be part of the name, and the datagram would go nowhere.
  net::SocketAddress address =
      abstract ? net::SocketAddress::unix_abstract(name) : net::SocketAddress::unix_path(name);
  // Non-blocking: a stalled manager must not stall the event loop; a full queue is an error.
  auto fd = sys::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (!fd) {
    return fd.error().with_context(context);
  }
  return Notifier(std::move(*fd), address, std::string(socket));
}

Result<void> Notifier::ready(std::string_view status) {
  if (status.empty()) {
    return send("READY=1");
  }
  return send("READY=1\nSTATUS=" + one_line(status));
}

Result<void> Notifier::reloading() {
  // The manager compares MONOTONIC_USEC with its own CLOCK_MONOTONIC reading, which is the clock
  // behind std::chrono::steady_clock on Linux.
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
  return send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(now.count()));
}

Result<void> Notifier::stopping(std::chrono::microseconds extend) {
  // EXTEND_TIMEOUT_USEC (sd_notify(3)) asks the manager for this much more time from now: a stop
  // that waits for connections, the sync stage and hooks must not be killed by TimeoutStopSec=
  // first.
  return send("STOPPING=1\nEXTEND_TIMEOUT_USEC=" + std::to_string(extend.count()));
}

Result<void> Notifier::status(std::string_view text) { return send("STATUS=" + one_line(text)); }

Result<void> Notifier::watchdog() { return send("WATCHDOG=1"); }

Result<void> Notifier::send(std::string_view assignments) {
  if (!enabled()) {
    return {};
  }
  auto bytes = std::as_bytes(std::span(assignments.data(), assignments.size()));
  // One datagram per notification, with the whole text: the manager reads each datagram as one
  // message, so the assignments in it are taken together.
  auto sent = sys::sendto(fd_.get(), bytes, MSG_NOSIGNAL, address_.data(), address_.size());
  if (sent && sent->has_value()) {
    return {};
  }
  std::string_view first = assignments.substr(0, assignments.find('\n'));
  std::string context =
      "notify " + std::string(first) + " to NOTIFY_SOCKET " + sys::quoted(socket_);
  if (!sent) {
    return sent.error().with_context(context);
  }
  // The manager's receive queue is full.
  return Error::from_errno(EAGAIN, context + ": sendto");
}

}  // namespace zcrecv::systemd
