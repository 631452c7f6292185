#include "daemon/worker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>
#include <utility>

#include "daemon/acceptor.hpp"
#include "daemon/connection.hpp"
#include "daemon/proxy_admission.hpp"
#include "log/event.hpp"
#include "net/peer_identity.hpp"

namespace zcrecv::daemon {

sys::Result<std::unique_ptr<Worker>> Worker::create(
    unsigned index, SharedState& shared, std::shared_ptr<const ConnectionSettings> settings) {
  auto loop = event::EventLoop::create();
  if (!loop) {
    return std::move(loop).error().with_context("worker " + std::to_string(index));
  }
  // One pipe per worker, not per connection: splice needs a pipe between socket and file, and the
  // pipe is empty again after every pump, so all the worker's connections can share it.
  auto pipe = io::Pipe::create();
  if (!pipe) {
    return std::move(pipe).error().with_context("worker " + std::to_string(index));
  }
  return std::unique_ptr<Worker>(
      new Worker(index, shared, std::move(settings), std::move(*loop), std::move(*pipe)));
}

Worker::Worker(unsigned index, SharedState& shared,
               std::shared_ptr<const ConnectionSettings> settings,
               std::unique_ptr<event::EventLoop> loop, io::Pipe pipe)
    : index_(index),
      shared_(shared),
      settings_(std::move(settings)),
      loop_(std::move(loop)),
      pipe_(std::move(pipe)),
      buffer_(kBufferSize),
      pump_(pipe_, buffer_),
      shutdown_timer_(*loop_, [this] { cut_connections(EndCause::kShutdown, "shutdown_timeout passed"); }),
      rejection_summary_(*loop_, [this] { summarise_rejections(); }) {}

Worker::~Worker() {
  // Normally empty by now (tear_down ran on the thread); a worker never started lets go here.
  handshakes_.clear();
  connections_.clear();
  acceptors_.clear();
}

void Worker::start(std::function<void(sys::Result<void>)> on_exit) {
  // A thread the system cannot give (EAGAIN past RLIMIT_NPROC) ends this worker at once, as an
  // error of its loop would: the daemon stops and exits with status 1, and no exception crosses
  // its loop.
  auto run = [this, on_exit] {
    sys::Result<void> result = loop_->run();
    tear_down();
    on_exit(std::move(result));
  };
  try {
    thread_ = std::thread(std::move(run));
  } catch (const std::system_error& error) {
    on_exit(sys::Error::from_errno(error.code().value(), "starting the worker's thread"));
  }
}

void Worker::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Worker::add_listener(std::uint64_t id, std::shared_ptr<SharedListener> listener,
                          std::shared_ptr<const ListenerSettings> settings) {
  loop_->post([this, id, listener = std::move(listener), settings = std::move(settings)] {
    // A listener added after shut_down began would keep the worker from ever draining.
    if (draining_) {
      return;
    }
    auto acceptor = std::make_unique<Acceptor>(*this, listener, settings);
    if (auto started = acceptor->start(); !started) {
      spdlog::error("worker {}: {}", index_, started.error().message());
      return;
    }
    acceptors_[id] = std::move(acceptor);
  });
}

void Worker::update_listener(std::uint64_t id, std::shared_ptr<const ListenerSettings> settings) {
  loop_->post([this, id, settings = std::move(settings)] {
    if (auto found = acceptors_.find(id); found != acceptors_.end()) {
      found->second->set_settings(settings);
    }
  });
}

void Worker::remove_listener(std::uint64_t id) {
  loop_->post([this, id] { acceptors_.erase(id); });
}

void Worker::set_connection_settings(std::shared_ptr<const ConnectionSettings> settings,
                                     std::function<void()> applied) {
  loop_->post([this, settings = std::move(settings), applied = std::move(applied)] {
    // Only connections admitted from now on see the new settings (§4.2); open ones keep theirs.
    settings_ = settings;
    applied();
  });
}

void Worker::rotate_all() {
  loop_->post([this] {
    for (auto& [raw, connection] : connections_) {
      connection->rotate_now();
    }
  });
}

void Worker::shut_down(std::chrono::nanoseconds timeout, std::function<void()> listeners_released) {
  loop_->post([this, timeout, listeners_released = std::move(listeners_released)] {
    // Take what is already queued before letting go of the listeners: a connection the kernel
    // completed would otherwise be reset when the last listening descriptor closes.
    draining_ = true;
    for (auto& [id, acceptor] : acceptors_) {
      acceptor->accept_queued();
    }
    acceptors_.clear();
    // The daemon counts these calls and logs that the listeners are closed once every worker's
    // has come.
    listeners_released();
    shutdown_timer_.arm(timeout);
    stop_if_drained();
  });
}

void Worker::cut_all() {
  loop_->post([this] { cut_connections(EndCause::kShutdown, "cut by a second stop signal"); });
}

bool Worker::space_low(const output::OutputDirectory& directory,
                       std::optional<std::uint64_t> min_free_space) {
  const std::optional<output::FilesystemSpace> space = directory.last_space();
  // A filesystem that cannot say how full it is is not treated as full: the writes will tell.
  if (!space) {
    return false;
  }
  return space->free_bytes < config::min_free_space_for(min_free_space, space->size_bytes);
}

void Worker::admit(net::AcceptedConnection accepted,
                   const std::shared_ptr<SharedListener>& listener,
                   const std::shared_ptr<const ListenerSettings>& settings) {
  // Cheapest checks first, before any file or handshake exists: a refused peer costs one accept
  // and one close.
  net::PeerIdentity peer = net::identify_peer(accepted.fd.get(), accepted.peer);
  if (auto refusal = settings->refusal(accepted.peer, peer)) {
    reject(*listener, *settings, peer, metrics::RejectReason::kAllow, *refusal);
    return;
  }
  metrics::Stats& stats = shared_.stats;
  // On a PROXY listener the peer must be a trusted proxy; the client's own allow list waits for
  // the header (§4.3).
  if (auto refusal = settings->proxy_refusal(accepted.peer)) {
    stats.proxy_header_not_allowed.fetch_add(1, std::memory_order_relaxed);
    reject(*listener, *settings, peer, metrics::RejectReason::kProxy, *refusal);
    return;
  }
  // Incremented first and given back on refusal: with a relaxed fetch_add the limit holds across
  // workers without a lock (§4.2).
  const std::uint32_t max_connections = settings_->limits.max_connections;
  if (stats.connections_open.fetch_add(1, std::memory_order_relaxed) >= max_connections) {
    stats.connections_open.fetch_sub(1, std::memory_order_relaxed);
    reject(*listener, *settings, peer, metrics::RejectReason::kMaxConnections,
           "max_connections (" + std::to_string(max_connections) + ") reached");
    return;
  }
  if (!settings->proxy_protocol) {
    start_connection(std::move(accepted.fd), std::move(peer), *listener, *settings, false);
    return;
  }
  auto admission = std::make_unique<ProxyAdmission>(*this, std::move(accepted.fd), accepted.peer,
                                                    std::move(peer), listener, settings);
  // The header, often with the whole of a short stream, may be there by the time the
  // connection is accepted: read it now, and wait in the loop only for what has not come.
  if (admission->handshake().advance()) {
    return;
  }
  ProxyAdmission& waiting = *admission;
  handshakes_.emplace(&waiting, std::move(admission));
  if (auto watched = waiting.handshake().wait(); !watched) {
    waiting.handshake().cut(watched.error().message());
  }
}

void Worker::proxied(sys::UniqueFd socket, net::PeerIdentity client, const net::ProxyHeader& header,
                     SharedListener& listener, const ListenerSettings& settings, bool watched) {
  // The proxy's own connection (a health check) names no client to check against `allow`.
  if (auto refusal = settings.client_refusal(client.proxy_itself ? std::nullopt : header.source)) {
    shared_.stats.connections_open.fetch_sub(1, std::memory_order_relaxed);
    reject(listener, settings, client, metrics::RejectReason::kAllow, *refusal);
    drop(std::move(socket), watched);
    return;
  }
  start_connection(std::move(socket), std::move(client), listener, settings, watched);
}

void Worker::proxy_ended(SharedListener& listener, const ListenerSettings& settings,
                         const net::PeerIdentity& proxy, const std::optional<std::string>& refusal,
                         metrics::RejectReason reason) {
  shared_.stats.connections_open.fetch_sub(1, std::memory_order_relaxed);
  if (refusal) {
    reject(listener, settings, proxy, reason, *refusal);
  }
}

void Worker::handshake_finished(ProxyAdmission& admission) {
  // The handshake may be inside its own handler or timer callback: it goes after the batch.
  loop_->defer([this, &admission] {
    handshakes_.erase(&admission);
    stop_if_drained();
  });
}

void Worker::start_connection(sys::UniqueFd socket, net::PeerIdentity peer,
                              SharedListener& listener, const ListenerSettings& settings,
                              bool watched) {
  // Per peer only now: behind a proxy the peer is known only once the header has named it.
  const std::uint32_t per_peer = settings_->limits.max_connections_per_peer;
  if (!shared_.peers.acquire(peer.key, per_peer)) {
    shared_.stats.connections_open.fetch_sub(1, std::memory_order_relaxed);
    reject(listener, settings, peer, metrics::RejectReason::kPerPeer,
           "max_connections_per_peer (" + std::to_string(per_peer) + ") reached");
    drop(std::move(socket), watched);
    return;
  }
  settings.stats->accepted.fetch_add(1, std::memory_order_relaxed);
  settings.stats->open.fetch_add(1, std::memory_order_relaxed);
  auto connection =
      std::make_unique<Connection>(*this, settings_, settings.stats, settings.receipt,
                                   std::move(socket), std::move(peer), shared_.ids.next());
  Connection& added = *connection;
  connections_.emplace(&added, std::move(connection));
  if (auto started = added.start(watched); !started) {
    added.cut(EndCause::kError, started.error().message());
  }
}

void Worker::drop(sys::UniqueFd socket, bool watched) {
  // A socket the handshake watched leaves the epoll set through the loop, so its registration
  // ends with it; one the loop never saw closes with `socket` going out of scope.
  if (watched) {
    (void)loop_->close(std::move(socket));
  }
}

void Worker::reject(SharedListener& listener, const ListenerSettings& settings,
                    const net::PeerIdentity& peer, metrics::RejectReason reason,
                    const std::string& detail) {
  settings.stats->rejections(reason).fetch_add(1, std::memory_order_relaxed);
  if (auto suppressed = listener.rejections.admit(loop_->now())) {
    const std::string described = peer.described();
    log::event(spdlog::level::warn, "connection_refused",
               {{"listener", settings.name},
                {"peer", described},
                {"reason", to_string(reason)},
                {"error", detail},
                {"suppressed", *suppressed}},
               fmt::format("listener {}: rejected {}: {} ({} similar lines suppressed)",
                           settings.name, described, detail, *suppressed));
    return;
  }
  // Held back: counted in the log when the window ends, even if no later rejection comes to
  // carry the count.
  held_rejections_.insert_or_assign(&listener,
                                    std::pair(listener.weak_from_this(), settings.name));
  const auto window_end = listener.rejections.window_end();
  if (!rejection_summary_.armed() || window_end < rejection_summary_.deadline()) {
    rejection_summary_.arm_at(window_end);
  }
}

void Worker::summarise_rejections() {
  const auto now = loop_->now();
  std::optional<event::EventLoop::Clock::time_point> next;
  for (auto it = held_rejections_.begin(); it != held_rejections_.end();) {
    const std::shared_ptr<SharedListener> listener = it->second.first.lock();
    if (listener) {
      if (auto held = listener->rejections.flush(now)) {
        spdlog::warn("listener {}: {} more connections rejected (at most one line a second)",
                     it->second.second, *held);
      } else if (const auto end = listener->rejections.window_end(); now < end) {
        // A line let through since (on any worker) opened a new window; its count comes later.
        next = next ? std::min(*next, end) : end;
        ++it;
        continue;
      }
    }
    // Summarised here, or by another worker or a later line already, or the listener is gone.
    it = held_rejections_.erase(it);
  }
  if (next) {
    rejection_summary_.arm_at(*next);
  }
}

void Worker::connection_closed(Connection& connection) {
  // The three counts taken in admit and start_connection, given back once the socket is closed
  // (not when the connection is destroyed, which may wait for its files to be durable).
  shared_.peers.release(connection.peer().key);
  shared_.stats.connections_open.fetch_sub(1, std::memory_order_relaxed);
  connection.listener().open.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::connection_finished(Connection& connection) {
  // The connection may be inside its own handler or timer callback: it goes after the batch.
  loop_->defer([this, &connection] {
    connections_.erase(&connection);
    stop_if_drained();
  });
}

void Worker::cut_connections(EndCause cause, const char* reason) {
  // Ending a connection or a handshake defers its erasure, so the maps do not change under
  // these loops.
  for (auto& [raw, admission] : handshakes_) {
    admission->handshake().cut(reason);
  }
  for (auto& [raw, connection] : connections_) {
    connection->cut(cause, reason);
  }
}

void Worker::stop_if_drained() {
  if (draining_ && connections_.empty() && handshakes_.empty()) {
    loop_->stop();
  }
}

void Worker::tear_down() {
  // After a graceful stop nothing is left; after a failure of the loop, the connections are cut
  // here so that their files are published, and the listeners let go.
  cut_connections(EndCause::kError, "worker stopped");
  handshakes_.clear();
  connections_.clear();
  acceptors_.clear();
}

}  // namespace zcrecv::daemon
