#pragma once

#include <cstdint>
#include <string>

#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::send {

/// One input of zcsend, ready to be sent as often as needed: a regular file as it is (standard
/// input too, when it is one read from its start), anything else (a pipe, a terminal, a device)
/// copied first into a memfd, which sendfile(2) reads like a file.
class InputFile {
 public:
  /// Opens `path` (`-` is standard input) and takes its size.
  static sys::Result<InputFile> open(const std::string& path);

  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] std::uint64_t size() const { return size_; }
  /// The name as given on the command line.
  [[nodiscard]] const std::string& path() const { return path_; }
  /// True for a regular file given by name, which --remove may delete; false for a copy.
  [[nodiscard]] bool removable() const { return removable_; }

 private:
  InputFile(sys::UniqueFd fd, std::uint64_t size, std::string path, bool removable)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)), removable_(removable) {}

  sys::UniqueFd fd_;
  std::uint64_t size_;
  std::string path_;
  bool removable_;
};

}  // namespace zcrecv::send
