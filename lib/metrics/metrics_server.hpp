#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "event/event_loop.hpp"
#include "net/accept_watch.hpp"
#include "net/listen_address.hpp"
#include "net/listener.hpp"
#include "sys/result.hpp"

namespace zcrecv::metrics {

/// How a MetricsServer treats its clients.
struct MetricsServerOptions {
  /// Clients served at once. When they are all there, a new connection takes the place of the
  /// oldest one that has not sent its whole request yet (closed), so that clients that connect
  /// and say nothing can hold the endpoint no longer than it takes a health checker to send
  /// its request; only when every one is being answered is the new connection closed.
  std::size_t max_connections = 64;
  /// The longest request head (request line and header fields) read. A client whose head is
  /// longer is answered 431 and closed, so an endless header costs this much memory, no more.
  std::size_t max_request_head = 8192;
  /// The time a client has from its connection to the last byte of the response: one that says
  /// nothing, trickles its request or does not read the response is cut then.
  std::chrono::milliseconds deadline{5000};
};

/// The metrics endpoint: a small HTTP/1.x responder on an EventLoop, for Prometheus scrapes and
/// load balancer health checks.
///
///     GET|HEAD /metrics  200, Content-Type text/plain; version=0.0.4, the body from `metrics`
///     GET|HEAD /health   200 "ok\n"; 503 "stopping\n" once set_stopping() was called, else
///                        503 "REASON\n" while the health function gives a REASON
///     other methods      405, Allow: GET, HEAD (on those two paths)
///     other paths        404
///     not HTTP/1.x       400; a head over max_request_head: 431
///
/// Query strings and header fields are ignored. Every response says `Connection: close`, and
/// the connection closes once it is written. There is no thread: the listener and every client
/// are non-blocking sockets in the loop's epoll set, a response that does not fit the socket
/// buffer waits for EPOLLOUT, and each client has a Timer for its deadline (cuts are logged at
/// debug level). Failing accepts pause it as net::AcceptWatch says, as for the daemon's
/// listeners.
///
/// Threads: the loop's thread only — creation, destruction, set_stopping() — or any thread
/// before run() starts and after it returns. `metrics` runs on the loop's thread, within a
/// request: it must read what other threads count (relaxed atomics, Histogram snapshots), never
/// wait for them.
class MetricsServer final {
 public:
  using BodyFunction = std::function<std::string()>;
  /// Why the host cannot take data now, as the 503 body of /health: a one-word reason, then
  /// perhaps a detail ("disk_full /var/lib/zcrecv: ..."); std::nullopt for 200 "ok". It runs on
  /// the loop's thread within a request: it reads a state, never measures one.
  using HealthFunction = std::function<std::optional<std::string>()>;

  /// Connections accepted per wake-up before the loop serves the others.
  static constexpr int kMaxAcceptsPerEvent = 16;

  /// Opens a listener on `address` (TCP or Unix; port 0 takes an ephemeral port, see
  /// listener().local_address()) and serves it on `loop`, which must outlive the server. Errors
  /// name the address: `listen on 127.0.0.1:80: bind: Permission denied`.
  static sys::Result<std::unique_ptr<MetricsServer>> open(event::EventLoop& loop,
                                                          const net::ListenAddress& address,
                                                          BodyFunction metrics,
                                                          const MetricsServerOptions& options = {});
  /// Serves a listener the caller opened (with ListenerOptions of its choice) or adopted from
  /// socket activation.
  static sys::Result<std::unique_ptr<MetricsServer>> serve(
      event::EventLoop& loop, net::Listener listener, BodyFunction metrics,
      const MetricsServerOptions& options = {});

  /// Stops listening (a Unix socket file it created is removed) and closes every client's
  /// connection at once: the way to move or remove the endpoint at a reload.
  ~MetricsServer();

  /// The listening socket: address() as configured, local_address() as bound.
  [[nodiscard]] const net::Listener& listener() const noexcept { return listener_; }

  /// /health answers 503 "stopping" from now on, so that load balancers take the daemon out
  /// while it drains its connections.
  void set_stopping() noexcept { stopping_ = true; }
  /// What /health asks before it answers 200 "ok" (while not stopping).
  void set_health(HealthFunction health) { health_ = std::move(health); }

 private:
  class Client;

  MetricsServer(event::EventLoop& loop, net::Listener listener, BodyFunction metrics,
                const MetricsServerOptions& options);

  void admit(net::AcceptedConnection connection);
  // The whole response (status line, header fields, body) to the request `head`.
  std::string answer(std::string_view head) const;
  // Forgets a client that has closed its socket; it is destroyed after the loop's batch, since
  // it may be inside its own handler or timer callback.
  void release(Client& client);
  // `client` has sent its whole request: it can no longer be evicted.
  void heard(const Client& client);

  event::EventLoop& loop_;
  net::Listener listener_;
  BodyFunction metrics_;
  MetricsServerOptions options_;
  // "metrics endpoint 127.0.0.1:9100", the start of every log line.
  std::string log_name_;
  net::AcceptWatch accept_;
  std::unordered_map<const Client*, std::unique_ptr<Client>> clients_;
  // The clients still waiting for their request, oldest first (by order of acceptance): the
  // ones a new connection may evict.
  std::map<std::uint64_t, Client*> silent_;
  std::uint64_t accepted_ = 0;
  bool stopping_ = false;
  HealthFunction health_;
};

}  // namespace zcrecv::metrics
