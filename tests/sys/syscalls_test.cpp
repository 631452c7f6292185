#include "sys/syscalls.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "support/temp_dir.hpp"

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

TEST_CASE("fgetxattr says \"no such attribute\" in its type, and reads back what fsetxattr set") {
  test::TempDir dir;
  std::ofstream(dir / "f") << "x";
  auto file = open((dir / "f").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(file.ok());
  auto none = fgetxattr(file->get(), "user.zcrecv.test");
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  REQUIRE(fsetxattr(file->get(), "user.zcrecv.test", "a=1\n").ok());
  auto got = fgetxattr(file->get(), "user.zcrecv.test");
  REQUIRE(got.ok());
  CHECK(**got == "a=1\n");
  REQUIRE(fremovexattr(file->get(), "user.zcrecv.test").ok());
  CHECK_FALSE(fgetxattr(file->get(), "user.zcrecv.test")->has_value());
}

TEST_CASE("openat2 with RESOLVE_NO_SYMLINKS refuses a symlink on the way") {
  test::TempDir dir;
  std::filesystem::create_directory(dir / "real");
  std::ofstream(dir / "real" / "f") << "x";
  std::filesystem::create_directory_symlink(dir / "real", dir / "link");
  auto root = open(dir.path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  REQUIRE(root.ok());
  const std::uint64_t resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  CHECK(openat2(root->get(), "real/f", O_RDONLY | O_CLOEXEC, resolve).ok());
  auto refused = openat2(root->get(), "link/f", O_RDONLY | O_CLOEXEC, resolve);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().errno_value() == ELOOP);
  CHECK_FALSE(openat2(root->get(), "../x", O_RDONLY | O_CLOEXEC, resolve).ok());
}

TEST_CASE("a pidfd becomes readable when its child exits, and waitid on it reaps the child") {
  pid_t pid = 0;
  std::array<char*, 4> argv{const_cast<char*>("/bin/sh"), const_cast<char*>("-c"),
                            const_cast<char*>("exit 7"), nullptr};
  REQUIRE(::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), nullptr) == 0);
  auto pidfd = pidfd_open(pid);
  REQUIRE(pidfd.ok());
  pollfd entry{pidfd->get(), POLLIN, 0};
  REQUIRE(*poll(std::span(&entry, 1), 10000) == 1);
  auto status = waitid(P_PIDFD, static_cast<id_t>(pidfd->get()), WEXITED);
  REQUIRE(status.ok());
  REQUIRE(status->has_value());
  CHECK((*status)->si_code == CLD_EXITED);
  CHECK((*status)->si_status == 7);
  // Reaped: nothing is left to wait for.
  CHECK_FALSE(waitid(P_PIDFD, static_cast<id_t>(pidfd->get()), WEXITED).ok());
}

}  // namespace
}  // namespace zcrecv::sys
