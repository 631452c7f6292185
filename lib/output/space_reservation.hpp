#pragma once

#include <cstdint>

#include "sys/result.hpp"

namespace zcrecv::output {

/// Blocks reserved in a file ahead of the bytes written into it (fallocate with
/// FALLOC_FL_KEEP_SIZE), so that a full disk refuses the reservation, before a byte is taken from
/// the socket, rather than the write of bytes already taken: those would have nowhere to go if the
/// stream were then cut. One per open file; the file's size never shows the reservation.
class SpaceReservation {
 public:
  /// The first reservation of a file, one block: a short connection's file needs no more, and
  /// nothing to give back. Each next one doubles, up to kMaxChunk, so a long stream calls
  /// fallocate once per 8 MiB.
  static constexpr std::uint64_t kFirstChunk = 4096;
  static constexpr std::uint64_t kMaxChunk = std::uint64_t{8} << 20;
  /// The smallest reservation tried when the disk is nearly full.
  static constexpr std::uint64_t kMinChunk = 4096;

  /// Reserves blocks in `fd` so that at least part of [written, written + wanted) can be
  /// written without ENOSPC, and returns how many bytes from `written` on are covered: at most
  /// the current chunk, fewer on a nearly full disk, never 0. ENOSPC/EDQUOT when not even kMinChunk
  /// fits. A filesystem without fallocate (ramfs, some FUSE, NFS v3) covers everything: there
  /// the write itself is the first to learn of a full disk, as without reservation.
  sys::Result<std::uint64_t> cover(int fd, std::uint64_t written, std::uint64_t wanted);
  /// Gives back the blocks reserved past `written`, the file's final size (ftruncate to it);
  /// best effort: a file that keeps them wastes space, nothing else. The next cover() starts a
  /// new file.
  void release(int fd, std::uint64_t written);

 private:
  std::uint64_t reserved_end_ = 0;
  std::uint64_t chunk_ = kFirstChunk;
  bool unsupported_ = false;
};

}  // namespace zcrecv::output
