#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace zcrecv::test {

/// A tmpfs of `size` bytes mounted on `path` (created if missing) for the life of the object,
/// so a test can fill a disk. Mounting needs root; mounted() says whether it worked.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::filesystem::path& path, std::size_t size);
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  ~SmallTmpfs();

  [[nodiscard]] bool mounted() const { return mounted_; }
  /// Why the mount failed, for the message of a test that skips itself.
  [[nodiscard]] std::string error() const;
  /// Takes all but `left` bytes of the filesystem with one file, and returns its path: remove it
  /// to give the space back.
  std::filesystem::path fill(std::size_t left) const;

 private:
  std::filesystem::path path_;
  std::size_t size_;
  bool mounted_ = false;
  int error_ = 0;
};

}  // namespace zcrecv::test
