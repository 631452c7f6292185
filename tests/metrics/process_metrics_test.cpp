#include "metrics/process_metrics.hpp"

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/prometheus_parser.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::metrics {
namespace {

namespace fs = std::filesystem;

using test::write_text;

std::uint64_t soft_fd_limit() {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  return limit.rlim_cur;
}

double ticks_per_second() { return static_cast<double>(::sysconf(_SC_CLK_TCK)); }

TEST_CASE("metrics process: values from a procfs tree, fields numbered as proc(5) says") {
  test::TempDir proc;
  fs::create_directories(proc / "self/fd");
  for (const char* fd : {"0", "1", "2"}) {
    write_text(proc / "self/fd" / fd, "");
  }
  // The command name holds a space and parentheses: fields count from the last ')'.
  write_text(proc / "self/stat",
             "4242 (zc rcv) (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 12345 "
             "104857600 2560 18446744073709551615\n");
  write_text(proc / "stat", "cpu  1 2 3 4\nbtime 1700000000\nprocesses 5\n");

  ProcessMetrics metrics = ProcessMetrics::read(proc.path());
  CHECK(metrics.cpu_seconds == 300 / ticks_per_second());
  CHECK(metrics.virtual_memory_bytes == 104857600);
  CHECK(metrics.resident_memory_bytes == 2560 * static_cast<std::uint64_t>(::getpagesize()));
  CHECK(metrics.open_fds == 3);
  CHECK(metrics.max_fds == soft_fd_limit());
  CHECK(metrics.start_time_seconds == 1700000000 + 12345 / ticks_per_second());
}

TEST_CASE("metrics process: what cannot be read is left out, not written as zero") {
  test::TempDir proc;
  ProcessMetrics nothing = ProcessMetrics::read(proc.path());
  CHECK_FALSE(nothing.cpu_seconds.has_value());
  CHECK_FALSE(nothing.resident_memory_bytes.has_value());
  CHECK_FALSE(nothing.virtual_memory_bytes.has_value());
  CHECK_FALSE(nothing.open_fds.has_value());
  CHECK_FALSE(nothing.start_time_seconds.has_value());
  REQUIRE(nothing.max_fds.has_value());
  ExpositionWriter writer;
  nothing.write(writer);
  CHECK(writer.text() ==
        "# HELP process_max_fds Maximum number of open file descriptors.\n"
        "# TYPE process_max_fds gauge\n"
        "process_max_fds " +
            std::to_string(soft_fd_limit()) + "\n");

  // A stat line cut short, and no btime: only the fields present are read.
  fs::create_directories(proc / "self");
  write_text(proc / "self/stat", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 250 50\n");
  write_text(proc / "stat", "cpu  1 2 3 4\n");
  ProcessMetrics partial = ProcessMetrics::read(proc.path());
  CHECK(partial.cpu_seconds == 300 / ticks_per_second());
  CHECK_FALSE(partial.virtual_memory_bytes.has_value());
  CHECK_FALSE(partial.resident_memory_bytes.has_value());
  CHECK_FALSE(partial.start_time_seconds.has_value());

  // No /proc/stat at all (systemd's ProcSubset=pid): the boot time comes from the clocks.
  write_text(proc / "self/stat",
             "1 (x) S 1 1 1 0 -1 0 0 0 0 0 250 50 0 0 20 0 3 0 0 104857600 2560\n");
  fs::remove(proc / "stat");
  const auto from_clocks = ProcessMetrics::read(proc.path()).start_time_seconds;
  REQUIRE(from_clocks.has_value());
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  timespec since_boot{};
  REQUIRE(::clock_gettime(CLOCK_BOOTTIME, &since_boot) == 0);
  CHECK(*from_clocks ==
        doctest::Approx(now - static_cast<double>(since_boot.tv_sec)).epsilon(1e-8));

  write_text(proc / "self/stat", "garbage\n");
  CHECK_FALSE(ProcessMetrics::read(proc.path()).cpu_seconds.has_value());
}

TEST_CASE("metrics process: this process's values are plausible and parse as Prometheus text") {
  ProcessMetrics metrics = ProcessMetrics::read();
  REQUIRE(metrics.cpu_seconds.has_value());
  REQUIRE(metrics.resident_memory_bytes.has_value());
  REQUIRE(metrics.virtual_memory_bytes.has_value());
  REQUIRE(metrics.open_fds.has_value());
  REQUIRE(metrics.start_time_seconds.has_value());
  CHECK(*metrics.cpu_seconds >= 0);
  CHECK(*metrics.resident_memory_bytes > 0);
  CHECK(*metrics.virtual_memory_bytes >= *metrics.resident_memory_bytes);
  CHECK(*metrics.open_fds >= 3);
  CHECK(metrics.max_fds == soft_fd_limit());
  // The test binary started moments ago; btime is the boot's wall-clock time, and clock
  // adjustments since the boot move the result, hence the wide margin.
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(std::abs(*metrics.start_time_seconds - now) < 3600);

  ExpositionWriter writer;
  metrics.write(writer);
  std::set<std::string> names;
  for (const test::ParsedFamily& family : test::parse_with_prometheus_client(writer.text())) {
    REQUIRE(family.samples.size() == 1);
    names.insert(family.samples[0].name);
  }
  CHECK(names == std::set<std::string>{"process_cpu_seconds_total", "process_open_fds",
                                       "process_max_fds", "process_virtual_memory_bytes",
                                       "process_resident_memory_bytes",
                                       "process_start_time_seconds"});
}

}  // namespace
}  // namespace zcrecv::metrics
