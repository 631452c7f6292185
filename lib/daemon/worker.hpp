#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "daemon/connection_settings.hpp"
#include "daemon/listener_settings.hpp"
#include "daemon/log_limiter.hpp"
#include "daemon/shared_listener.hpp"
#include "daemon/shared_state.hpp"
#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "io/pipe.hpp"
#include "io/splice_pump.hpp"
#include "net/listener.hpp"
#include "net/peer_identity.hpp"
#include "net/proxy_header.hpp"
#include "stream/end_cause.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::daemon {

using EndCause = stream::EndCause;

class Acceptor;
class Connection;
class ProxyAdmission;

/// One event-loop thread of the daemon: its own EventLoop, pipe, read/write buffer and
/// SplicePump, the acceptors of every listener, and the connections it accepted, which stay on
/// it for their life.
///
/// Threads: the public "control" methods may be called from any thread; each posts a task that
/// takes effect on the worker thread. The other methods are for the worker's own acceptors and
/// connections, on the worker thread.
class Worker {
 public:
  /// Size of the read/write fallback buffer.
  static constexpr std::size_t kBufferSize = std::size_t{256} << 10;

  /// A worker with its loop, pipe and buffer, not started. `shared` must outlive it.
  static sys::Result<std::unique_ptr<Worker>> create(
      unsigned index, SharedState& shared, std::shared_ptr<const ConnectionSettings> settings);

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  /// Starts the thread. `on_exit` runs on it when the loop has stopped and the worker has let go
  /// of its connections and listeners, with the loop's result.
  void start(std::function<void(sys::Result<void>)> on_exit);
  /// Waits for the thread started by start().
  void join();

  // Control, from any thread.

  /// Starts accepting on `listener`, known as `id`, with `settings`.
  void add_listener(std::uint64_t id, std::shared_ptr<SharedListener> listener,
                    std::shared_ptr<const ListenerSettings> settings);
  /// Replaces the settings of listener `id` for the connections it accepts from now on.
  void update_listener(std::uint64_t id, std::shared_ptr<const ListenerSettings> settings);
  /// Stops accepting on listener `id`; its connections carry on.
  void remove_listener(std::uint64_t id);
  /// The settings for connections accepted from now on; `applied` runs on the worker thread once
  /// they are in force.
  void set_connection_settings(std::shared_ptr<const ConnectionSettings> settings,
                               std::function<void()> applied);
  /// Rotates every open file (SIGUSR1).
  void rotate_all();
  /// Graceful stop: take in the connections already queued, accept no more, let the
  /// connections end, cut those still open after `timeout`, then stop the thread.
  /// `listeners_released` runs on the worker thread once it has let go of every listener.
  void shut_down(std::chrono::nanoseconds timeout, std::function<void()> listeners_released);
  /// Cuts every connection now (a second stop signal); with shut_down, the thread then stops.
  void cut_all();

  // The worker thread's own.

  [[nodiscard]] unsigned index() const noexcept { return index_; }
  event::EventLoop& loop() noexcept { return *loop_; }
  io::SplicePump& pump() noexcept { return pump_; }
  metrics::Stats& stats() noexcept { return shared_.stats; }
  /// Where files become durable with sync = publish; null when the daemon has none.
  output::SyncStage* sync_stage() noexcept { return shared_.sync_stage; }
  /// Whether free space in `directory` is below `min_free_space` (0: never; std::nullopt: the
  /// automatic floor, config::min_free_space_for), as the daemon's SpaceMonitor last measured
  /// it (every SpaceMonitor::kInterval): no system call, cheap enough for every read.
  [[nodiscard]] static bool space_low(const output::OutputDirectory& directory,
                                      std::optional<std::uint64_t> min_free_space);
  /// A rate limit for this worker's disk-full log lines.
  LogLimiter& disk_full_log() noexcept { return disk_full_log_; }
  /// Takes in a connection an acceptor got: checks it against the listener's settings and the
  /// limits, then starts it — on a proxy_protocol listener, its ProxyAdmission — or closes it.
  void admit(net::AcceptedConnection accepted, const std::shared_ptr<SharedListener>& listener,
             const std::shared_ptr<const ListenerSettings>& settings);
  /// A ProxyAdmission's connection has sent its PROXY `header`, consumed from `socket`, which
  /// makes `client` its peer (net::identify_proxied_peer): checks the client (allow,
  /// max_connections_per_peer), then starts its Connection or closes it. `watched`: the socket
  /// is in the loop's set, under the handshake, for the Connection to take over.
  void proxied(sys::UniqueFd socket, net::PeerIdentity client, const net::ProxyHeader& header,
               SharedListener& listener, const ListenerSettings& settings, bool watched);
  /// A ProxyAdmission's connection ends without a stream: it no longer counts as open, and a
  /// `refusal` is counted as a rejection for `reason` and logged (rate-limited).
  void proxy_ended(SharedListener& listener, const ListenerSettings& settings,
                   const net::PeerIdentity& proxy, const std::optional<std::string>& refusal,
                   metrics::RejectReason reason = metrics::RejectReason::kProxy);
  /// Called by a ProxyAdmission whose handshake waited and is over: it is destroyed after the
  /// current batch of events.
  void handshake_finished(ProxyAdmission& admission);
  /// Called by a connection whose socket is closed: it no longer counts as open.
  void connection_closed(Connection& connection);
  /// Called by a connection that has published its last file: it is destroyed after the
  /// current batch of events.
  void connection_finished(Connection& connection);

 private:
  Worker(unsigned index, SharedState& shared, std::shared_ptr<const ConnectionSettings> settings,
         std::unique_ptr<event::EventLoop> loop, io::Pipe pipe);

  // Counts a refused connection under `reason` and logs `detail` (rate-limited); the caller
  // drops its socket.
  void reject(SharedListener& listener, const ListenerSettings& settings,
              const net::PeerIdentity& peer, metrics::RejectReason reason,
              const std::string& detail);
  // Checks `peer` against max_connections_per_peer, then starts its Connection on `socket`; the
  // connection counts as open already. `watched`: as for proxied().
  void start_connection(sys::UniqueFd socket, net::PeerIdentity peer, SharedListener& listener,
                        const ListenerSettings& settings, bool watched);
  // Closes the socket of a connection refused after its header; one still in the loop's set
  // leaves it.
  void drop(sys::UniqueFd socket, bool watched);
  void cut_connections(EndCause cause, const char* reason);
  // At the end of a rejection log window: the count of the lines it held back, for each
  // listener that held some back here.
  void summarise_rejections();
  void stop_if_drained();
  // Ends what is left when the loop stops (after a failure): the thread's last act.
  void tear_down();

  unsigned index_;
  SharedState& shared_;
  std::shared_ptr<const ConnectionSettings> settings_;
  std::unique_ptr<event::EventLoop> loop_;
  io::Pipe pipe_;
  std::vector<std::byte> buffer_;
  io::SplicePump pump_;
  LogLimiter disk_full_log_;
  event::Timer shutdown_timer_;
  bool draining_ = false;
  // Listeners whose rejection log held lines back on this worker, by name as logged; the timer
  // fires when the earliest window ends.
  std::map<SharedListener*, std::pair<std::weak_ptr<SharedListener>, std::string>>
      held_rejections_;
  event::Timer rejection_summary_;

  std::map<std::uint64_t, std::unique_ptr<Acceptor>> acceptors_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  // Connections of proxy_protocol listeners still waiting for their header.
  std::unordered_map<ProxyAdmission*, std::unique_ptr<ProxyAdmission>> handshakes_;
  std::thread thread_;
};

}  // namespace zcrecv::daemon
