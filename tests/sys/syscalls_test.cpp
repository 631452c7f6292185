#include "sys/syscalls.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

namespace zcrecv::sys {
namespace {

TEST_CASE("read on an empty non-blocking pipe says would-block in its type, not as an error") {
  auto pipe = pipe2(O_NONBLOCK | O_CLOEXEC);
  REQUIRE(pipe.ok());
  std::array<std::byte, 16> buffer{};
  auto got = read(pipe->read_end.get(), buffer);
  REQUIRE(got.ok());
  CHECK_FALSE(got->has_value());

  std::array<std::byte, 3> data{std::byte{1}, std::byte{2}, std::byte{3}};
  auto put = write(pipe->write_end.get(), data);
  REQUIRE(put.ok());
  CHECK(**put == 3);
  got = read(pipe->read_end.get(), buffer);
  REQUIRE(got.ok());
  CHECK(**got == 3);
  CHECK(std::memcmp(buffer.data(), data.data(), 3) == 0);
}

TEST_CASE("a failed call names itself and the errno in its message") {
  auto opened = open("/nonexistent/zcrecv", O_RDONLY);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().errno_value() == ENOENT);
  CHECK(opened.error().message() == "open: No such file or directory");
  CHECK(opened.error().with_context("output x").message() ==
        "output x: open: No such file or directory");
}

TEST_CASE("Error::invalid carries the whole sentence and no errno") {
  auto error = Error::invalid("--listen: bad port");
  CHECK(error.message() == "--listen: bad port");
  CHECK(error.errno_value() == 0);
}

TEST_CASE("set_pipe_size reports the capacity the kernel granted") {
  auto pipe = pipe2(O_CLOEXEC);
  REQUIRE(pipe.ok());
  auto size = set_pipe_size(pipe->write_end.get(), 1 << 20);
  if (size.ok()) {
    CHECK(*size >= (1U << 20));
    CHECK(*get_pipe_size(pipe->read_end.get()) == *size);
  } else {
    // Unprivileged and above /proc/sys/fs/pipe-max-size.
    CHECK(size.error().errno_value() == EPERM);
  }
}

TEST_CASE("send says would-block on a full socket, and EPIPE once the peer has gone") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  UniqueFd sender(fds[0]);
  UniqueFd receiver(fds[1]);
  std::array<std::byte, 4096> data{};
  for (;;) {
    auto sent = send(sender.get(), data, MSG_NOSIGNAL);
    REQUIRE(sent.ok());
    if (!sent->has_value()) {
      break;
    }
  }
  receiver.reset();
  auto sent = send(sender.get(), data, MSG_NOSIGNAL);
  REQUIRE_FALSE(sent.ok());
  CHECK(sent.error().errno_value() == EPIPE);
  CHECK(sent.error().message() == "send: Broken pipe");
}

}  // namespace
}  // namespace zcrecv::sys
