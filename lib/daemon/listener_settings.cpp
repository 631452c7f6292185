#include "daemon/listener_settings.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <utility>

namespace zcrecv::daemon {

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
  if (allow.empty() || std::any_of(allow.begin(), allow.end(), [&](const net::Cidr& network) {
        return network.contains(address);
      })) {
    return std::nullopt;
  }
  return std::string("address not in the allow list");
}

sys::Result<std::shared_ptr<const ListenerSettings>> make_listener_settings(
    const config::ListenerConfig& config, std::shared_ptr<ListenerStats> stats) {
  ListenerSettings settings;
  settings.name = config.name;
  for (const config::SourcedString& entry : config.allow) {
    auto network = net::Cidr::parse(entry.value);
    if (!network) {
      return std::move(network).error().with_context(entry.origin.where);
    }
    settings.allow.push_back(*network);
  }
  settings.allow_uids = config.allow_uids;
  settings.receipt = config.receipt;
  settings.stats = std::move(stats);
  return std::make_shared<const ListenerSettings>(std::move(settings));
}

}  // namespace zcrecv::daemon
