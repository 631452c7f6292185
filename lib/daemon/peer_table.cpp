#include "daemon/peer_table.hpp"

namespace zcrecv::daemon {

bool PeerTable::acquire(const std::string& key, std::uint32_t limit) {
  std::lock_guard lock(mutex_);
  std::uint32_t& count = counts_[key];
  if (count >= limit) {
    if (count == 0) {
      counts_.erase(key);
    }
    return false;
  }
  ++count;
  return true;
}

void PeerTable::release(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto found = counts_.find(key);
  if (found == counts_.end()) {
    return;
  }
  // Peers come and go: an entry lives only while the peer has connections.
  if (--found->second == 0) {
    counts_.erase(found);
  }
}

std::uint32_t PeerTable::count(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto found = counts_.find(key);
  return found == counts_.end() ? 0 : found->second;
}

}  // namespace zcrecv::daemon
