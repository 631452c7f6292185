#include "metrics/histogram.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <utility>

namespace zcrecv::metrics {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

std::vector<double> checked_bounds(std::vector<double> bounds) {
  // +Inf is always the last bucket (the exposition requires it), so callers may list it or not.
  if (!bounds.empty() && bounds.back() == kInfinity) {
    bounds.pop_back();
  }
  if (bounds.empty()) {
    throw std::invalid_argument("histogram: no bucket bound besides +Inf");
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      throw std::invalid_argument(
          fmt::format("histogram: bucket bound {} is not a finite number", bounds[i]));
    }
    if (i > 0 && bounds[i] <= bounds[i - 1]) {
      throw std::invalid_argument(fmt::format(
          "histogram: bucket bounds must increase, {} follows {}", bounds[i], bounds[i - 1]));
    }
  }
  bounds.push_back(kInfinity);
  return bounds;
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(checked_bounds(std::move(upper_bounds))), counts_(upper_bounds_.size()) {}

void Histogram::observe(double value) noexcept {
  if (std::isnan(value)) {
    return;
  }
  // The last bound is +Inf, so every other value finds its bucket.
  // lower_bound finds the first bound >= value: buckets are "less than or equal" (the `le` label),
  // so a value equal to a bound counts in that bound's bucket.
  auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  counts_[static_cast<std::size_t>(bucket - upper_bounds_.begin())].fetch_add(
      1, std::memory_order_relaxed);
  // Relaxed throughout: a snapshot may see a count without its sum for an instant, which a metric
  // read every few seconds tolerates, and an observation costs no fence on the data path.
  sum_.fetch_add(value, std::memory_order_relaxed);
  // A failed compare_exchange_weak reloads `max`; the loop ends once the maximum is at least
  // `value`, whoever put it there.
  double max = max_.load(std::memory_order_relaxed);
  while (value > max && !max_.compare_exchange_weak(max, value, std::memory_order_relaxed)) {
  }
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  snapshot.cumulative_counts.reserve(counts_.size());
  for (const std::atomic<std::uint64_t>& count : counts_) {
    snapshot.count += count.load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(snapshot.count);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  snapshot.max = max_.load(std::memory_order_relaxed);
  return snapshot;
}

double HistogramSnapshot::quantile(double q) const {
  if (count == 0 || std::isnan(q)) {
    return std::nan("");
  }
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(count);
  // The first bucket that reaches the rank and holds an observation (q = 0 asks for the first
  // non-empty bucket, not for an empty one before it).
  std::size_t bucket = 0;
  while (static_cast<double>(cumulative_counts[bucket]) < rank || cumulative_counts[bucket] == 0) {
    ++bucket;
  }
  // In the +Inf bucket there is no upper bound to interpolate towards: the largest value seen is
  // the best answer there is.
  if (bucket == upper_bounds.size() - 1) {
    return max;
  }
  double start = 0;
  double below = 0;
  if (bucket > 0) {
    start = upper_bounds[bucket - 1];
    below = static_cast<double>(cumulative_counts[bucket - 1]);
  } else if (upper_bounds[0] <= 0) {
    // Nothing is known about how far below the first bound the observations go.
    return std::min(upper_bounds[0], max);
  }
  const double inside = static_cast<double>(cumulative_counts[bucket]) - below;
  // Linear interpolation inside the bucket, as Prometheus's histogram_quantile does; capped by the
  // maximum, since no observation is larger.
  const double estimate = start + (upper_bounds[bucket] - start) * ((rank - below) / inside);
  return std::min(estimate, max);
}

std::string HistogramSnapshot::summary() const {
  if (count == 0) {
    return "count=0";
  }
  return fmt::format("count={} p50={:.3g} p99={:.3g} max={:.3g}", count, quantile(0.5),
                     quantile(0.99), max);
}

}  // namespace zcrecv::metrics
