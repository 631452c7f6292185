#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "net/socket_address.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::systemd {

/// The service manager's notification protocol (sd_notify(3)) without libsystemd: one datagram
/// of newline-separated `VARIABLE=VALUE` assignments per message, sent to the Unix datagram
/// socket that $NOTIFY_SOCKET names. A disabled Notifier (no $NOTIFY_SOCKET: not started by a
/// service manager) accepts every message and sends nothing. Move-only; one thread at a time.
class Notifier {
 public:
  /// Disabled.
  Notifier() = default;

  /// From the environment the service manager set: $NOTIFY_SOCKET (unset: disabled) and, for the
  /// watchdog, $WATCHDOG_USEC and $WATCHDOG_PID. A value that cannot be used is an Error that
  /// names the variable and the value.
  static sys::Result<Notifier> from_environment();
  /// Sends to `socket`, written as in $NOTIFY_SOCKET: an absolute path, or `@name` for an
  /// abstract socket. No watchdog.
  static sys::Result<Notifier> open(std::string_view socket);

  /// Whether messages go anywhere.
  [[nodiscard]] bool enabled() const noexcept { return fd_.valid(); }
  /// How often to send WATCHDOG=1: half of $WATCHDOG_USEC, when the manager asked this process
  /// ($WATCHDOG_PID unset or ours) for watchdog pings and messages can be sent; else nullopt.
  [[nodiscard]] std::optional<std::chrono::microseconds> watchdog_interval() const noexcept {
    return watchdog_interval_;
  }

  /// READY=1: start-up (every listener open), or a reload, is complete. A non-empty `status`
  /// goes in the same datagram as STATUS=.
  sys::Result<void> ready(std::string_view status = {});
  /// RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC now), at the start of a reload; ready()
  /// when it is done, whether the new configuration was applied or refused.
  sys::Result<void> reloading();
  /// STOPPING=1 with EXTEND_TIMEOUT_USEC=`extend`: a graceful stop started and may take up to
  /// `extend` from now.
  sys::Result<void> stopping(std::chrono::microseconds extend);
  /// STATUS=`text`, shown by `systemctl status`; line breaks become spaces.
  sys::Result<void> status(std::string_view text);
  /// WATCHDOG=1: the main loop is alive.
  sys::Result<void> watchdog();
  /// Sends `assignments` ("READY=1\nSTATUS=...") as one datagram.
  sys::Result<void> send(std::string_view assignments);

 private:
  Notifier(sys::UniqueFd fd, net::SocketAddress address, std::string socket);

  sys::UniqueFd fd_;
  net::SocketAddress address_;
  // As written in $NOTIFY_SOCKET, for error messages.
  std::string socket_;
  std::optional<std::chrono::microseconds> watchdog_interval_;
};

}  // namespace zcrecv::systemd
