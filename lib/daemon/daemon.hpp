#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "config/config.hpp"
#include "event/signal_fd.hpp"
#include "io/copy_mode.hpp"
#include "systemd/socket_activation.hpp"
#include "net/socket_address.hpp"
#include "output/sync_stage.hpp"
#include "sys/result.hpp"

namespace zcrecv::daemon {

/// Re-reads the configuration for SIGHUP (the file with the command-line overrides applied).
using ReloadFunction = std::function<sys::Result<config::Config>()>;

/// What the command line and the service manager add to the configuration.
struct DaemonOptions {
  /// `--copy-mode`.
  io::CopyMode copy_mode = io::CopyMode::kAuto;
  /// Listening sockets passed by socket activation. Each `[[listen]]` entry takes its own (by
  /// name, else by address) instead of binding; sockets no entry takes are served too, under
  /// a name derived from their address, and kept across reloads.
  systemd::SocketActivation inherited;
};

/// Ways for an embedding program (the tests) to follow the daemon.
struct DaemonHooks {
  /// Called on the daemon's thread once every listener is open, and again after each reload
  /// that succeeded, with the bound addresses (real ports for port 0) in configuration order.
  std::function<void(const std::vector<net::SocketAddress>&)> on_listening;
  /// The calls of the sync stage, to count them or hold one; std::nullopt: the system calls.
  std::optional<output::SyncCalls> sync_calls;
};

/// Runs the receiver of docs/design.md §10 until a stop signal: opens the output directory (after
/// publishing what a crash left), every listener, and `config.workers` worker threads, then
/// serves connections and reads `signals` on the calling thread (SIGTERM/SIGINT: graceful stop, a
/// second one cuts at once; SIGHUP: `reload`, which may be empty when there is no file;
/// SIGUSR1: rotate every file; SIGUSR2: log statistics). `signals` must already be blocked in
/// every thread. Logs through the spdlog default logger. Under a service manager
/// ($NOTIFY_SOCKET) it sends READY=1 once listening, RELOADING=1 and READY=1 around each
/// SIGHUP, STOPPING=1 at a stop, and WATCHDOG=1 pings when $WATCHDOG_USEC asks for them.
///
/// With [output] on_publish, each published file's hook runs on the calling thread's loop
/// (handoff::HookRunner); a stop gives running hooks shutdown_timeout, like the connections.
///
/// Returns the exit status: 0 after a graceful stop, 1 when the daemon could not start (a
/// listener that cannot be opened, an output directory that cannot be created) or a worker
/// failed, 2 when the configuration cannot work with what the daemon found at start (an
/// on_publish program that is gone, an output filesystem without user extended attributes).
int run_daemon(const config::Config& config, event::SignalFd& signals, ReloadFunction reload,
               DaemonOptions options = {}, const DaemonHooks& hooks = {});

}  // namespace zcrecv::daemon
