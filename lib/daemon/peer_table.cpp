#include "daemon/peer_table.hpp"

namespace zcrecv::daemon {

bool PeerTable::acquire(const std::string& key, std::uint32_t limit) {
  // A mutex is enough: the table is touched at a connection's start and end only, never on the
  // data path (§4.2).
  std::lock_guard lock(mutex_);
  std::uint32_t& count = counts_[key];
  if (count >= limit) {
    // operator[] has just made the entry of a peer refused with a limit of 0; it must not linger.
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
  // A key that is not there was never acquired (a refused peer): nothing to give back.
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
