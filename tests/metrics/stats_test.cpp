#include "metrics/stats.hpp"

#include <doctest/doctest.h>

namespace zcrecv::metrics {
namespace {

TEST_CASE("summary: the totals are the sums over every listener, and the publish latency") {
  Stats stats;
  auto first = stats.listeners.find_or_make("first");
  auto second = stats.listeners.find_or_make("second");
  stats.listeners.add(first);
  stats.listeners.add(second);
  // Counters of a name a failed reload made, never added: not counted.
  stats.listeners.find_or_make("never")->accepted = 100;
  stats.connections_open = 1;
  first->accepted = 3;
  second->accepted = 4;
  first->rejections(RejectReason::kAllow) = 1;
  second->rejections(RejectReason::kMaxConnections) = 2;
  first->received(io::DataPath::kSplice) = 10;
  second->received(io::DataPath::kReadWrite) = 20;
  first->published(output::Completion::kComplete) = 5;
  second->published(output::Completion::kIncomplete) = 1;
  stats.sync_queue = 2;
  stats.publish_duration.observe(0.5);
  stats.receipts_ok = 1;
  stats.proxy_header_timeout = 4;

  CHECK(stats.summary() ==
        "connections open=1 total=7 rejected=3, bytes=30, files published=6, splice=0 "
        "readwrite=0, disk-full pauses=0, sync pauses=0, sync queue=2, publish seconds count=1 "
        "p50=0.375 p99=0.497 max=0.5, proxy header failures not_allowed=0 timeout=4 invalid=0, "
        "receipts ok=1 err=0, hooks started=0 succeeded=0 failed=0 backlog=0");
}

TEST_CASE("the listener table keeps a name's counters for the names that come back") {
  ListenerStatsTable table;
  auto made = table.find_or_make("ingest");
  CHECK(table.all().empty());
  table.add(made);
  made->accepted = 2;
  CHECK(table.find_or_make("ingest") == made);
  // A second add of the name keeps the counters it has.
  table.add(std::make_shared<ListenerStats>("ingest"));
  CHECK(table.all().at("ingest") == made);
  CHECK(table.find_or_make("other") != made);
}

}  // namespace
}  // namespace zcrecv::metrics
