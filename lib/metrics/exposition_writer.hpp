#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_set>

#include "metrics/histogram.hpp"

namespace zcrecv::metrics {

/// The Prometheus metric types the text format declares with `# TYPE`.
enum class MetricType { kCounter, kGauge, kHistogram, kUntyped };

/// One label of a sample: name="value". The value is any text (escaped when written).
struct Label {
  std::string_view name;
  std::string_view value;
};

/// Whether `name` is a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool is_valid_metric_name(std::string_view name) noexcept;
/// Whether `name` is a valid label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"
/// (reserved for Prometheus' own labels).
bool is_valid_label_name(std::string_view name) noexcept;

/// Builds a document in the Prometheus text exposition format, version 0.0.4: each family is
/// `# HELP`, `# TYPE`, then its samples, so a family's samples are contiguous by construction.
///
///     ExpositionWriter writer;
///     writer.family("zcrecv_connections_open", MetricType::kGauge, "Connections being received.");
///     writer.sample(std::uint64_t{3}, {{"listener", "ingest"}});
///     std::string body = std::move(writer).take();
///
/// Names and label names are the program's own constants: a bad one, a family written twice,
/// or a sample that does not fit its family's type is a programming error, caught by assert in
/// debug builds (the writer runs inside the event loop, where nothing throws). Label values and
/// help texts may be anything, and are escaped.
class ExpositionWriter {
 public:
  /// The Content-Type of the document.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  /// Starts the family `name`; the samples written next belong to it.
  void family(std::string_view name, MetricType type, std::string_view help);
  /// A sample of the current counter, gauge or untyped family. Integers are written exactly,
  /// whatever their size; doubles in the shortest form that reads back to the same value, or
  /// `+Inf`, `-Inf`, `NaN`.
  void sample(std::uint64_t value, std::initializer_list<Label> labels = {});
  void sample(double value, std::initializer_list<Label> labels = {});
  /// A sample of the current histogram family: `NAME_bucket{…,le="BOUND"}` for every bucket
  /// (cumulative, the last `le="+Inf"`), then `NAME_sum` and `NAME_count`.
  void histogram(const HistogramSnapshot& snapshot, std::initializer_list<Label> labels = {});

  /// The document so far.
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  /// The document, leaving the writer empty.
  [[nodiscard]] std::string take() && { return std::move(text_); }

 private:
  // `NAME{labels,extra} ` before a value; `extra` is the histogram's le label.
  void write_series(std::string_view suffix, std::initializer_list<Label> labels,
                    const Label* extra);

  std::string text_;
  std::string family_;
  MetricType type_ = MetricType::kUntyped;
  // Every family written, to catch one written twice.
  std::unordered_set<std::string> families_;
};

}  // namespace zcrecv::metrics
