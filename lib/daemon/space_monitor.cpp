#include "daemon/space_monitor.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "config/config.hpp"
#include "config/units.hpp"
#include "sys/quoted.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::daemon {

SpaceMonitor::SpaceMonitor(event::EventLoop& loop) : timer_(loop, [this] { check(); }) {}

void SpaceMonitor::watch(std::shared_ptr<output::OutputDirectory> directory,
                         std::optional<std::uint64_t> min_free_space) {
  const bool new_directory = directory_ != directory;
  if (new_directory) {
    if (directory_) {
      // Connections accepted before a reload still write to the old directory (they keep their
      // settings, §4.2), so it is measured for them until the last of them lets go of it.
      previous_.push_back(directory_);
    }
    // The verdict stays the old directory's until judge_and_log, so that leaving a bad one for
    // a good one is logged; the figures are the new one's.
    health_.path = directory->path().string();
    health_.free_bytes.reset();
    health_.min_free_space = 0;
    floor_logged_.clear();
  }
  directory_ = std::move(directory);
  configured_ = min_free_space;
  measure_previous();
  judge_and_log(new_directory);
  // Armed once: a reload that calls watch again must not restart the period.
  if (!timer_.armed()) {
    timer_.arm(kInterval, kInterval);
  }
}

void SpaceMonitor::check() {
  measure_previous();
  if (directory_) {
    judge_and_log(false);
  }
}

void SpaceMonitor::measure_previous() {
  std::erase_if(previous_, [this](const std::weak_ptr<output::OutputDirectory>& weak) {
    std::shared_ptr<output::OutputDirectory> held = weak.lock();
    // Gone, or watched again as the current one: the current directory is measured by judge.
    if (!held || held == directory_) {
      return true;
    }
    // A failure only stops its connections from pausing for space; their writes report it.
    (void)held->measure_space();
    return false;
  });
}

void SpaceMonitor::judge_and_log(bool new_directory) {
  const bool was_bad = health_.problem.has_value();
  health_.problem = judge();
  // Logged on a change only, so that a full disk warns once, not every 100 ms; a new directory
  // that is bad too is logged anew, since it is another path.
  if (health_.problem && (!was_bad || new_directory)) {
    spdlog::warn(
        "output directory {} cannot take data: {}; /health answers 503 disk_full until it can",
        sys::quoted(health_.path), *health_.problem);
  } else if (!health_.problem && was_bad) {
    spdlog::info(
        "output directory {} takes data again: {} bytes free, limits.min_free_space = {}; "
        "/health answers 200 ok",
        sys::quoted(health_.path), health_.free_bytes.value_or(0),
        config::format_size(health_.min_free_space));
  }
}

std::optional<std::string> SpaceMonitor::judge() {
  auto space = directory_->measure_space();
  if (!space) {
    health_.free_bytes.reset();
    return space.error().message();
  }
  health_.free_bytes = space->free_bytes;
  health_.min_free_space = config::min_free_space_for(configured_, space->size_bytes);
  // The automatic floor follows the filesystem's size, which can change (a grown volume): logged
  // whenever the floor it gives changes, not only at a reload.
  if (std::string floor = config::describe_min_free_space(configured_, space->size_bytes);
      floor != floor_logged_) {
    spdlog::info("output directory {}: limits.min_free_space = {}", sys::quoted(health_.path),
                 floor);
    if (health_.min_free_space > space->size_bytes) {
      spdlog::warn(
          "limits.min_free_space ({}) is more than the whole filesystem of {} ({}): no connection "
          "will ever be read",
          config::format_size(health_.min_free_space), sys::quoted(health_.path),
          config::format_size(space->size_bytes));
    }
    floor_logged_ = std::move(floor);
  }
  // Checked after the floor is measured, so /health still shows the figures of a directory that
  // cannot take data for another reason.
  if (space->read_only) {
    return "its filesystem is mounted read-only";
  }
  // A removed directory still has free space, but files created in it could never be found.
  if (!directory_->is_current()) {
    return "it was removed or replaced (create it again and reload with SIGHUP)";
  }
  // AT_EACCESS: the daemon's effective ids are the ones that create files.
  if (auto writable = sys::faccessat(directory_->fd(), ".", W_OK | X_OK, AT_EACCESS); !writable) {
    return "not writable: " + writable.error().message();
  }
  if (space->free_bytes < health_.min_free_space) {
    return std::to_string(space->free_bytes) + " bytes free, below limits.min_free_space = " +
           config::format_size(health_.min_free_space);
  }
  return std::nullopt;
}

}  // namespace zcrecv::daemon
