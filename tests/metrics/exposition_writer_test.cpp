#include "metrics/exposition_writer.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include "metrics/histogram.hpp"
#include "support/prometheus_parser.hpp"

namespace zcrecv::metrics {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr std::uint64_t kLargest = std::numeric_limits<std::uint64_t>::max();

// Four observations whose sum is exact in binary: 2^-8 + 0.25 + 0.25 + 2.
HistogramSnapshot publish_durations() {
  Histogram histogram({0.005, 0.5, 1});
  for (double value : {0.00390625, 0.25, 0.25, 2.0}) {
    histogram.observe(value);
  }
  return histogram.snapshot();
}

TEST_CASE("metrics exposition: counters and gauges with labels, escaped, integers exact") {
  ExpositionWriter writer;
  writer.family("zcrecv_connections_accepted_total", MetricType::kCounter, "Connections accepted.");
  writer.sample(std::uint64_t{3}, {{"listener", "ingest"}});
  writer.sample(kLargest, {{"listener", "a\\b\"c\nd"}});
  writer.family("zcrecv_connections_rejected_total", MetricType::kCounter, "Refused.");
  writer.sample(std::uint64_t{1}, {{"listener", "ingest"}, {"reason", "allow"}});
  writer.family("zcrecv_paused_connections", MetricType::kGauge,
                "Help with \\ and\nnewline, \"quoted\".");
  writer.sample(std::uint64_t{0});
  CHECK(writer.text() ==
        "# HELP zcrecv_connections_accepted_total Connections accepted.\n"
        "# TYPE zcrecv_connections_accepted_total counter\n"
        "zcrecv_connections_accepted_total{listener=\"ingest\"} 3\n"
        "zcrecv_connections_accepted_total{listener=\"a\\\\b\\\"c\\nd\"} 18446744073709551615\n"
        "# HELP zcrecv_connections_rejected_total Refused.\n"
        "# TYPE zcrecv_connections_rejected_total counter\n"
        "zcrecv_connections_rejected_total{listener=\"ingest\",reason=\"allow\"} 1\n"
        "# HELP zcrecv_paused_connections Help with \\\\ and\\nnewline, \"quoted\".\n"
        "# TYPE zcrecv_paused_connections gauge\n"
        "zcrecv_paused_connections 0\n");
}

TEST_CASE("metrics exposition: doubles in their shortest exact form, and the special values") {
  ExpositionWriter writer;
  writer.family("values", MetricType::kUntyped, "");
  for (double value : {0.1, 1e-7, 2.5, 30.0, -0.5, 1e21, kInfinity, -kInfinity, std::nan("")}) {
    writer.sample(value);
  }
  CHECK(std::move(writer).take() ==
        "# HELP values \n"
        "# TYPE values untyped\n"
        "values 0.1\nvalues 1e-07\nvalues 2.5\nvalues 30\nvalues -0.5\nvalues 1e+21\n"
        "values +Inf\nvalues -Inf\nvalues NaN\n");
}

TEST_CASE("metrics exposition: a histogram writes cumulative buckets, sum and count") {
  ExpositionWriter writer;
  writer.family("zcrecv_publish_duration_seconds", MetricType::kHistogram,
                "From a file's end to its durable publication.");
  writer.histogram(publish_durations(), {{"listener", "ingest"}});
  writer.family("plain_seconds", MetricType::kHistogram, "No labels.");
  writer.histogram(Histogram({1}).snapshot());
  CHECK(writer.text() ==
        "# HELP zcrecv_publish_duration_seconds From a file's end to its durable publication.\n"
        "# TYPE zcrecv_publish_duration_seconds histogram\n"
        "zcrecv_publish_duration_seconds_bucket{listener=\"ingest\",le=\"0.005\"} 1\n"
        "zcrecv_publish_duration_seconds_bucket{listener=\"ingest\",le=\"0.5\"} 3\n"
        "zcrecv_publish_duration_seconds_bucket{listener=\"ingest\",le=\"1\"} 3\n"
        "zcrecv_publish_duration_seconds_bucket{listener=\"ingest\",le=\"+Inf\"} 4\n"
        "zcrecv_publish_duration_seconds_sum{listener=\"ingest\"} 2.50390625\n"
        "zcrecv_publish_duration_seconds_count{listener=\"ingest\"} 4\n"
        "# HELP plain_seconds No labels.\n"
        "# TYPE plain_seconds histogram\n"
        "plain_seconds_bucket{le=\"1\"} 0\n"
        "plain_seconds_bucket{le=\"+Inf\"} 0\n"
        "plain_seconds_sum 0\n"
        "plain_seconds_count 0\n");
}

TEST_CASE("metrics exposition: metric and label names are checked against the format's grammar") {
  CHECK(is_valid_metric_name("zcrecv_received_bytes_total"));
  CHECK(is_valid_metric_name("_x"));
  CHECK(is_valid_metric_name("job:rate5m"));
  CHECK(is_valid_metric_name("a9"));
  CHECK_FALSE(is_valid_metric_name(""));
  CHECK_FALSE(is_valid_metric_name("9a"));
  CHECK_FALSE(is_valid_metric_name("bytes-total"));
  CHECK_FALSE(is_valid_metric_name("caf\xc3\xa9"));
  CHECK(is_valid_label_name("listener"));
  CHECK(is_valid_label_name("_reason2"));
  CHECK_FALSE(is_valid_label_name(""));
  CHECK_FALSE(is_valid_label_name("__name__"));
  CHECK_FALSE(is_valid_label_name("job:x"));
  CHECK_FALSE(is_valid_label_name("2x"));
}

TEST_CASE("metrics exposition: Prometheus' own parser reads back every family and value") {
  ExpositionWriter writer;
  writer.family("zcrecv_received_bytes_total", MetricType::kCounter, "Bytes, by \\ path\nand all.");
  writer.sample(kLargest, {{"listener", "we\"ird\\name\n"}, {"path", "splice"}});
  writer.sample(std::uint64_t{42}, {{"listener", "ingest"}, {"path", "readwrite"}});
  writer.family("zcrecv_connections_open", MetricType::kGauge, "Open connections.");
  writer.sample(std::uint64_t{7}, {{"listener", "ingest"}});
  writer.family("zcrecv_publish_duration_seconds", MetricType::kHistogram, "Publish latency.");
  writer.histogram(publish_durations(), {{"listener", "ingest"}});
  writer.family("odd_values", MetricType::kUntyped, "Special values.");
  writer.sample(kInfinity, {{"v", "inf"}});
  writer.sample(-kInfinity, {{"v", "-inf"}});
  writer.sample(std::nan(""), {{"v", "nan"}});
  writer.sample(1e-7, {{"v", "small"}});

  std::vector<test::ParsedFamily> families =
      test::parse_with_prometheus_client(std::move(writer).take());
  REQUIRE(families.size() == 4);

  const test::ParsedFamily& bytes = families[0];
  CHECK(bytes.name == "zcrecv_received_bytes");
  CHECK(bytes.type == "counter");
  CHECK(bytes.help == "Bytes, by \\ path\nand all.");
  REQUIRE(bytes.samples.size() == 2);
  CHECK(bytes.samples[0].name == "zcrecv_received_bytes_total");
  CHECK(bytes.samples[0].labels ==
        std::map<std::string, std::string>{{"listener", "we\"ird\\name\n"}, {"path", "splice"}});
  CHECK(bytes.samples[0].value == static_cast<double>(kLargest));
  CHECK(bytes.samples[1].value == 42);

  const test::ParsedFamily& open = families[1];
  CHECK(open.name == "zcrecv_connections_open");
  CHECK(open.type == "gauge");
  REQUIRE(open.samples.size() == 1);
  CHECK(open.samples[0].labels.at("listener") == "ingest");
  CHECK(open.samples[0].value == 7);

  const test::ParsedFamily& durations = families[2];
  CHECK(durations.name == "zcrecv_publish_duration_seconds");
  CHECK(durations.type == "histogram");
  REQUIRE(durations.samples.size() == 6);
  const char* bounds[] = {"0.005", "0.5", "1", "+Inf"};
  const double cumulative[] = {1, 3, 3, 4};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(durations.samples[i].name == "zcrecv_publish_duration_seconds_bucket");
    CHECK(durations.samples[i].labels.at("le") == bounds[i]);
    CHECK(durations.samples[i].labels.at("listener") == "ingest");
    CHECK(durations.samples[i].value == cumulative[i]);
  }
  CHECK(durations.samples[4].name == "zcrecv_publish_duration_seconds_sum");
  CHECK(durations.samples[4].value == 2.50390625);
  CHECK(durations.samples[5].name == "zcrecv_publish_duration_seconds_count");
  CHECK(durations.samples[5].value == 4);

  const test::ParsedFamily& odd = families[3];
  CHECK(odd.type == "unknown");
  REQUIRE(odd.samples.size() == 4);
  CHECK(odd.samples[0].value == kInfinity);
  CHECK(odd.samples[1].value == -kInfinity);
  CHECK(std::isnan(odd.samples[2].value));
  CHECK(odd.samples[3].value == 1e-7);
}

}  // namespace
}  // namespace zcrecv::metrics
