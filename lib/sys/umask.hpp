#pragma once

#include <sys/types.h>

#include <optional>

namespace zcrecv::sys {

/// The process's file mode creation mask, read from /proc/self/status without changing it
/// (umask(2) can only read it by setting it, which races with other threads creating files);
/// std::nullopt where the kernel does not report it.
std::optional<mode_t> process_umask();

}  // namespace zcrecv::sys
