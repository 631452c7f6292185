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
    networks.push_back(entry.value);
  }
  return networks;
}

}  // namespace

std::optional<std::string> ListenerSettings::refusal(const net::SocketAddress& address,
                                                     const net::PeerIdentity& peer) const {
  if (address.family() == AF_UNIX) {
    if (allow_uids.empty()) {
      return std::nullopt;
    }
    if (!peer.credentials) {
      return std::string("peer credentials unknown and allow_uids is set");
    }
    if (std::find(allow_uids.begin(), allow_uids.end(), peer.credentials->uid) ==
        allow_uids.end()) {
      return "uid " + std::to_string(peer.credentials->uid) + " is not in allow_uids";
    }
    return std::nullopt;
  }
  if (proxy_protocol) {
    return std::nullopt;
  }
  return client_refusal(address);
}

std::optional<std::string> ListenerSettings::proxy_refusal(
    const net::SocketAddress& address) const {
  if (!proxy_protocol || address.family() == AF_UNIX || contains(proxy_from, address)) {
    return std::nullopt;
  }
  return std::string("address not in proxy_from");
}

std::optional<std::string> ListenerSettings::client_refusal(
    const std::optional<net::SocketAddress>& client) const {
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
