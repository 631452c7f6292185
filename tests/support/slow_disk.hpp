#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace zcrecv::test {

/// An ext4 filesystem on a loop device whose writes, from the processes started through
/// launcher(), go at `mbps` MB/s (tests/tools/slow-disk), mounted on
/// `mount_point` for the life of the object: the way to see what a slow disk does to the
/// durable path. Buffered writes still go into the page cache at memory speed; fdatasync, fsync
/// and sync_file_range wait for the throttled device. Needs root and a loop device; ready()
/// says whether it worked.
class SlowDisk {
 public:
  SlowDisk(const std::filesystem::path& mount_point, unsigned mbps);
  SlowDisk(const SlowDisk&) = delete;
  SlowDisk& operator=(const SlowDisk&) = delete;
  ~SlowDisk();

  [[nodiscard]] bool ready() const { return ready_; }
  /// What the tool said when it failed, for the message of a test that skips itself.
  [[nodiscard]] const std::string& error() const { return error_; }
  /// The command that runs a program throttled: prepend it to the program's argv.
  [[nodiscard]] std::vector<std::string> launcher() const;
  [[nodiscard]] const std::filesystem::path& path() const { return mount_point_; }

 private:
  std::filesystem::path mount_point_;
  bool ready_ = false;
  std::string error_;
};

}  // namespace zcrecv::test
