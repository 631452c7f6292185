#include "support/slow_disk.hpp"

#include <doctest/doctest.h>

#include "support/process.hpp"

namespace zcrecv::test {
namespace {

const std::string& tool() {
  static const std::string path = ZCRECV_SOURCE_DIR "/tests/tools/slow-disk";
  return path;
}

}  // namespace

SlowDisk::SlowDisk(const std::filesystem::path& mount_point, unsigned mbps)
    : SlowDisk(mount_point, mbps, "") {}

SlowDisk::SlowDisk(const std::filesystem::path& mount_point, unsigned mbps,
                   const std::string& room)
    : mount_point_(mount_point) {
  std::vector<std::string> argv{tool(), "up", "--mbps", std::to_string(mbps)};
  if (room.empty()) {
    argv.insert(argv.end(), {"--size", "512M"});
  } else {
    // Small, so that the filesystem's own metadata leaves most of the room to the test.
    argv.insert(argv.end(), {"--size", "64M", "--room", room});
  }
  argv.push_back(mount_point.string());
  Process up(argv);
  ready_ = up.wait() == 0;
  if (!ready_) {
    // The tool undoes its own steps when one fails; `down` is asked too, so that nothing it may
    // have recorded (mount, loop device, cgroup) outlives the test even then.
    error_ = "slow-disk up failed: " + up.stderr_text();
    Process down({tool(), "down", mount_point_.string()});
    (void)down.wait();
  }
}

SlowDisk::~SlowDisk() {
  if (ready_) {
    Process down({tool(), "down", mount_point_.string()});
    if (down.wait() != 0) {
      // A mount, loop device or cgroup left behind breaks the next test run: a failure.
      FAIL_CHECK("slow-disk down " << mount_point_.string() << " failed: " << down.stderr_text());
    }
  }
}

std::vector<std::string> SlowDisk::launcher() const {
  return {tool(), "run", mount_point_.string()};
}

}  // namespace zcrecv::test
