#pragma once

#include <functional>
#include <string_view>

#include "sys/result.hpp"

namespace zcrecv::sys {

/// What for_each_entry says of an entry: its name and its d_type (DT_DIR, DT_REG, ...;
/// DT_UNKNOWN where the filesystem does not fill it: XFS without ftype, some FUSE).
using EntryVisitor = std::function<bool(std::string_view name, unsigned char type)>;

/// Reads the open directory `dir_fd` with getdents64(2), a buffer at a time (memory stays
/// bounded however large the directory), and calls `visit` for every entry but "." and "..", in
/// the order the filesystem gives. `visit` returns false to stop early; the result is then
/// false, else true. Reading moves the descriptor's offset: give each reader its own.
Result<bool> for_each_entry(int dir_fd, const EntryVisitor& visit);

}  // namespace zcrecv::sys
