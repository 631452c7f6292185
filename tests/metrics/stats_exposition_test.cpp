#include "metrics/stats_exposition.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "support/prometheus_parser.hpp"

namespace zcrecv::metrics {
namespace {

using test::ParsedFamily;

const ParsedFamily& family(const std::vector<ParsedFamily>& families, const std::string& name) {
  for (const ParsedFamily& candidate : families) {
    if (candidate.name == name) {
      return candidate;
    }
  }
  FAIL("no family " << name);
  throw;
}

double sample(const ParsedFamily& family, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  for (const test::ParsedSample& candidate : family.samples) {
    if (candidate.name == name && candidate.labels == labels) {
      return candidate.value;
    }
  }
  FAIL("no sample " << name << " in " << family.name);
  throw;
}

TEST_CASE("expose: every family, per listener where labelled, as Prometheus' parser reads it") {
  Stats stats;
  auto ingest = stats.listeners.find_or_make("ingest");
  auto odd = stats.listeners.find_or_make("odd\"name\\");
  stats.listeners.add(ingest);
  stats.listeners.add(odd);
  ingest->accepted = 7;
  ingest->open = 2;
  ingest->rejections(RejectReason::kPerPeer) = 3;
  odd->rejections(RejectReason::kProxy) = 1;
  ingest->received(io::DataPath::kSplice) = 1000;
  ingest->received(io::DataPath::kSpliceDirect) += 24;
  ingest->received(io::DataPath::kReadWrite) = 5;
  ingest->published(output::Completion::kComplete) = 6;
  ingest->published(output::Completion::kIncomplete) = 1;
  stats.lost_bytes = 9;
  stats.disk_full_pauses = 4;
  stats.paused_for_output = 1;
  stats.paused_for_sync = 2;
  stats.sync_queue = 3;
  stats.receipts_err = 8;
  stats.proxy_header_timeout = 12;
  stats.hooks.backlog = 11;
  stats.publish_duration.observe(0.003);
  stats.publish_duration.observe(2);
  metrics::ProcessMetrics process;
  process.open_fds = 17;

  const DirectoryHealth directory{"/srv/out", 1000, 4096, "1000 bytes free, below ..."};

  const auto families =
      test::parse_with_prometheus_client(expose(stats, HealthState::kDiskFull, directory, process));

  CHECK(family(families, "zcrecv_build_info").type == "gauge");
  CHECK(sample(family(families, "zcrecv_build_info"), "zcrecv_build_info",
               {{"version", ZCRECV_VERSION}}) == 1);
  const auto& accepted = family(families, "zcrecv_connections_accepted");
  CHECK(accepted.type == "counter");
  CHECK(sample(accepted, "zcrecv_connections_accepted_total", {{"listener", "ingest"}}) == 7);
  CHECK(sample(accepted, "zcrecv_connections_accepted_total", {{"listener", "odd\"name\\"}}) == 0);
  CHECK(sample(family(families, "zcrecv_connections_open"), "zcrecv_connections_open",
               {{"listener", "ingest"}}) == 2);
  const auto& rejected = family(families, "zcrecv_connections_rejected");
  CHECK(rejected.samples.size() == 2 * kRejectReasons);
  CHECK(sample(rejected, "zcrecv_connections_rejected_total",
               {{"listener", "ingest"}, {"reason", "per_peer"}}) == 3);
  CHECK(sample(rejected, "zcrecv_connections_rejected_total",
               {{"listener", "odd\"name\\"}, {"reason", "proxy"}}) == 1);
  CHECK(sample(rejected, "zcrecv_connections_rejected_total",
               {{"listener", "ingest"}, {"reason", "allow"}}) == 0);
  const auto& received = family(families, "zcrecv_received_bytes");
  CHECK(sample(received, "zcrecv_received_bytes_total",
               {{"listener", "ingest"}, {"path", "splice"}}) == 1024);
  CHECK(sample(received, "zcrecv_received_bytes_total",
               {{"listener", "ingest"}, {"path", "readwrite"}}) == 5);
  const auto& published = family(families, "zcrecv_files_published");
  CHECK(sample(published, "zcrecv_files_published_total",
               {{"listener", "ingest"}, {"completion", "complete"}}) == 6);
  CHECK(sample(published, "zcrecv_files_published_total",
               {{"listener", "ingest"}, {"completion", "incomplete"}}) == 1);
  CHECK(sample(family(families, "zcrecv_lost_bytes"), "zcrecv_lost_bytes_total") == 9);
  CHECK(sample(family(families, "zcrecv_disk_full_pauses"), "zcrecv_disk_full_pauses_total") == 4);
  const auto& paused = family(families, "zcrecv_paused_connections");
  CHECK(paused.type == "gauge");
  CHECK(sample(paused, "zcrecv_paused_connections", {{"reason", "output"}}) == 1);
  CHECK(sample(paused, "zcrecv_paused_connections", {{"reason", "sync"}}) == 2);
  CHECK(sample(family(families, "zcrecv_sync_queue_files"), "zcrecv_sync_queue_files") == 3);
  const auto& latency = family(families, "zcrecv_publish_duration_seconds");
  CHECK(latency.type == "histogram");
  CHECK(sample(latency, "zcrecv_publish_duration_seconds_bucket", {{"le", "0.005"}}) == 1);
  CHECK(sample(latency, "zcrecv_publish_duration_seconds_bucket", {{"le", "+Inf"}}) == 2);
  CHECK(sample(latency, "zcrecv_publish_duration_seconds_count") == 2);
  CHECK(sample(latency, "zcrecv_publish_duration_seconds_sum") == doctest::Approx(2.003));
  const auto& proxy = family(families, "zcrecv_proxy_header_failures");
  CHECK(proxy.type == "counter");
  CHECK(sample(proxy, "zcrecv_proxy_header_failures_total", {{"reason", "not_allowed"}}) == 0);
  CHECK(sample(proxy, "zcrecv_proxy_header_failures_total", {{"reason", "timeout"}}) == 12);
  CHECK(sample(proxy, "zcrecv_proxy_header_failures_total", {{"reason", "invalid"}}) == 0);
  const auto& receipts = family(families, "zcrecv_receipts");
  CHECK(sample(receipts, "zcrecv_receipts_total", {{"result", "ok"}}) == 0);
  CHECK(sample(receipts, "zcrecv_receipts_total", {{"result", "err"}}) == 8);
  CHECK(sample(family(families, "zcrecv_hooks_started"), "zcrecv_hooks_started_total") == 0);
  CHECK(sample(family(families, "zcrecv_hooks_backlog_files"), "zcrecv_hooks_backlog_files") == 11);
  CHECK(sample(family(families, "process_open_fds"), "process_open_fds") == 17);
  const auto& health = family(families, "zcrecv_health_state");
  CHECK(health.type == "gauge");
  CHECK(health.samples.size() == kHealthStates.size());
  CHECK(sample(health, "zcrecv_health_state", {{"state", "disk_full"}}) == 1);
  CHECK(sample(health, "zcrecv_health_state", {{"state", "ok"}}) == 0);
  CHECK(sample(health, "zcrecv_health_state", {{"state", "stopping"}}) == 0);
  const std::map<std::string, std::string> in_directory{{"directory", "/srv/out"}};
  CHECK(sample(family(families, "zcrecv_disk_space_low"), "zcrecv_disk_space_low", in_directory) ==
        1);
  CHECK(sample(family(families, "zcrecv_disk_free_bytes"), "zcrecv_disk_free_bytes",
               in_directory) == 1000);
  CHECK(sample(family(families, "zcrecv_disk_min_free_bytes"), "zcrecv_disk_min_free_bytes",
               in_directory) == 4096);
  for (const ParsedFamily& each : families) {
    INFO(each.name);
    CHECK_FALSE(each.help.empty());
  }
}

TEST_CASE("expose: a directory that can take data is not low, and unknown free space is left out") {
  Stats stats;
  const DirectoryHealth directory{"/srv/out", std::nullopt, 0, std::nullopt};
  const auto families = test::parse_with_prometheus_client(
      expose(stats, HealthState::kOk, directory, metrics::ProcessMetrics{}));
  const auto& health = family(families, "zcrecv_health_state");
  CHECK(sample(health, "zcrecv_health_state", {{"state", "ok"}}) == 1);
  CHECK(sample(health, "zcrecv_health_state", {{"state", "disk_full"}}) == 0);
  CHECK(sample(family(families, "zcrecv_disk_space_low"), "zcrecv_disk_space_low",
               {{"directory", "/srv/out"}}) == 0);
  CHECK(family(families, "zcrecv_disk_free_bytes").samples.empty());
}

}  // namespace
}  // namespace zcrecv::metrics
