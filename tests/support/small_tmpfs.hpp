#pragma once

#include <filesystem>
#include <string>

namespace zcrecv::test {

/// A tmpfs of `size` ("2m") mounted on `path` (created if missing) for the life of the object,
/// so a test can fill a disk. Mounting needs root; mounted() says whether it worked.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::filesystem::path& path, const std::string& size);
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  ~SmallTmpfs();

  [[nodiscard]] bool mounted() const { return mounted_; }
  /// Why the mount failed, for the message of a test that skips itself.
  [[nodiscard]] std::string error() const;

 private:
  std::filesystem::path path_;
  bool mounted_ = false;
  int error_ = 0;
};

}  // namespace zcrecv::test
