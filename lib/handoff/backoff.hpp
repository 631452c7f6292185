#pragma once

#include <chrono>

namespace zcrecv::handoff {

/// The wait before the first retry of a failed hook.
inline constexpr std::chrono::seconds kRetryMin{1};
/// The longest wait between two runs of a hook that keeps failing.
inline constexpr std::chrono::seconds kRetryMax{300};

/// How long to wait before running a hook again after its `failures`-th failure in a row
/// (1, 2, ...): kRetryMin doubled per earlier failure, at most kRetryMax. There is no last
/// retry: hand-off is at least once, so a hook runs until it succeeds.
std::chrono::nanoseconds backoff_delay(unsigned failures);

}  // namespace zcrecv::handoff
