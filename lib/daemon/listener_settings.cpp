#include "daemon/listener_settings.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <utility>

namespace zcrecv::daemon {
namespace {

bool contains(const std::vector<net::Cidr>& networks, const net::SocketAddress& address) {
  return std::any_of(networks.begin(), networks.end(),
                     [&](const net::Cidr& network) { return network.contains(address); });
}

std::vector<net::Cidr> cidrs(const std::vector<config::SourcedCidr>& entries) {
  std::vector<net::Cidr> networks;
  networks.reserve(entries.size());
  for (const config::SourcedCidr& entry : entries) {
    // Copied out of the Sourced values: the check runs per connection and needs only the network,
    // not the text and position kept for messages.
    networks.push_back(entry.value);
  }
  return networks;
}

}  // namespace

std::optional<std::string> ListenerSettings::refusal(const net::SocketAddress& address,
                                                     const net::PeerIdentity& peer) const {
  if (address.family() == AF_UNIX) {
    // A Unix socket has no address to check: the peer's SO_PEERCRED uid is what allow_uids names.
    if (allow_uids.empty()) {
      return std::nullopt;
    }
    // No credentials means the uid cannot be known, so a set allow list fails closed.
    if (!peer.credentials) {
      return std::string("peer credentials unknown and allow_uids is set");
    }
    if (std::find(allow_uids.begin(), allow_uids.end(), peer.credentials->uid) ==
        allow_uids.end()) {
      return "uid " + std::to_string(peer.credentials->uid) + " is not in allow_uids";
    }
    return std::nullopt;
  }
  // Behind a proxy the socket's peer is the proxy; the client's address, which `allow` is about,
  // comes only with the header (client_refusal, §4.3).
  if (proxy_protocol) {
    return std::nullopt;
  }
  return client_refusal(address);
}

std::optional<std::string> ListenerSettings::proxy_refusal(
    const net::SocketAddress& address) const {
  // A Unix socket's PROXY peer is trusted by its file's permissions (mode, owner, group):
  // proxy_from names only TCP networks, and load requires it only there.
  if (!proxy_protocol || address.family() == AF_UNIX || contains(proxy_from, address)) {
    return std::nullopt;
  }
  return std::string("address not in proxy_from");
}

std::optional<std::string> ListenerSettings::client_refusal(
    const std::optional<net::SocketAddress>& client) const {
  // No client (a LOCAL or UNKNOWN header, or the proxy's own connection) is not refused here:
  // unknown_client_refusal decides, once it is known whether data follows.
  if (!client || allow.empty() || contains(allow, *client)) {
    return std::nullopt;
  }
  return std::string("address not in the allow list");
}

std::optional<std::string> ListenerSettings::unknown_client_refusal() const {
  if (!refuses_unknown_client()) {
    return std::nullopt;
  }
  return std::string(
      "the PROXY header names no client (LOCAL or UNKNOWN) and data followed; the allow list "
      "cannot check it (allow_proxy_local = true lets such streams in)");
}

std::shared_ptr<const ListenerSettings> make_listener_settings(
    const config::ListenerConfig& config, std::shared_ptr<metrics::ListenerStats> stats) {
  ListenerSettings settings;
  settings.name = config.name;
  settings.allow = cidrs(config.allow);
  settings.allow_uids = config.allow_uids;
  settings.proxy_protocol = config.proxy_protocol;
  settings.proxy_from = cidrs(config.proxy_from);
  settings.proxy_timeout = config.proxy_timeout;
  settings.allow_proxy_local = config.allow_proxy_local;
  settings.receipt = config.receipt;
  settings.stats = std::move(stats);
  return std::make_shared<const ListenerSettings>(std::move(settings));
}

}  // namespace zcrecv::daemon
