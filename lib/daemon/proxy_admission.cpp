#include "daemon/proxy_admission.hpp"

#include <spdlog/spdlog.h>

#include <optional>
#include <utility>

#include "config/units.hpp"
#include "daemon/worker.hpp"
#include "log/event.hpp"

namespace zcrecv::daemon {

ProxyAdmission::ProxyAdmission(Worker& worker, sys::UniqueFd socket,
                               net::SocketAddress proxy_address, net::PeerIdentity proxy,
                               std::shared_ptr<SharedListener> listener,
                               std::shared_ptr<const ListenerSettings> settings)
    // The listener and its settings as they were at accept: a reload while the header is awaited
    // does not change how this connection is judged (§4.3).
    : worker_(worker),
      listener_(std::move(listener)),
      settings_(std::move(settings)),
      handshake_(worker.loop(), *this,
                 {.listener = settings_->name,
                  .timeout = settings_->proxy_timeout,
                  .refuse_unknown_client = settings_->refuses_unknown_client()},
                 std::move(socket), proxy_address, std::move(proxy)) {}

void ProxyAdmission::proxied(sys::UniqueFd socket, net::PeerIdentity client,
                             const net::ProxyHeader& header, bool watched) {
  worker_.proxied(std::move(socket), std::move(client), header, *listener_, *settings_, watched);
}

void ProxyAdmission::proxy_ended(net::ProxyHandshakeEnd end, const std::string& detail) {
  const net::PeerIdentity& proxy = handshake_.proxy();
  metrics::Stats& stats = worker_.stats();
  std::optional<std::string> refusal;
  metrics::RejectReason reason = metrics::RejectReason::kProxy;
  switch (end) {
    // Nothing came, or a health check: nothing is counted and nothing logged above debug.
    case net::ProxyHandshakeEnd::kQuiet:
      break;
    case net::ProxyHandshakeEnd::kCut:
      // Cut by the daemon (a stop, or a socket the loop could not watch), not by the peer: a
      // warning, not a rejection of the peer.
      log::event(spdlog::level::warn, "proxy_header_cut",
                 {{"listener", settings_->name}, {"peer", proxy.display}, {"error", detail}},
                 fmt::format("listener {}: {} cut before its PROXY header was complete: {}",
                             settings_->name, proxy.display, detail));
      break;
    case net::ProxyHandshakeEnd::kInvalid:
      stats.proxy_header_invalid.fetch_add(1, std::memory_order_relaxed);
      refusal = detail;
      break;
    case net::ProxyHandshakeEnd::kTimedOut:
      stats.proxy_header_timeout.fetch_add(1, std::memory_order_relaxed);
      // The timeout is named as the configuration spells it.
      refusal = "no complete PROXY header within proxy_timeout (" +
                config::format_duration(settings_->proxy_timeout) + "), " +
                std::to_string(handshake_.waiting()) + " bytes of one arrived";
      break;
    case net::ProxyHandshakeEnd::kUnknownClient:
      // Counted under the allow list, which cannot check a client nobody named.
      refusal = settings_->unknown_client_refusal();
      reason = metrics::RejectReason::kAllow;
      break;
  }
  worker_.proxy_ended(*listener_, *settings_, proxy, refusal, reason);
}

void ProxyAdmission::handshake_finished() { worker_.handshake_finished(*this); }

}  // namespace zcrecv::daemon
