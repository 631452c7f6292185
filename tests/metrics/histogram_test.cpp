#include "metrics/histogram.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace zcrecv::metrics {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

TEST_CASE("Histogram counts a value in the first bucket whose bound is at least the value") {
  Histogram histogram({1, 2, 5});
  for (double value : {0.5, 1.0, 1.5, 5.0, 7.0, -3.0}) {
    histogram.observe(value);
  }
  HistogramSnapshot snapshot = histogram.snapshot();
  CHECK(snapshot.upper_bounds == std::vector<double>{1, 2, 5, kInfinity});
  CHECK(snapshot.cumulative_counts == std::vector<std::uint64_t>{3, 4, 5, 6});
  CHECK(snapshot.count == 6);
  CHECK(snapshot.sum == 12);
  CHECK(snapshot.max == 7);
}

TEST_CASE("Histogram ignores NaN and starts empty") {
  Histogram histogram(Histogram::kLatencySeconds);
  histogram.observe(std::nan(""));
  HistogramSnapshot snapshot = histogram.snapshot();
  CHECK(snapshot.upper_bounds.size() == Histogram::kLatencySeconds.size() + 1);
  CHECK(snapshot.upper_bounds.back() == kInfinity);
  CHECK(snapshot.count == 0);
  CHECK(snapshot.cumulative_counts.back() == 0);
  CHECK(snapshot.sum == 0);
  CHECK(snapshot.max == -kInfinity);
  CHECK(std::isnan(snapshot.quantile(0.5)));
  CHECK(snapshot.summary() == "count=0");
}

TEST_CASE("Histogram bounds: a trailing +Inf is the implicit one, bad bounds throw") {
  Histogram with_infinity({0.5, kInfinity});
  CHECK(with_infinity.snapshot().upper_bounds == std::vector<double>{0.5, kInfinity});
  CHECK_THROWS_AS(Histogram({}), std::invalid_argument);
  CHECK_THROWS_AS(Histogram({kInfinity}), std::invalid_argument);
  CHECK_THROWS_AS(Histogram({1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(Histogram({2, 1}), std::invalid_argument);
  CHECK_THROWS_AS(Histogram({1, std::nan(""), 3}), std::invalid_argument);
  CHECK_THROWS_AS(Histogram({-kInfinity, 1}), std::invalid_argument);
}

TEST_CASE("Histogram quantile interpolates inside the bucket and never passes the maximum") {
  Histogram histogram({1, 2, 4});
  // Four observations in (0, 1], four in (1, 2], two in (2, 4].
  for (double value : {0.5, 0.5, 0.5, 0.5, 1.5, 1.5, 1.5, 1.5, 3.0, 3.0}) {
    histogram.observe(value);
  }
  HistogramSnapshot snapshot = histogram.snapshot();
  CHECK(snapshot.quantile(0) == 0);
  CHECK(snapshot.quantile(0.25) == doctest::Approx(0.625));  // rank 2.5 of 4 in [0, 1]
  CHECK(snapshot.quantile(0.5) == doctest::Approx(1.25));    // rank 1 of 4 in [1, 2]
  // Rank 1.9 of 2 in [2, 4] interpolates to 3.9, above the largest observation.
  CHECK(snapshot.quantile(0.99) == 3);
  CHECK(snapshot.quantile(1) == 3);
  CHECK(snapshot.summary() == "count=10 p50=1.25 p99=3 max=3");

  // A rank in the +Inf bucket is answered with the maximum, not the largest finite bound.
  histogram.observe(100);
  snapshot = histogram.snapshot();
  CHECK(snapshot.quantile(1) == 100);
  CHECK(snapshot.quantile(0.5) == doctest::Approx(1 + 1.5 / 4));
}

TEST_CASE("Histogram quantile with a first bound at or below zero answers that bound") {
  Histogram histogram({0, 10});
  histogram.observe(-5);
  histogram.observe(-1);
  CHECK(histogram.snapshot().quantile(0.5) == -1);
  histogram.observe(-20);
  CHECK(histogram.snapshot().quantile(0.5) == -1);
}

TEST_CASE("Histogram observe from several threads loses no observation") {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50'000;
  // Powers of two: every partial sum is exact, so the total can be compared exactly.
  const double values[] = {0.25, 0.5, 1, 2};
  Histogram histogram({0.25, 0.5, 1});
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&histogram, &values, t] {
      for (int i = 0; i < kPerThread; ++i) {
        histogram.observe(values[(i + t) % 4]);
      }
    });
  }
  // Snapshots taken meanwhile are consistent per bucket: cumulative, ending at the count.
  for (int i = 0; i < 100; ++i) {
    HistogramSnapshot during = histogram.snapshot();
    for (std::size_t b = 1; b < during.cumulative_counts.size(); ++b) {
      CHECK(during.cumulative_counts[b] >= during.cumulative_counts[b - 1]);
    }
    CHECK(during.cumulative_counts.back() == during.count);
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  HistogramSnapshot snapshot = histogram.snapshot();
  constexpr std::uint64_t kQuarter = kThreads * kPerThread / 4;
  CHECK(snapshot.count == 4 * kQuarter);
  CHECK(snapshot.cumulative_counts ==
        std::vector<std::uint64_t>{kQuarter, 2 * kQuarter, 3 * kQuarter, 4 * kQuarter});
  CHECK(snapshot.sum == static_cast<double>(kQuarter) * (0.25 + 0.5 + 1 + 2));
  CHECK(snapshot.max == 2);
}

}  // namespace
}  // namespace zcrecv::metrics
