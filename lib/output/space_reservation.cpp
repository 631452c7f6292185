#include "output/space_reservation.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "sys/syscalls.hpp"

namespace zcrecv::output {

sys::Result<std::uint64_t> SpaceReservation::cover(int fd, std::uint64_t written,
                                                   std::uint64_t wanted) {
  constexpr std::uint64_t kEverything = std::numeric_limits<std::uint64_t>::max();
  if (unsupported_) {
    return kEverything;
  }
  if (reserved_end_ > written) {
    return reserved_end_ - written;
  }
  std::uint64_t length = std::max(std::min(wanted, chunk_), kMinChunk);
  for (;;) {
    // FALLOC_FL_KEEP_SIZE allocates the blocks without moving the end of the file, so the file's
    // size stays what was written: a reader, recovery's cut and the published size never see the
    // reservation. The reservation starts at `written`, where the next byte goes.
    auto reserved = sys::fallocate(fd, FALLOC_FL_KEEP_SIZE, written, length);
    if (reserved) {
      reserved_end_ = written + length;
      // Doubling up to the cap: a short connection costs one small block, and a long stream calls
      // fallocate about once per kMaxChunk bytes (docs/design.md §4.5).
      chunk_ = std::min(chunk_ * 2, kMaxChunk);
      return length;
    }
    const int err = reserved.error().errno_value();
    if (err == EOPNOTSUPP || err == ENOSYS) {
      // The verdict is the filesystem's and holds for this file's life.
      unsupported_ = true;
      return kEverything;
    }
    // ENOSPC and EDQUOT are the only errors worth a smaller request. Even one block refused means
    // the disk is full: the caller pauses the stream with its bytes still in the socket.
    if ((err != ENOSPC && err != EDQUOT) || length <= kMinChunk) {
      return std::move(reserved).error();
    }
    // Nearly full: take what is left, in smaller steps, before calling the disk full.
    length = std::max(length / 4, kMinChunk);
  }
}

void SpaceReservation::release(int fd, std::uint64_t written) {
  // Whole blocks past the last one written; the block holding the end of the file is in use.
  const std::uint64_t used = (written + kMinChunk - 1) / kMinChunk * kMinChunk;
  if (reserved_end_ > used) {
    // Blocks reserved past the end of a file stay allocated until it is truncated: a punched
    // hole would not do, ext4 ignores one past i_size. A truncate to the same size frees them on
    // ext4, XFS and tmpfs. Failure only wastes the space.
    (void)sys::ftruncate(fd, static_cast<off_t>(written));
  }
  reserved_end_ = 0;
  chunk_ = kFirstChunk;
}

}  // namespace zcrecv::output
