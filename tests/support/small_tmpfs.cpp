#include "support/small_tmpfs.hpp"

#include <doctest/doctest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace zcrecv::test {

SmallTmpfs::SmallTmpfs(const std::filesystem::path& path, std::size_t size)
    : path_(path), size_(size) {
  std::filesystem::create_directories(path);
  mounted_ =
      ::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + std::to_string(size)).c_str()) == 0;
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

std::filesystem::path SmallTmpfs::fill(std::size_t left) const {
  auto filler = path_ / "filler";
  std::ofstream out(filler, std::ios::binary);
  std::vector<char> block(size_ - left, 'x');
  out.write(block.data(), static_cast<std::streamsize>(block.size()));
  REQUIRE_MESSAGE(out.flush().good(), ("cannot fill " + path_.string()));
  return filler;
}

}  // namespace zcrecv::test
