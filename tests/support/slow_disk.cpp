#include "support/slow_disk.hpp"

#include "support/process.hpp"

namespace zcrecv::test {
namespace {

const std::string& tool() {
  static const std::string path = ZCRECV_SOURCE_DIR "/tests/tools/slow-disk";
  return path;
}

}  // namespace

SlowDisk::SlowDisk(const std::filesystem::path& mount_point, unsigned mbps)
    : mount_point_(mount_point) {
  if (!std::filesystem::exists(tool())) {
    error_ = tool() + " is missing";
    return;
  }
  Process up({tool(), "up", "--mbps", std::to_string(mbps), "--size", "512M",
              mount_point.string()});
  ready_ = up.wait() == 0;
  if (!ready_) {
    error_ = "slow-disk up failed: " + up.stderr_text();
  }
}

SlowDisk::~SlowDisk() {
  if (ready_) {
    Process down({tool(), "down", mount_point_.string()});
    (void)down.wait();
  }
}

std::vector<std::string> SlowDisk::launcher() const {
  return {tool(), "run", mount_point_.string()};
}

}  // namespace zcrecv::test
