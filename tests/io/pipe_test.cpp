#include "io/pipe.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "sys/syscalls.hpp"

namespace zcrecv::io {
namespace {

std::size_t pipe_max_size() {
  std::ifstream file("/proc/sys/fs/pipe-max-size");
  std::size_t size = 0;
  file >> size;
  return size;
}

TEST_CASE("Pipe::create gives a non-blocking, close-on-exec pipe of the size asked for") {
  auto pipe = Pipe::create();
  REQUIRE(pipe.ok());
  for (int fd : {pipe->read_fd(), pipe->write_fd()}) {
    auto flags = sys::get_status_flags(fd);
    REQUIRE(flags.ok());
    CHECK((*flags & O_NONBLOCK) != 0);
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  }
  auto actual = sys::get_pipe_size(pipe->write_fd());
  REQUIRE(actual.ok());
  CHECK(pipe->capacity() == *actual);
  if (::geteuid() == 0 || Pipe::kDefaultSize <= pipe_max_size()) {
    CHECK(pipe->capacity() == Pipe::kDefaultSize);
  }

  std::byte byte{42};
  auto written = sys::write(pipe->write_fd(), std::span(&byte, 1));
  REQUIRE(written.ok());
  std::byte back{};
  auto got = sys::read(pipe->read_fd(), std::span(&back, 1));
  REQUIRE(got.ok());
  CHECK(**got == 1);
  CHECK(back == byte);
}

TEST_CASE("Pipe::create reports the capacity the kernel rounded the request to") {
  auto pipe = Pipe::create(10000);
  REQUIRE(pipe.ok());
  CHECK(pipe->capacity() == 16384);
  CHECK(*sys::get_pipe_size(pipe->read_fd()) == 16384);
}

// What an unprivileged user gets when asking above pipe-max-size: EPERM from F_SETPIPE_SZ, and a
// pipe of the default size rather than a failure.
std::size_t capacity_above_the_limit() {
  auto pipe = Pipe::create(2 * pipe_max_size());
  return pipe.ok() ? pipe->capacity() : 0;
}

TEST_CASE("Pipe::create keeps the default size when the kernel refuses with EPERM") {
  constexpr std::size_t kKernelDefault = std::size_t{16} * 4096;
  if (::geteuid() != 0) {
    CHECK(capacity_above_the_limit() == kKernelDefault);
    return;
  }
  // Root may exceed pipe-max-size, so the refusal is seen from a child that gave up root.
  pid_t child = ::fork();
  REQUIRE(child != -1);
  if (child == 0) {
    bool refused = ::setgid(65534) == 0 && ::setuid(65534) == 0 &&
                   capacity_above_the_limit() == kKernelDefault;
    ::_exit(refused ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace zcrecv::io
