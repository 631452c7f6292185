#pragma once

#include <memory>

#include "daemon/listener_settings.hpp"
#include "daemon/shared_listener.hpp"
#include "net/accept_watch.hpp"
#include "sys/result.hpp"

namespace zcrecv::daemon {

class Worker;

/// One worker's watch on a shared listening socket: accepts the connections the kernel wakes
/// this worker for (EPOLLEXCLUSIVE: every worker watches the same socket, and a connection
/// wakes one of them, not all) and hands them to the worker, with the settings of the moment.
/// Failing accepts pause it as net::AcceptWatch says.
class Acceptor final {
 public:
  /// Connections taken per wake-up before the loop serves the others.
  static constexpr int kMaxAcceptsPerEvent = 64;

  Acceptor(Worker& worker, std::shared_ptr<SharedListener> listener,
           std::shared_ptr<const ListenerSettings> settings);

  /// Starts watching the socket; the destructor stops.
  sys::Result<void> start() { return watch_.start(); }
  /// Accepts every connection already queued on the socket: a stopping daemon serves them
  /// rather than let the close of the socket reset them.
  void accept_queued() { watch_.accept_queued(); }
  /// For connections accepted from now on.
  void set_settings(std::shared_ptr<const ListenerSettings> settings);

 private:
  Worker& worker_;
  std::shared_ptr<SharedListener> listener_;
  std::shared_ptr<const ListenerSettings> settings_;
  net::AcceptWatch watch_;
};

}  // namespace zcrecv::daemon
