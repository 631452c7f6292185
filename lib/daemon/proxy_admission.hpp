#pragma once

#include <memory>
#include <string>

#include "daemon/listener_settings.hpp"
#include "daemon/shared_listener.hpp"
#include "net/peer_identity.hpp"
#include "net/proxy_handshake.hpp"
#include "net/proxy_header.hpp"
#include "net/socket_address.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::daemon {

class Worker;

/// A connection on a proxy_protocol listener until its PROXY header is in: the daemon's owner
/// of a net::ProxyHandshake, as a Connection is of a stream::Session. It adds what is the
/// daemon's: the listener and its settings as they were at accept, which stay so for the
/// handshake; the header's client handed to the worker (Worker::proxied); and each end without
/// a stream turned into the worker's counters and rejections (Worker::proxy_ended).
class ProxyAdmission final : public net::ProxyHandshakeOwner {
 public:
  /// `proxy` describes the socket's peer, at `proxy_address`.
  ProxyAdmission(Worker& worker, sys::UniqueFd socket, net::SocketAddress proxy_address,
                 net::PeerIdentity proxy, std::shared_ptr<SharedListener> listener,
                 std::shared_ptr<const ListenerSettings> settings);

  /// The worker starts it (advance, then wait) and cuts it at shutdown.
  net::ProxyHandshake& handshake() noexcept { return handshake_; }

  // net::ProxyHandshakeOwner
  void proxied(sys::UniqueFd socket, net::PeerIdentity client, const net::ProxyHeader& header,
               bool watched) override;
  void proxy_ended(net::ProxyHandshakeEnd end, const std::string& detail) override;
  void handshake_finished() override;

 private:
  Worker& worker_;
  std::shared_ptr<SharedListener> listener_;
  std::shared_ptr<const ListenerSettings> settings_;
  // Last: it borrows the listener's name from settings_.
  net::ProxyHandshake handshake_;
};

}  // namespace zcrecv::daemon
