#include "support/small_tmpfs.hpp"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>

namespace zcrecv::test {

SmallTmpfs::SmallTmpfs(const std::filesystem::path& path, const std::string& size) : path_(path) {
  std::filesystem::create_directories(path);
  mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  error_ = mounted_ ? 0 : errno;
}

SmallTmpfs::~SmallTmpfs() {
  if (mounted_) {
    ::umount2(path_.c_str(), MNT_DETACH);
  }
}

std::string SmallTmpfs::error() const {
  return "cannot mount a tmpfs here (" + std::string(std::strerror(error_)) +
         "); run the tests as root to cover disk full";
}

}  // namespace zcrecv::test
