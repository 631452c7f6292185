#pragma once

#include <cstddef>

#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::io {

/// The non-blocking pipe a worker splices through (socket → pipe → file). One per worker, shared
/// by all its connections: the pump leaves it empty between events.
class Pipe {
 public:
  /// The size a worker asks for: large enough that one splice moves a good share of a socket's
  /// receive queue.
  static constexpr std::size_t kDefaultSize = std::size_t{1} << 20;

  /// A pipe2(O_NONBLOCK | O_CLOEXEC) resized to `wanted` bytes (rounded up by the kernel). When
  /// the kernel refuses with EPERM (above /proc/sys/fs/pipe-max-size for an unprivileged user,
  /// or fs.pipe-user-pages-soft exhausted) the pipe keeps its default size.
  static sys::Result<Pipe> create(std::size_t wanted = kDefaultSize);

  [[nodiscard]] int read_fd() const noexcept { return read_end_.get(); }
  [[nodiscard]] int write_fd() const noexcept { return write_end_.get(); }
  /// The bytes the pipe can hold, as granted by the kernel.
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

 private:
  Pipe(sys::UniqueFd read_end, sys::UniqueFd write_end, std::size_t capacity);

  sys::UniqueFd read_end_;
  sys::UniqueFd write_end_;
  std::size_t capacity_;
};

}  // namespace zcrecv::io
