#include "metrics/stats.hpp"

namespace zcrecv::metrics {
namespace {

std::uint64_t value(const std::atomic<std::uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

template <class Counters>
std::uint64_t sum(const Counters& counters) {
  std::uint64_t total = 0;
  for (const auto& counter : counters) {
    total += value(counter);
  }
  return total;
}

}  // namespace

std::string Stats::summary() const {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t bytes = 0;
  std::uint64_t published = 0;
  // Totals are summed here, when the line is asked for, rather than counted a second time on the
  // data path: a connection increments one counter, its listener's.
  for (const auto& [name, listener] : listeners.all()) {
    accepted += value(listener->accepted);
    rejected += sum(listener->rejected);
    bytes += sum(listener->received_bytes);
    published += sum(listener->files_published);
  }
  return "connections open=" + std::to_string(value(connections_open)) +
         " total=" + std::to_string(accepted) + " rejected=" + std::to_string(rejected) +
         ", bytes=" + std::to_string(bytes) + ", files published=" + std::to_string(published) +
         ", splice=" + std::to_string(value(splice_connections)) +
         " readwrite=" + std::to_string(value(readwrite_connections)) +
         ", disk-full pauses=" + std::to_string(value(disk_full_pauses)) +
         ", sync pauses=" + std::to_string(value(sync_pauses)) +
         ", sync queue=" + std::to_string(value(sync_queue)) + ", publish seconds " +
         publish_duration.snapshot().summary() +
         ", proxy header failures not_allowed=" + std::to_string(value(proxy_header_not_allowed)) +
         " timeout=" + std::to_string(value(proxy_header_timeout)) +
         " invalid=" + std::to_string(value(proxy_header_invalid)) +
         ", receipts ok=" + std::to_string(value(receipts_ok)) +
         " err=" + std::to_string(value(receipts_err)) +
         ", hooks started=" + std::to_string(value(hooks.started)) +
         " succeeded=" + std::to_string(value(hooks.succeeded)) +
         " failed=" + std::to_string(value(hooks.failed)) +
         " backlog=" + std::to_string(value(hooks.backlog));
}

}  // namespace zcrecv::metrics
