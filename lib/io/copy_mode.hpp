#pragma once

#include <string_view>

#include "sys/result.hpp"

namespace zcrecv::io {

/// How the user asked bytes to be moved (`--copy-mode`).
enum class CopyMode {
  /// splice where the kernel supports it, read/write where it refuses (the default).
  kAuto,
  /// splice only: a case that would fall back to read/write is an error instead.
  kSplice,
  /// read/write only, for comparison and for filesystems that refuse splice.
  kReadWrite,
};

/// The way bytes actually move for one sink, after the fallbacks were applied.
enum class DataPath {
  /// socket → worker pipe → sink: two splices, no copy through user space.
  kSplice,
  /// socket → sink pipe: one splice (the sink is itself a pipe).
  kSpliceDirect,
  /// read into a user-space buffer, write from it.
  kReadWrite,
};

/// Parses "auto", "splice" or "readwrite".
sys::Result<CopyMode> parse_copy_mode(std::string_view text);
/// The spelling parse_copy_mode accepts.
std::string_view to_string(CopyMode mode);
/// "splice", "splice-direct" or "readwrite", as shown in logs and statistics.
std::string_view to_string(DataPath path);

}  // namespace zcrecv::io
