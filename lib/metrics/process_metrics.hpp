#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "metrics/exposition_writer.hpp"

namespace zcrecv::metrics {

/// The process_* families every Prometheus client library exports, read from procfs. A value
/// that could not be read stays empty and its family is left out: an absent series is honest,
/// a zero would lie.
struct ProcessMetrics {
  /// process_cpu_seconds_total: user + system time (/proc/self/stat utime + stime, in clock
  /// ticks).
  std::optional<double> cpu_seconds;
  /// process_resident_memory_bytes: /proc/self/stat rss × page size.
  std::optional<std::uint64_t> resident_memory_bytes;
  /// process_virtual_memory_bytes: /proc/self/stat vsize.
  std::optional<std::uint64_t> virtual_memory_bytes;
  /// process_open_fds: the entries of /proc/self/fd, less the one that reads them.
  std::optional<std::uint64_t> open_fds;
  /// process_max_fds: the soft RLIMIT_NOFILE.
  std::optional<std::uint64_t> max_fds;
  /// process_start_time_seconds, since the Unix epoch: the boot time (/proc/stat btime, or where
  /// /proc/stat cannot be read, the wall clock less CLOCK_BOOTTIME) plus /proc/self/stat
  /// starttime.
  std::optional<double> start_time_seconds;

  /// Reads this process's values. `proc` is where procfs is mounted; tests point it at a
  /// directory of their own. Failures are logged at debug level.
  static ProcessMetrics read(const std::string& proc = "/proc");

  /// Writes a family for each value present.
  void write(ExpositionWriter& writer) const;
};

}  // namespace zcrecv::metrics
