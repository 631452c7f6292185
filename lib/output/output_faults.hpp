#pragma once

// The output faults that pass with time (docs/design.md §5.2): on them a receive stops reading,
// keeps the bytes it already took, and tries again, in the daemon and in --once alike.

#include <cerrno>

#include "sys/error.hpp"

namespace zcrecv::output {

/// No space on the output filesystem, or the writer's quota is used up.
inline bool is_disk_full(const sys::Error& error) {
  return error.errno_value() == ENOSPC || error.errno_value() == EDQUOT;
}

/// The process or the system is out of descriptors: like a full disk, it passes.
inline bool is_out_of_descriptors(const sys::Error& error) {
  return error.errno_value() == EMFILE || error.errno_value() == ENFILE;
}

}  // namespace zcrecv::output
