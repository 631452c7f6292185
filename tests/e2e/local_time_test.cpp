// The real zcrecv binary with output.time_zone = "local" under TZ=Asia/Kolkata: directories and
// {time} follow the local clock, with its offset, as a daemon and as --once into a directory;
// the UTC default ignores TZ.

#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

constexpr const char* kTemplate = "%Y-%m-%d/%H/{time}.bin";

// `instant` rendered as kTemplate would, `offset` east of UTC, with `suffix` after {time}.
std::string expected_name(Clock::time_point instant, std::chrono::minutes offset,
                          const std::string& suffix) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          instant.time_since_epoch()) %
                      std::chrono::seconds(1);
  const std::time_t local = Clock::to_time_t(instant + offset);
  std::tm fields{};
  ::gmtime_r(&local, &fields);
  char head[64];
  std::strftime(head, sizeof head, "%Y-%m-%d/%H/%Y%m%dT%H%M%S", &fields);
  char fraction[16];
  std::snprintf(fraction, sizeof fraction, ".%06lld", static_cast<long long>(micros.count()));
  return std::string(head) + fraction + suffix + ".bin";
}

// The instant of a "...T%H%M%S.ffffff" {time} in `name`, read as `offset` east of UTC.
Clock::time_point instant_of(const std::string& name, std::chrono::minutes offset) {
  const std::string file = fs::path(name).filename().string();
  std::tm fields{};
  REQUIRE(::strptime(file.c_str(), "%Y%m%dT%H%M%S", &fields) != nullptr);
  const long long micros = std::stoll(file.substr(16, 6));
  return Clock::from_time_t(::timegm(&fields)) - offset + std::chrono::microseconds(micros);
}

enum class Mode { kDaemon, kOnce };

// Runs zcrecv under `tz` with `time_zone` (empty: the default), as a daemon or as `--once` into
// a directory, sends one small stream and returns the one file it wrote.
std::string received_name(const TempDir& dir, const std::string& tz, const std::string& time_zone,
                          Mode mode = Mode::kDaemon) {
  const fs::path config = dir / "zcrecv.toml";
  const fs::path out = dir / "out";
  fs::create_directories(out);
  write_text(config, "[output]\ndirectory = \"" + out.string() + "\"\nname = \"" + kTemplate +
                         "\"\n" +
                         (time_zone.empty() ? "" : "time_zone = \"" + time_zone + "\"\n"));
  std::vector<std::string> argv{"env", "TZ=" + tz, zcrecv_binary(), "-c", config.string(), "-l",
                                "127.0.0.1:0"};
  if (mode == Mode::kOnce) {
    argv.insert(argv.end(), {"--once", "-o", out.string() + "/"});
  }
  Process zcrecv(argv);
  const net::SocketAddress address = listening_address(zcrecv.wait_for_stderr("listening on "));
  const std::vector<std::byte> data = random_bytes(1000, 3);
  Sender sender(connect_blocking(address), data);
  CHECK(sender.join().empty());
  if (mode == Mode::kDaemon) {
    zcrecv.wait_for_stderr(" files, ");
    zcrecv.signal(SIGTERM);
  }
  CHECK(zcrecv.wait() == 0);
  const std::vector<std::string> files = list_files(out);
  REQUIRE(files.size() == 1);
  return files[0];
}

TEST_CASE("local time e2e: names follow TZ=Asia/Kolkata, {time} ends in +0530") {
  if (skipped_because(!fs::exists("/usr/share/zoneinfo/Asia/Kolkata"),
                      "no tzdata (/usr/share/zoneinfo/Asia/Kolkata)")) {
    return;
  }
  TempDir dir;
  const auto before = Clock::now();
  const std::string name = received_name(dir, "Asia/Kolkata", "local");
  const auto after = Clock::now();
  INFO("file ", name);
  const std::chrono::minutes offset{5 * 60 + 30};
  REQUIRE(name.ends_with("+0530.bin"));
  const Clock::time_point opened = instant_of(name, offset);
  CHECK(opened >= std::chrono::floor<std::chrono::microseconds>(before));
  CHECK(opened <= after);
  // The directories are the local date and hour of that same instant.
  CHECK(name == expected_name(opened, offset, "+0530"));
}

TEST_CASE("local time e2e: the UTC default ignores TZ") {
  TempDir dir;
  const std::string name = received_name(dir, "Asia/Kolkata", "");
  INFO("file ", name);
  REQUIRE(name.ends_with("Z.bin"));
  CHECK(name == expected_name(instant_of(name, std::chrono::minutes(0)), std::chrono::minutes(0),
                              "Z"));
}

TEST_CASE("local time e2e: --once into a directory names its file by TZ=Asia/Kolkata too") {
  if (skipped_because(!fs::exists("/usr/share/zoneinfo/Asia/Kolkata"),
                      "no tzdata (/usr/share/zoneinfo/Asia/Kolkata)")) {
    return;
  }
  TempDir dir;
  const std::string name = received_name(dir, "Asia/Kolkata", "local", Mode::kOnce);
  INFO("file ", name);
  const std::chrono::minutes offset{5 * 60 + 30};
  REQUIRE(name.ends_with("+0530.bin"));
  CHECK(name == expected_name(instant_of(name, offset), offset, "+0530"));
}

}  // namespace
}  // namespace zcrecv::test
