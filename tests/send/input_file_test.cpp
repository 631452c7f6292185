#include "send/input_file.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "support/files.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::send {
namespace {

std::string content_of(const InputFile& input) {
  std::string text(input.size(), '\0');
  REQUIRE(::pread(input.fd(), text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
  return text;
}

TEST_CASE("input file: a regular file is sent as it is and may be removed") {
  test::TempDir dir;
  test::write_text(dir / "a", "hello");
  auto input = InputFile::open((dir / "a").string());
  REQUIRE(input.ok());
  CHECK(input->size() == 5);
  CHECK(input->removable());
  CHECK(content_of(*input) == "hello");
}

TEST_CASE("input file: a FIFO is copied into memory whole, so it can be sent again") {
  test::TempDir dir;
  const auto fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string text(700'000, 'z');
  std::thread writer([&] {
    sys::UniqueFd end(::open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
    for (std::size_t done = 0; done < text.size();) {
      done += static_cast<std::size_t>(::write(end.get(), text.data() + done, text.size() - done));
    }
  });
  auto input = InputFile::open(fifo.string());
  writer.join();
  REQUIRE(input.ok());
  CHECK(input->size() == text.size());
  CHECK_FALSE(input->removable());
  CHECK(content_of(*input) == text);
}

TEST_CASE("input file: a missing file and a directory are errors naming the path") {
  test::TempDir dir;
  auto missing = InputFile::open((dir / "none").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() == (dir / "none").string() + ": open: No such file or directory");
  auto directory = InputFile::open(dir.path().string());
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.error().message() == dir.path().string() + ": is a directory");
}

}  // namespace
}  // namespace zcrecv::send
