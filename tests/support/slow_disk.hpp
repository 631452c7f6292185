#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace zcrecv::test {

/// An ext4 filesystem on a loop device (tests/tools/slow-disk), mounted on `mount_point` for the
/// life of the object, whose writes from the processes started through launcher() go at `mbps`
/// MB/s: the way to see what a slow disk does to the durable path. Buffered writes still go into
/// the page cache at memory speed; fdatasync, fsync and sync_file_range wait for the throttled
/// device. Needs root, a loop device and the blkio/io cgroup controller; ready() says whether it
/// worked. Whatever was set up is torn down, also when setting up failed midway.
class SlowDisk {
 public:
  SlowDisk(const std::filesystem::path& mount_point, unsigned mbps);
  /// A failing disk: once `room` (e.g. "4M") bytes reached the device, every further write to it
  /// fails, so fdatasync and fsync fail (ENOSPC or EIO) while buffered writes still succeed.
  SlowDisk(const std::filesystem::path& mount_point, unsigned mbps, const std::string& room);
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
