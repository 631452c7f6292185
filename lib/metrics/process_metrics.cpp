#include "metrics/process_metrics.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "sys/directory.hpp"
#include "sys/result.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::metrics {
namespace {

// The fields of /proc/self/stat used here, numbered as in proc(5).
constexpr std::size_t kUtimeField = 14;
constexpr std::size_t kStimeField = 15;
constexpr std::size_t kStartTimeField = 22;
constexpr std::size_t kVsizeField = 23;
constexpr std::size_t kRssField = 24;

sys::Result<std::string> read_text(const std::string& path) {
  auto fd = sys::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (!fd) {
    return fd.error().with_context(path);
  }
  std::string text;
  // Read to the end: /proc files are generated as they are read, and nothing promises one read
  // returns the whole text.
  std::array<std::byte, 4096> chunk{};
  for (;;) {
    auto got = sys::read(fd->get(), chunk);
    if (!got) {
      return got.error().with_context(path);
    }
    if (got->value_or(0) == 0) {
      return text;
    }
    text.append(reinterpret_cast<const char*>(chunk.data()), **got);
  }
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// The fields of /proc/self/stat, indexed as proc(5) numbers them (1 is the pid), or an empty
// vector if the text is not such a line. The command name (field 2) is in parentheses and may
// hold spaces and parentheses of its own, so the fields after it start after the last ')'.
std::vector<std::string_view> stat_fields(std::string_view text) {
  auto close = text.rfind(')');
  if (close == std::string_view::npos || close + 2 > text.size()) {
    return {};
  }
  // Fields 1 (pid) and 2 (comm) are not used: placeholders keep the numbering of proc(5).
  std::vector<std::string_view> fields = {{}, {}, {}};
  for (std::string_view rest = text.substr(close + 2); !rest.empty();) {
    auto space = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, space));
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  }
  return fields;
}

std::optional<std::uint64_t> stat_field(const std::vector<std::string_view>& fields,
                                        std::size_t number) {
  if (number >= fields.size()) {
    return std::nullopt;
  }
  return parse_number(fields[number]);
}

// The "btime" line of /proc/stat: when the system booted, in seconds since the epoch.
std::optional<std::uint64_t> boot_time(std::string_view text) {
  constexpr std::string_view kKey = "btime ";
  for (std::string_view rest = text; !rest.empty();) {
    auto newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    if (line.starts_with(kKey)) {
      return parse_number(line.substr(kKey.size()));
    }
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
  }
  return std::nullopt;
}

// When the system booted, in seconds since the epoch, from the clocks: the wall-clock time less
// the time since the boot, which is what the kernel's btime is. For a process that cannot read
// /proc/stat: systemd's ProcSubset=pid, in the shipped unit, hides it.
sys::Result<double> boot_time_from_clocks() {
  auto real = sys::clock_gettime(CLOCK_REALTIME);
  auto since_boot = sys::clock_gettime(CLOCK_BOOTTIME);
  if (!real || !since_boot) {
    return real ? since_boot.error() : real.error();
  }
  return static_cast<double>(real->tv_sec - since_boot->tv_sec) +
         static_cast<double>(real->tv_nsec - since_boot->tv_nsec) / 1e9;
}

// The entries of the directory `path` but "." and "..". In /proc/self/fd the descriptor that
// reads the directory is listed too; it is not counted, being there only while counting.
sys::Result<std::uint64_t> count_descriptors(const std::string& path) {
  auto dir = sys::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (!dir) {
    return dir.error().with_context(path);
  }
  const std::string own_fd = std::to_string(dir->get());
  std::uint64_t count = 0;
  auto read = sys::for_each_entry(dir->get(), [&](std::string_view name, unsigned char /*type*/) {
    if (name != own_fd) {
      ++count;
    }
    return true;
  });
  if (!read) {
    return std::move(read).error().with_context(path);
  }
  return count;
}

std::optional<std::uint64_t> positive_sysconf(int name) {
  long value = ::sysconf(name);
  if (value <= 0) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(value);
}

void log_failure(const sys::Error& error) {
  spdlog::debug("metrics: process metrics: {}", error.message());
}

}  // namespace

ProcessMetrics ProcessMetrics::read(const std::string& proc) {
  ProcessMetrics metrics;

  if (auto limit = sys::getrlimit(RLIMIT_NOFILE)) {
    // The soft limit: it is the one that makes open and accept fail with EMFILE.
    metrics.max_fds = limit->rlim_cur;
  } else {
    log_failure(limit.error());
  }

  if (auto descriptors = count_descriptors(proc + "/self/fd")) {
    metrics.open_fds = *descriptors;
  } else {
    log_failure(descriptors.error());
  }

  auto stat = read_text(proc + "/self/stat");
  if (!stat) {
    log_failure(stat.error());
    return metrics;
  }
  const std::vector<std::string_view> fields = stat_fields(*stat);
  const std::optional<std::uint64_t> ticks_per_second = positive_sysconf(_SC_CLK_TCK);
  const std::optional<std::uint64_t> page_size = positive_sysconf(_SC_PAGESIZE);

  auto utime = stat_field(fields, kUtimeField);
  auto stime = stat_field(fields, kStimeField);
  if (utime && stime && ticks_per_second) {
    metrics.cpu_seconds =
        static_cast<double>(*utime + *stime) / static_cast<double>(*ticks_per_second);
  }
  metrics.virtual_memory_bytes = stat_field(fields, kVsizeField);
  if (auto rss = stat_field(fields, kRssField); rss && page_size) {
    // Field 24 counts pages, not bytes (proc(5)); field 23 is already in bytes.
    metrics.resident_memory_bytes = *rss * *page_size;
  }

  auto start_ticks = stat_field(fields, kStartTimeField);
  std::optional<double> booted;
  if (auto system = read_text(proc + "/stat")) {
    booted = boot_time(*system);
  } else if (auto from_clocks = boot_time_from_clocks()) {
    booted = *from_clocks;
  } else {
    log_failure(from_clocks.error());
  }
  if (booted && start_ticks && ticks_per_second) {
    // Field 22 is the start time in clock ticks since boot (proc(5)): with the boot time it becomes
    // seconds since the epoch, the form process_start_time_seconds has everywhere.
    metrics.start_time_seconds =
        *booted + static_cast<double>(*start_ticks) / static_cast<double>(*ticks_per_second);
  }
  return metrics;
}

void ProcessMetrics::write(ExpositionWriter& writer) const {
  // The names, types and help of the Prometheus client libraries' process collector, so that
  // dashboards and alerts written for them work unchanged. A value that could not be read is left
  // out rather than written as 0.
  if (cpu_seconds) {
    writer.family("process_cpu_seconds_total", MetricType::kCounter,
                  "Total user and system CPU time spent in seconds.");
    writer.sample(*cpu_seconds);
  }
  if (open_fds) {
    writer.family("process_open_fds", MetricType::kGauge, "Number of open file descriptors.");
    writer.sample(*open_fds);
  }
  if (max_fds) {
    writer.family("process_max_fds", MetricType::kGauge,
                  "Maximum number of open file descriptors.");
    writer.sample(*max_fds);
  }
  if (virtual_memory_bytes) {
    writer.family("process_virtual_memory_bytes", MetricType::kGauge,
                  "Virtual memory size in bytes.");
    writer.sample(*virtual_memory_bytes);
  }
  if (resident_memory_bytes) {
    writer.family("process_resident_memory_bytes", MetricType::kGauge,
                  "Resident memory size in bytes.");
    writer.sample(*resident_memory_bytes);
  }
  if (start_time_seconds) {
    writer.family("process_start_time_seconds", MetricType::kGauge,
                  "Start time of the process since unix epoch in seconds.");
    writer.sample(*start_time_seconds);
  }
}

}  // namespace zcrecv::metrics
