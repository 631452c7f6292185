#include "daemon/stats.hpp"

namespace zcrecv::daemon {
namespace {

std::string value(const std::atomic<std::uint64_t>& counter) {
  return std::to_string(counter.load(std::memory_order_relaxed));
}

}  // namespace

std::string Stats::summary() const {
  return "connections open=" + value(connections_open) + " total=" + value(connections_total) +
         " rejected=" + value(connections_rejected) + ", bytes=" + value(bytes) +
         ", files published=" + value(files_published) + ", splice=" + value(splice_connections) +
         " readwrite=" + value(readwrite_connections) +
         ", disk-full pauses=" + value(disk_full_pauses) + ", sync pauses=" + value(sync_pauses) +
         ", receipts ok=" + value(receipts_ok) + " err=" + value(receipts_err) +
         ", hooks started=" + value(hooks.started) + " succeeded=" + value(hooks.succeeded) +
         " failed=" + value(hooks.failed) + " backlog=" + value(hooks.backlog);
}

}  // namespace zcrecv::daemon
