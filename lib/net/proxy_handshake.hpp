#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "net/peer_identity.hpp"
#include "net/proxy_header.hpp"
#include "net/socket_address.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::net {

/// What a ProxyHandshake needs of its listener's settings.
struct ProxyHandshakeSettings {
  /// The listener's name, for the messages. Borrowed: the owner keeps it for the handshake's
  /// life.
  std::string_view listener;
  /// How long the peer may take to send its whole header (proxy_timeout).
  std::chrono::nanoseconds timeout{0};
  /// A header that names no client (PeerIdentity::proxy_itself) is not the end: the handshake
  /// waits on for what follows, and refuses a stream that sends data
  /// (ProxyHandshakeEnd::kUnknownClient). Set where the listener cannot check such a client.
  bool refuse_unknown_client = false;
};

/// How a ProxyHandshake ended without handing its socket over.
enum class ProxyHandshakeEnd {
  /// Nothing failed, nothing to count: a peer (a health check, a scanner) that closed or reset
  /// before a header, the proxy's own connection that ended or kept quiet after its header.
  kQuiet,
  /// cut() ended it before its header was complete; the detail is cut()'s reason.
  kCut,
  /// What came is not a PROXY header, or the peer closed or reset inside one; the detail says
  /// which.
  kInvalid,
  /// No complete header within the timeout; waiting() says how much of one arrived.
  kTimedOut,
  /// The header named no client, the settings refuse such streams, and data followed.
  kUnknownClient,
};

/// What a ProxyHandshake tells its owner, on the loop's thread. The owner outlives the
/// handshake's calls.
class ProxyHandshakeOwner {
 public:
  virtual ~ProxyHandshakeOwner() = default;
  /// The header is in, consumed from `socket`, and makes `client` the peer
  /// (identify_proxied_peer). `watched`: the socket is in the loop's set, edge-triggered, under
  /// the handshake, for the next handler to take over (EventLoop::hand_over); otherwise it
  /// never was.
  virtual void proxied(sys::UniqueFd socket, PeerIdentity client, const ProxyHeader& header,
                       bool watched) = 0;
  /// The handshake ended without a stream, for `end`; `detail` is empty unless `end` says what it
  /// holds. The socket is still open: it closes right after, so a peer that waits for the close
  /// finds the end counted and logged.
  virtual void proxy_ended(ProxyHandshakeEnd end, const std::string& detail) = 0;
  /// A handshake that waited (wait()) is over: the owner may destroy it after the current batch
  /// of events (EventLoop::defer), not before, since the call may come from inside its handler
  /// or timer.
  virtual void handshake_finished() = 0;
};

/// The first phase of a connection on a proxy_protocol listener: waiting for its PROXY header.
/// The header is read with receive_proxy_header (peek, parse, then consume exactly the header),
/// so the payload stays in the socket for the stream to splice.
///
/// advance() reads what has arrived; the owner calls it once right after accept, where the
/// header often is already, with the first bytes of the payload. Only when it is not complete
/// does wait() watch the socket — edge-triggered, since the peeked bytes stay readable — until
/// the header is complete, turns out invalid, the peer ends the stream, or the timeout passes.
/// At the end the handshake hands the socket (and its place in the loop's set, if it watched
/// it) to the owner (ProxyHandshakeOwner::proxied) or tells the owner how it ended and closes
/// it.
///
/// A header that names no client (LOCAL, UNKNOWN) where the settings refuse such a client
/// (ProxyHandshakeSettings::refuse_unknown_client) is not the end: the handshake waits on,
/// within the same timeout, for what follows. A proxy's health check ends there, and goes
/// quietly; a stream that sends data is refused.
class ProxyHandshake final : public event::Handler {
 public:
  /// `proxy` describes the socket's peer, at `proxy_address`.
  ProxyHandshake(event::EventLoop& loop, ProxyHandshakeOwner& owner,
                 ProxyHandshakeSettings settings, sys::UniqueFd socket, SocketAddress proxy_address,
                 PeerIdentity proxy);
  ~ProxyHandshake() override;

  /// Reads what the peer has sent so far. True when the handshake is over: the socket handed
  /// over or closed. `events` are the epoll flags of the wake-up, if any: EPOLLRDHUP says the
  /// peer ended the stream, so a header still incomplete never will be.
  bool advance(std::uint32_t events = 0);
  /// Watches the socket until the header is in (advance), and arms the timeout.
  sys::Result<void> wait();
  void on_event(std::uint32_t events) override;
  /// Ends the handshake now (shutdown): the socket is closed, the connection never starts.
  void cut(const std::string& reason);

  /// The socket's peer: the proxy.
  [[nodiscard]] const PeerIdentity& proxy() const noexcept { return proxy_; }
  /// How many bytes of the header had arrived at the last look.
  [[nodiscard]] std::size_t waiting() const noexcept { return waiting_; }

 private:
  void time_out();
  // Tells the owner the connection is over, then closes the socket.
  void end(ProxyHandshakeEnd how, const std::string& detail = {});
  // After a header that names no client: true once the peer has ended (quietly) or sent data
  // (refused), false while it has done neither.
  bool await_unknown_client(std::uint32_t events);

  event::EventLoop& loop_;
  ProxyHandshakeOwner& owner_;
  ProxyHandshakeSettings settings_;
  sys::UniqueFd socket_;
  SocketAddress proxy_address_;
  PeerIdentity proxy_;
  event::Timer timeout_;
  std::size_t waiting_ = 0;
  // The header, consumed, named no client, and the settings refuse one.
  bool unknown_client_ = false;
  bool registered_ = false;
  bool over_ = false;
};

}  // namespace zcrecv::net
