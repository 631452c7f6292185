#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "daemon/listener_settings.hpp"
#include "daemon/shared_listener.hpp"
#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "net/peer_identity.hpp"
#include "net/socket_address.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::daemon {

class Worker;

/// The first phase of a connection on a proxy_protocol listener: waiting for its PROXY header.
/// The header is read with net::receive_proxy_header (peek, parse, then consume exactly the
/// header), so the payload stays in the socket for the Connection to splice.
///
/// advance() reads what has arrived; the worker calls it once right after accept, where the
/// header often is already, with the first bytes of the payload. Only when it is not complete
/// does wait() watch the socket — edge-triggered, since the peeked bytes stay readable — until
/// the header is complete, turns out invalid, the peer ends the stream, or proxy_timeout
/// passes. At the end the handshake hands the socket (and its place in the loop's set, if it
/// watched it) to the worker (Worker::proxied) or closes it, and tells the worker it is over.
///
/// A header that names no client (LOCAL, UNKNOWN) on a listener whose allow list cannot check
/// it (ListenerSettings::unknown_client_refusal) is not the end: the handshake waits on, within
/// the same proxy_timeout, for what follows. A proxy's health check ends there, and goes
/// quietly; a stream that sends data is refused, counted under the allow list.
class ProxyHandshake final : public event::Handler {
 public:
  /// `proxy` describes the socket's peer, at `proxy_address`; `listener` and `settings` are the
  /// listener's as they were at accept, and stay so for the handshake.
  ProxyHandshake(Worker& worker, sys::UniqueFd socket, net::SocketAddress proxy_address,
                 net::PeerIdentity proxy, std::shared_ptr<SharedListener> listener,
                 std::shared_ptr<const ListenerSettings> settings);
  ~ProxyHandshake() override;

  /// Reads what the peer has sent so far. True when the handshake is over: the socket handed
  /// over or closed. `events` are the epoll flags of the wake-up, if any: EPOLLRDHUP says the
  /// peer ended the stream, so a header still incomplete never will be.
  bool advance(std::uint32_t events = 0);
  /// Watches the socket until the header is in (advance), and arms the proxy_timeout timer.
  sys::Result<void> wait();
  void on_event(std::uint32_t events) override;
  /// Ends the handshake now (shutdown): the socket is closed, the connection never starts.
  void cut(const std::string& reason);

 private:
  // The header did not come: counted under timeout or invalid, then end(reason).
  void fail(bool timed_out, const std::string& reason);
  void time_out();
  // Tells the worker the connection is over (a refusal is counted and logged, rate-limited),
  // then closes the socket.
  void end(const std::optional<std::string>& refusal,
           metrics::RejectReason reason = metrics::RejectReason::kProxy);
  // After a header that names no client: true once the peer has ended (quietly) or sent data
  // (refused), false while it has done neither.
  bool await_unknown_client(std::uint32_t events);

  Worker& worker_;
  sys::UniqueFd socket_;
  net::SocketAddress proxy_address_;
  net::PeerIdentity proxy_;
  std::shared_ptr<SharedListener> listener_;
  std::shared_ptr<const ListenerSettings> settings_;
  event::Timer timeout_;
  // How many bytes of the header had arrived at the last look, for the messages.
  std::size_t waiting_ = 0;
  // The header, consumed, named no client, and the allow list needs one.
  bool unknown_client_ = false;
  bool registered_ = false;
  bool over_ = false;
};

}  // namespace zcrecv::daemon
