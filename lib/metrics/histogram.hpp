#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

namespace zcrecv::metrics {

/// A Histogram's counts at one moment, as the exposition writes them and a log line sums them
/// up.
struct HistogramSnapshot {
  /// The buckets' upper bounds, ascending; the last is +Inf.
  std::vector<double> upper_bounds;
  /// For each bound, the observations less than or equal to it; the last is `count`.
  std::vector<std::uint64_t> cumulative_counts;
  /// The sum of the observations.
  double sum = 0;
  std::uint64_t count = 0;
  /// The largest observation; -Inf when there is none.
  double max = -std::numeric_limits<double>::infinity();

  /// An estimate of the `q`-quantile (0 ≤ q ≤ 1), by linear interpolation inside the bucket
  /// where the rank q × count falls, as Prometheus' histogram_quantile() computes it from the
  /// same buckets (the first bucket starts at 0 when its bound is positive). Two differences,
  /// both thanks to the exact maximum: the estimate never exceeds `max`, and a rank in the +Inf
  /// bucket gives `max` instead of the largest finite bound. NaN when there is no observation.
  [[nodiscard]] double quantile(double q) const;
  /// "count=1200 p50=0.00312 p99=0.0871 max=0.113" (three significant digits), or "count=0".
  [[nodiscard]] std::string summary() const;
};

/// A Prometheus histogram with fixed buckets, observed from any number of threads.
///
/// observe() is lock-free: relaxed atomic adds to one bucket and the sum, and a compare-exchange
/// loop on the maximum. A snapshot taken while other threads observe is exact for each bucket
/// but may miss, in the sum or the maximum, an observation its buckets already count (or the
/// reverse) — the same trade as the daemon's Stats. The count is the sum of the buckets, so the
/// +Inf bucket always equals it.
class Histogram {
 public:
  /// Buckets of seconds from 1 ms to 60 s, for latencies of disk and network operations.
  static constexpr std::initializer_list<double> kLatencySeconds = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

  /// Buckets with these upper bounds, strictly increasing; a +Inf bucket is always added (a
  /// trailing +Inf in `upper_bounds` is the same one). Throws std::invalid_argument for bounds
  /// that are NaN, not increasing, or empty: they are constants of the program, checked at
  /// start-up.
  explicit Histogram(std::vector<double> upper_bounds);
  // Observed from several threads by reference: it stays where it was made.
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  /// Counts `value` in the first bucket whose bound is ≥ `value`. A NaN is ignored: it would
  /// turn the sum into NaN for good.
  void observe(double value) noexcept;

  [[nodiscard]] HistogramSnapshot snapshot() const;

 private:
  // Finite bounds, then +Inf; counts_ has one entry per bound, not cumulative.
  std::vector<double> upper_bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_;
  std::atomic<double> sum_{0};
  std::atomic<double> max_{-std::numeric_limits<double>::infinity()};
};

}  // namespace zcrecv::metrics
