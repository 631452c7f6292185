#include "metrics/listener_stats.hpp"

namespace zcrecv::metrics {

std::string_view to_string(RejectReason reason) {
  switch (reason) {
    case RejectReason::kAllow:
      return "allow";
    case RejectReason::kPerPeer:
      return "per_peer";
    case RejectReason::kMaxConnections:
      return "max_connections";
    case RejectReason::kProxy:
      return "proxy";
  }
  return "allow";
}

std::shared_ptr<ListenerStats> ListenerStatsTable::find_or_make(const std::string& name) const {
  if (auto found = listeners_.find(name); found != listeners_.end()) {
    // The same counters for the same name across reloads: a counter that restarted at 0 would look
    // like a reset to Prometheus, and rate() would have to guess across it.
    return found->second;
  }
  return std::make_shared<ListenerStats>(name);
}

void ListenerStatsTable::add(const std::shared_ptr<ListenerStats>& stats) {
  listeners_.emplace(stats->name, stats);
}

}  // namespace zcrecv::metrics
