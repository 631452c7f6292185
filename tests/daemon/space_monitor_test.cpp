#include "daemon/space_monitor.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>

#include "daemon/worker.hpp"
#include "event/event_loop.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::daemon {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kNoFilesystemHasThis = std::numeric_limits<std::uint64_t>::max() / 2;

std::shared_ptr<output::OutputDirectory> open_directory(const fs::path& path) {
  auto directory = output::OutputDirectory::open(path);
  REQUIRE(directory.ok());
  return std::make_shared<output::OutputDirectory>(std::move(*directory));
}

std::unique_ptr<event::EventLoop> make_loop() {
  auto loop = event::EventLoop::create();
  REQUIRE(loop.ok());
  return std::move(*loop);
}

TEST_CASE("space monitor: judges the watched directory against min_free_space at once") {
  test::TempDir temp;
  auto loop = make_loop();
  SpaceMonitor monitor(*loop);
  auto directory = open_directory(temp / "out");

  monitor.watch(directory, std::uint64_t{0});
  const metrics::DirectoryHealth& health = monitor.health();
  CHECK(health.path == (temp / "out").string());
  CHECK_FALSE(health.problem.has_value());
  REQUIRE(health.free_bytes.has_value());
  CHECK(health.min_free_space == 0);
  // The workers read the figures the monitor measured.
  REQUIRE(directory->last_space().has_value());
  CHECK_FALSE(Worker::space_low(*directory, std::uint64_t{0}));

  monitor.watch(directory, kNoFilesystemHasThis);
  REQUIRE(health.problem.has_value());
  CHECK(health.problem->find(" bytes free, below limits.min_free_space = ") != std::string::npos);
  CHECK(health.min_free_space == kNoFilesystemHasThis);
  CHECK(Worker::space_low(*directory, kNoFilesystemHasThis));

  // "auto": at most 256 MiB, and at most 5 % of the filesystem, which any test machine has free.
  monitor.watch(directory, std::nullopt);
  CHECK_FALSE(health.problem.has_value());
  CHECK(health.min_free_space <= config::kAutoMinFreeSpaceCap);
  CHECK(health.min_free_space ==
        config::min_free_space_for(std::nullopt, directory->last_space()->size_bytes));
}

TEST_CASE("space monitor: a removed output directory cannot take data, whatever the floor") {
  test::TempDir temp;
  auto loop = make_loop();
  SpaceMonitor monitor(*loop);
  monitor.watch(open_directory(temp / "out"), std::uint64_t{0});
  CHECK_FALSE(monitor.health().problem.has_value());

  fs::remove(temp / "out");
  monitor.check();
  REQUIRE(monitor.health().problem.has_value());
  CHECK(monitor.health().problem->find("removed or replaced") != std::string::npos);

  // The directory made again and watched (a reload): it can.
  monitor.watch(open_directory(temp / "out"), std::uint64_t{0});
  CHECK_FALSE(monitor.health().problem.has_value());
}

}  // namespace
}  // namespace zcrecv::daemon
