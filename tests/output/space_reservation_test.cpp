#include "output/space_reservation.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>

#include "output/output_faults.hpp"
#include "support/skip.hpp"
#include "support/small_tmpfs.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::output {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

sys::UniqueFd create(const fs::path& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
  REQUIRE(fd.valid());
  return fd;
}

std::uint64_t allocated(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  CHECK(st.st_size == 0);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

TEST_CASE("SpaceReservation reserves in doubling chunks past the file's size, and gives back the rest") {
  TempDir dir;
  auto fd = create(dir / "f");
  SpaceReservation reservation;
  auto first = reservation.cover(fd.get(), 0, std::uint64_t{1} << 20);
  REQUIRE(first.ok());
  CHECK(*first == SpaceReservation::kFirstChunk);
  // Covered already: no new reservation while the bytes written stay inside it.
  CHECK(*reservation.cover(fd.get(), 100, 10) == SpaceReservation::kFirstChunk - 100);
  auto second = reservation.cover(fd.get(), SpaceReservation::kFirstChunk, std::uint64_t{1} << 20);
  REQUIRE(second.ok());
  CHECK(*second == 2 * SpaceReservation::kFirstChunk);
  // The size is what was written (nothing yet); the blocks are there.
  CHECK(allocated(fd.get()) >= 3 * SpaceReservation::kFirstChunk);
  reservation.release(fd.get(), 0);
  CHECK(allocated(fd.get()) == 0);
}

TEST_CASE("SpaceReservation on a full disk refuses with ENOSPC, and takes what is left first") {
  TempDir dir;
  test::SmallTmpfs disk(dir / "disk", std::size_t{4} << 20);
  if (test::skipped_because(!disk.mounted(), "a small tmpfs: " + disk.error())) {
    return;
  }
  const auto filler = disk.fill(std::size_t{64} << 10);
  auto fd = create(dir / "disk" / "f");
  SpaceReservation reservation;
  // Ask for far more than is left, past the first chunks: what fits is reserved.
  std::uint64_t covered = 0;
  for (int i = 0; i < 32; ++i) {
    auto more = reservation.cover(fd.get(), covered, std::uint64_t{8} << 20);
    if (!more.ok()) {
      CHECK(is_disk_full(more.error()));
      break;
    }
    covered += *more;
  }
  CHECK(covered > 0);
  CHECK(covered <= (std::uint64_t{64} << 10));
  // Given back, the space serves another file.
  reservation.release(fd.get(), 0);
  SpaceReservation other;
  auto other_fd = create(dir / "disk" / "g");
  CHECK(other.cover(other_fd.get(), 0, 4096).ok());
  fs::remove(filler);
}

}  // namespace
}  // namespace zcrecv::output
