#include "sys/unique_fd.hpp"

#include <unistd.h>

namespace zcrecv::sys {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    reset(other.release());
  }
  return *this;
}

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) {
    // Never retry close() on EINTR: on Linux the descriptor is released before the interruption
    // is reported, so a retry could close a descriptor another thread has just been given.
    ::close(fd_);
  }
  fd_ = fd;
}

}  // namespace zcrecv::sys
