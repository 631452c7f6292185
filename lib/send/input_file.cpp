#include "send/input_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <optional>
#include <span>

#include "sys/syscalls.hpp"

namespace zcrecv::send {
namespace {

// Copies everything `source` holds into a new memfd. A stream can be read only once, and an
// attempt that fails must send the same bytes again; read/write rather than splice because the
// source may be a terminal or a socket, and the copy is made once whatever the attempts.
sys::Result<sys::UniqueFd> copy_to_memory(int source, const std::string& path) {
  // A memfd rather than a temporary file: nothing to clean up on a crash, no directory to choose,
  // and sendfile reads it like any file. It lives in RAM (or swap), so a huge pipe costs memory.
  auto memory = sys::memfd_create("zcsend-input", MFD_CLOEXEC);
  if (!memory) {
    return std::move(memory).error().with_context(path);
  }
  std::array<std::byte, 256 * 1024> buffer{};
  for (;;) {
    auto got = sys::read(source, buffer);
    if (!got) {
      return std::move(got).error().with_context(path);
    }
    // A non-blocking standard input (left so by a parent) is waited for, not taken for its end.
    if (!got->has_value()) {
      pollfd ready{.fd = source, .events = POLLIN, .revents = 0};
      if (auto waited = sys::poll(std::span(&ready, 1), -1); !waited) {
        return std::move(waited).error().with_context(path);
      }
      continue;
    }
    if (**got == 0) {
      return memory;
    }
    std::span<const std::byte> rest(buffer.data(), **got);
    while (!rest.empty()) {
      auto put = sys::write(memory->get(), rest);
      if (!put) {
        return std::move(put).error().with_context(path + ": copy into memory");
      }
      rest = rest.subspan(put->value_or(0));
    }
  }
}

// Standard input as it is when it is a regular file read from its start (`zcsend - < file`):
// sendfile reads it at explicit offsets, as often as needed. std::nullopt when it must be copied.
sys::Result<std::optional<sys::UniqueFd>> stdin_as_file() {
  auto status = sys::fstat(STDIN_FILENO);
  if (!status) {
    return std::move(status).error().with_context("standard input");
  }
  if (!S_ISREG(status->st_mode)) {
    return std::nullopt;
  }
  // ESPIPE cannot happen on a regular file; any other failure means "copy it".
  auto position = sys::lseek(STDIN_FILENO, 0, SEEK_CUR);
  if (!position || *position != 0) {
    return std::nullopt;
  }
  auto copy = sys::dup(STDIN_FILENO);
  if (!copy) {
    return std::move(copy).error().with_context("standard input");
  }
  return std::optional<sys::UniqueFd>(std::move(*copy));
}

}  // namespace

sys::Result<InputFile> InputFile::open(const std::string& path) {
  sys::UniqueFd fd;
  if (path == "-") {
    auto direct = stdin_as_file();
    if (!direct) {
      return std::move(direct).error();
    }
    if (direct->has_value()) {
      fd = std::move(**direct);
    } else {
      // Standard input stays open (and owned by the process): only its copy is kept.
      auto copy = copy_to_memory(STDIN_FILENO, "standard input");
      if (!copy) {
        return std::move(copy).error();
      }
      fd = std::move(*copy);
    }
  } else {
    // O_NOCTTY: an input that is a terminal device must not become zcsend's controlling terminal.
    auto opened = sys::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (!opened) {
      return std::move(opened).error().with_context(path);
    }
    fd = std::move(*opened);
  }
  auto status = sys::fstat(fd.get());
  if (!status) {
    return std::move(status).error().with_context(path);
  }
  // The size is taken once, here: the stream sent is exactly this many bytes, and the receipt must
  // count them. A file that grows meanwhile sends its first `size` bytes; one that shrinks fails.
  const bool regular = S_ISREG(status->st_mode);
  if (path != "-" && !regular) {
    if (S_ISDIR(status->st_mode)) {
      return sys::Error::invalid(path + ": is a directory");
    }
    auto copy = copy_to_memory(fd.get(), path);
    if (!copy) {
      return std::move(copy).error();
    }
    fd = std::move(*copy);
    status = sys::fstat(fd.get());
    if (!status) {
      return std::move(status).error().with_context(path);
    }
  }
  return InputFile(std::move(fd), static_cast<std::uint64_t>(status->st_size), path,
                   path != "-" && regular);
}

}  // namespace zcrecv::send
