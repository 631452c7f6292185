#pragma once

#include <string>

#include "daemon/health.hpp"
#include "daemon/stats.hpp"
#include "metrics/process_metrics.hpp"

namespace zcrecv::daemon {

/// The body of GET /metrics: every `zcrecv_*` family, from `stats` (per listener where the
/// family has a `listener` label), the health `state` and the output `directory`,
/// `zcrecv_build_info`, and the `process_*` families of `process`. Reads the counters as they
/// are, without waiting for anyone; on the daemon's main thread, which owns `stats.listeners`.
std::string expose(const Stats& stats, HealthState state, const DirectoryHealth& directory,
                   const metrics::ProcessMetrics& process);

}  // namespace zcrecv::daemon
