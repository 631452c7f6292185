#pragma once

#include <filesystem>

namespace zcrecv::test {

/// `chattr +i` on a directory for the life of the object: as root, only the immutable flag stops
/// a daemon from creating and renaming files in it (mode 0500 does not). set() says whether it
/// worked (root, chattr from e2fsprogs, a filesystem with the flag).
class Immutable {
 public:
  explicit Immutable(const std::filesystem::path& path);
  Immutable(const Immutable&) = delete;
  Immutable& operator=(const Immutable&) = delete;
  ~Immutable() { lift(); }

  [[nodiscard]] bool set() const { return set_; }
  /// `chattr -i`, at once rather than at destruction.
  void lift();

 private:
  std::filesystem::path path_;
  bool set_ = false;
};

}  // namespace zcrecv::test
