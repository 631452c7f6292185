#include "io/pipe.hpp"

#include <fcntl.h>

#include <cerrno>
#include <string>
#include <utility>

#include "sys/syscalls.hpp"

namespace zcrecv::io {

Pipe::Pipe(sys::UniqueFd read_end, sys::UniqueFd write_end, std::size_t capacity)
    : read_end_(std::move(read_end)), write_end_(std::move(write_end)), capacity_(capacity) {}

sys::Result<Pipe> Pipe::create(std::size_t wanted) {
  // Both ends non-blocking: SPLICE_F_NONBLOCK covers the splices, but the pump also reads the
  // pipe with read(2) after a failed splice out, which on an empty blocking pipe would stall the
  // worker's loop. Close-on-exec so that no hook inherits the worker's pipe.
  auto fds = sys::pipe2(O_NONBLOCK | O_CLOEXEC);
  if (!fds) {
    return fds.error().with_context("splice pipe");
  }
  // A bigger pipe lets one splice move more: the default pipe holds 16 pages, so each socket to
  // pipe splice would carry 64 KiB at most.
  auto granted = sys::set_pipe_size(fds->write_end.get(), wanted);
  if (!granted) {
    // EPERM is the per-user budget speaking, not a fault: the default-sized pipe still works,
    // each splice just moves less.
    if (granted.error().errno_value() != EPERM) {
      return granted.error().with_context("splice pipe of " + std::to_string(wanted) + " bytes");
    }
    granted = sys::get_pipe_size(fds->write_end.get());
    if (!granted) {
      return granted.error().with_context("splice pipe");
    }
  }
  return Pipe(std::move(fds->read_end), std::move(fds->write_end), *granted);
}

}  // namespace zcrecv::io
