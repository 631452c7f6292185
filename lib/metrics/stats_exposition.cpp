#include "metrics/stats_exposition.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "metrics/exposition_writer.hpp"

namespace zcrecv::metrics {
namespace {

using metrics::MetricType;

std::uint64_t value(const std::atomic<std::uint64_t>& counter) {
  // Relaxed: each counter is exact, a set of them read together only approximately consistent
  // (docs/design.md §6), which a scrape tolerates; the data path pays no fence for it.
  return counter.load(std::memory_order_relaxed);
}

// The label values of the arrays of ListenerStats, in their order.
constexpr std::array<std::string_view, 2> kPaths{"splice", "readwrite"};
constexpr std::array<std::string_view, 2> kCompletions{"complete", "incomplete"};
constexpr std::array kReasons{RejectReason::kAllow, RejectReason::kPerPeer,
                              RejectReason::kMaxConnections, RejectReason::kProxy};
static_assert(kReasons.size() == kRejectReasons);

void write_listener_families(metrics::ExpositionWriter& writer, const ListenerStatsTable& table) {
  const auto& listeners = table.all();
  writer.family("zcrecv_connections_accepted_total", MetricType::kCounter,
                "Connections admitted, by listener (refused ones are in "
                "zcrecv_connections_rejected_total).");
  for (const auto& [name, stats] : listeners) {
    writer.sample(value(stats->accepted), {{"listener", name}});
  }
  writer.family("zcrecv_connections_open", MetricType::kGauge,
                "Connections admitted and not yet closed, by listener.");
  for (const auto& [name, stats] : listeners) {
    writer.sample(value(stats->open), {{"listener", name}});
  }
  writer.family("zcrecv_connections_rejected_total", MetricType::kCounter,
                "Connections closed right after accept, by listener and reason: allow (not on "
                "the allow list), per_peer (max_connections_per_peer), max_connections, proxy "
                "(PROXY protocol header refused).");
  for (const auto& [name, stats] : listeners) {
    // Every reason is written, zeros included: a series that appears only at its first event makes
    // rate() and increase() miss that event, and alerts on it come one scrape late.
    for (const RejectReason reason : kReasons) {
      writer.sample(value(stats->rejected[static_cast<std::size_t>(reason)]),
                    {{"listener", name}, {"reason", to_string(reason)}});
    }
  }
  writer.family("zcrecv_received_bytes_total", MetricType::kCounter,
                "Bytes taken from the connections' sockets as they arrive, by listener and data "
                "path (splice or readwrite).");
  for (const auto& [name, stats] : listeners) {
    for (std::size_t i = 0; i < kPaths.size(); ++i) {
      writer.sample(value(stats->received_bytes[i]), {{"listener", name}, {"path", kPaths[i]}});
    }
  }
  writer.family("zcrecv_files_published_total", MetricType::kCounter,
                "Files published, by listener and completion (incomplete: the last file of a "
                "cut stream, named .incomplete).");
  for (const auto& [name, stats] : listeners) {
    for (std::size_t i = 0; i < kCompletions.size(); ++i) {
      writer.sample(value(stats->files_published[i]),
                    {{"listener", name}, {"completion", kCompletions[i]}});
    }
  }
}

void write_health_families(metrics::ExpositionWriter& writer, HealthState state,
                           const DirectoryHealth& directory) {
  writer.family("zcrecv_health_state", MetricType::kGauge,
                "1 for the state GET /health answers, 0 for the others: ok (200), disk_full "
                "(503: the output directory is below min_free_space or failing), stopping (503).");
  // One series per state, 1 for the current one: an alert can match state="disk_full" directly, and
  // a dashboard shows how long each state lasted.
  for (const HealthState each : kHealthStates) {
    writer.sample(std::uint64_t{each == state ? 1U : 0U}, {{"state", to_string(each)}});
  }
  const metrics::Label label{"directory", directory.path};
  writer.family("zcrecv_disk_space_low", MetricType::kGauge,
                "1 while the output directory cannot take data: free space below "
                "min_free_space, or the directory failing (removed, read-only, not writable, "
                "fstatvfs failing); 0 otherwise.");
  writer.sample(std::uint64_t{directory.problem ? 1U : 0U}, {label});
  writer.family("zcrecv_disk_free_bytes", MetricType::kGauge,
                "Bytes free for the daemon on the output directory's filesystem, measured every "
                "100 ms (absent while it cannot be measured).");
  // Absent rather than 0 while unknown: 0 free bytes would read as a full disk and fire alerts for
  // a directory that merely cannot be measured.
  if (directory.free_bytes) {
    writer.sample(*directory.free_bytes, {label});
  }
  writer.family("zcrecv_disk_min_free_bytes", MetricType::kGauge,
                "The min_free_space in force for the output directory (auto: the smaller of "
                "256 MiB and 5 % of its filesystem).");
  writer.sample(directory.min_free_space, {label});
}

void write_retention_families(metrics::ExpositionWriter& writer,
                              const retention::RetentionStats& stats) {
  constexpr std::array kRetentionReasons{retention::RetentionReason::kMaxAge,
                                         retention::RetentionReason::kMaxFiles,
                                         retention::RetentionReason::kMaxBytes};
  static_assert(kRetentionReasons.size() == retention::kRetentionReasons);
  writer.family("zcrecv_retention_deleted_files_total", MetricType::kCounter,
                "Published files deleted by [retention], by reason: max_age, max_files, "
                "max_bytes.");
  for (const retention::RetentionReason reason : kRetentionReasons) {
    writer.sample(value(stats.deleted_files[static_cast<std::size_t>(reason)]),
                  {{"reason", retention::to_string(reason)}});
  }
  writer.family("zcrecv_retention_deleted_bytes_total", MetricType::kCounter,
                "Bytes of the published files deleted by [retention], by reason.");
  for (const retention::RetentionReason reason : kRetentionReasons) {
    writer.sample(value(stats.deleted_bytes[static_cast<std::size_t>(reason)]),
                  {{"reason", retention::to_string(reason)}});
  }
  writer.family("zcrecv_retention_files", MetricType::kGauge,
                "Published files under the output directory, as [retention] counts them (0 "
                "without a limit).");
  writer.sample(value(stats.files));
  writer.family("zcrecv_retention_bytes", MetricType::kGauge,
                "Bytes of the published files under the output directory, as [retention] counts "
                "them (0 without a limit).");
  writer.sample(value(stats.bytes));
  writer.family("zcrecv_retention_held_files", MetricType::kGauge,
                "Files past a [retention] limit kept at the last check because their hand-off "
                "(on_publish) is not done.");
  writer.sample(value(stats.held));
  writer.family("zcrecv_retention_errors_total", MetricType::kCounter,
                "Files [retention] could not look at or delete (each logged).");
  writer.sample(value(stats.errors));
}

}  // namespace

std::string expose(const Stats& stats, HealthState state, const DirectoryHealth& directory,
                   const metrics::ProcessMetrics& process) {
  metrics::ExpositionWriter writer;
  writer.family("zcrecv_build_info", MetricType::kGauge,
                "Always 1; the version label says which zcrecv serves.");
  // The version as a label of a constant 1 (the usual *_build_info form): it joins onto other
  // series in queries without being a metric value of its own.
  writer.sample(std::uint64_t{1}, {{"version", ZCRECV_VERSION}});
  write_health_families(writer, state, directory);
  write_listener_families(writer, stats.listeners);
  writer.family("zcrecv_connections_ended_total", MetricType::kCounter,
                "Connections ended, by the data path they ended on (splice or readwrite).");
  writer.sample(value(stats.splice_connections), {{"path", kPaths[0]}});
  writer.sample(value(stats.readwrite_connections), {{"path", kPaths[1]}});
  writer.family("zcrecv_lost_bytes_total", MetricType::kCounter,
                "Bytes read from a socket and never written to a file. Must stay 0.");
  writer.sample(value(stats.lost_bytes));
  writer.family("zcrecv_disk_full_pauses_total", MetricType::kCounter,
                "Times a connection stopped reading because the disk was full or below "
                "min_free_space.");
  writer.sample(value(stats.disk_full_pauses));
  writer.family("zcrecv_records_split_total", MetricType::kCounter,
                "Records split across two files: no delimiter within record_max of the boundary.");
  writer.sample(value(stats.records_split));
  writer.family("zcrecv_sync_pauses_total", MetricType::kCounter,
                "Times a connection stopped reading until the sync stage caught up.");
  writer.sample(value(stats.sync_pauses));
  writer.family("zcrecv_paused_connections", MetricType::kGauge,
                "Connections not reading now, by reason: output (disk full, below "
                "min_free_space, or no file descriptor left), sync (the sync stage is behind).");
  writer.sample(value(stats.paused_for_output), {{"reason", "output"}});
  writer.sample(value(stats.paused_for_sync), {{"reason", "sync"}});
  writer.family("zcrecv_sync_queue_files", MetricType::kGauge,
                "Files handed to the sync stage and not yet durable.");
  writer.sample(value(stats.sync_queue));
  writer.family("zcrecv_publish_duration_seconds", MetricType::kHistogram,
                "With sync = publish, the time from a file's hand-over to the sync stage to its "
                "directory fsync: fdatasync, rename, directory fsync.");
  writer.histogram(stats.publish_duration.snapshot());
  writer.family("zcrecv_proxy_header_failures_total", MetricType::kCounter,
                "Connections of proxy_protocol listeners refused for their PROXY header, by "
                "reason: not_allowed (not from proxy_from), timeout (no whole header within "
                "proxy_timeout), invalid (not a valid header, or the stream ended inside one). "
                "Each is also in zcrecv_connections_rejected_total with reason proxy.");
  writer.sample(value(stats.proxy_header_not_allowed), {{"reason", "not_allowed"}});
  writer.sample(value(stats.proxy_header_timeout), {{"reason", "timeout"}});
  writer.sample(value(stats.proxy_header_invalid), {{"reason", "invalid"}});
  writer.family("zcrecv_receipts_total", MetricType::kCounter,
                "Delivery receipts answered, by result (ok: OK, err: ERR).");
  writer.sample(value(stats.receipts_ok), {{"result", "ok"}});
  writer.sample(value(stats.receipts_err), {{"result", "err"}});
  writer.family("zcrecv_hooks_started_total", MetricType::kCounter,
                "on_publish hook runs started, retries included.");
  writer.sample(value(stats.hooks.started));
  writer.family("zcrecv_hooks_succeeded_total", MetricType::kCounter,
                "on_publish hook runs that exited 0 in time.");
  writer.sample(value(stats.hooks.succeeded));
  writer.family("zcrecv_hooks_failed_total", MetricType::kCounter,
                "on_publish hook runs that exited non-zero, were killed, timed out or could not "
                "start.");
  writer.sample(value(stats.hooks.failed));
  writer.family("zcrecv_hooks_backlog_files", MetricType::kGauge,
                "Files held in memory for an on_publish hook: queued, running or waiting to be "
                "retried (more may wait on disk).");
  writer.sample(value(stats.hooks.backlog));
  write_retention_families(writer, stats.retention);
  process.write(writer);
  return std::move(writer).take();
}

}  // namespace zcrecv::metrics
