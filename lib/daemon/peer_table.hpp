#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace zcrecv::daemon {

/// Open connections per peer (PeerIdentity::key), across every worker, for
/// max_connections_per_peer. Thread-safe; touched once when a connection is accepted and once
/// when it ends, never on the data path.
class PeerTable {
 public:
  /// Counts one more connection of `key` and returns true, unless `key` already has `limit`.
  bool acquire(const std::string& key, std::uint32_t limit);
  /// Counts one connection of `key` less.
  void release(const std::string& key);
  /// The open connections of `key`.
  [[nodiscard]] std::uint32_t count(const std::string& key) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::uint32_t> counts_;
};

}  // namespace zcrecv::daemon
