#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "io/copy_mode.hpp"
#include "output/output_directory.hpp"

namespace zcrecv::metrics {

/// Why a listener refused a connection right after accept.
enum class RejectReason : std::uint8_t {
  /// Not on the listener's allow list (TCP `allow`, Unix `allow_uids`).
  kAllow,
  /// max_connections_per_peer reached.
  kPerPeer,
  /// max_connections reached.
  kMaxConnections,
  /// A PROXY protocol header missing, malformed, or from a peer not in proxy_from.
  kProxy,
};
inline constexpr std::size_t kRejectReasons = 4;

/// The `reason` label of a refusal: "allow", "per_peer", "max_connections", "proxy".
std::string_view to_string(RejectReason reason);

/// The counters of one listener, by its name: the connections it accepted and refused, and what
/// they received and published. Relaxed atomics, counted by the workers (and the connections,
/// which keep them after their listener is gone) and read by the statistics line and the metrics
/// endpoint.
struct ListenerStats {
  explicit ListenerStats(std::string listener_name) : name(std::move(listener_name)) {}
  ListenerStats(const ListenerStats&) = delete;
  ListenerStats& operator=(const ListenerStats&) = delete;

  const std::string name;
  /// Connections admitted (refusals are counted in `rejected` only).
  std::atomic<std::uint64_t> accepted{0};
  /// Connections admitted whose socket is not closed yet.
  std::atomic<std::uint64_t> open{0};
  /// Refusals, indexed by RejectReason.
  std::array<std::atomic<std::uint64_t>, kRejectReasons> rejected{};
  /// Bytes taken from the sockets as they arrive: [0] by splice (through the worker's pipe, or
  /// straight into a pipe sink), [1] by read/write.
  std::array<std::atomic<std::uint64_t>, 2> received_bytes{};
  /// Files published, indexed by output::Completion (complete, incomplete).
  std::array<std::atomic<std::uint64_t>, 2> files_published{};

  std::atomic<std::uint64_t>& rejections(RejectReason reason) {
    return rejected[static_cast<std::size_t>(reason)];
  }
  std::atomic<std::uint64_t>& received(io::DataPath path) {
    return received_bytes[path == io::DataPath::kReadWrite ? 1 : 0];
  }
  std::atomic<std::uint64_t>& published(output::Completion completion) {
    return files_published[completion == output::Completion::kIncomplete ? 1 : 0];
  }
};

/// The ListenerStats of every listener the daemon has had, by name, so that a listener a reload
/// keeps (or renames back) keeps counting where it was: a Prometheus series is its labels, and a
/// counter must never go back. A listener a reload removes keeps its series until the daemon
/// stops. Used on the daemon's main thread only; the workers hold the ListenerStats themselves.
class ListenerStatsTable {
 public:
  /// The counters of listener `name`: those it had, or new ones, which take their place in the
  /// table only with add() (a reload that fails adds nothing).
  [[nodiscard]] std::shared_ptr<ListenerStats> find_or_make(const std::string& name) const;
  /// Keeps `stats` under its name, unless the name has counters already.
  void add(const std::shared_ptr<ListenerStats>& stats);

  /// Every listener's counters, ordered by name.
  [[nodiscard]] const std::map<std::string, std::shared_ptr<ListenerStats>>& all() const noexcept {
    return listeners_;
  }

 private:
  std::map<std::string, std::shared_ptr<ListenerStats>> listeners_;
};

}  // namespace zcrecv::metrics
