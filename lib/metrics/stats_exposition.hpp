#pragma once

#include <string>

#include "metrics/health.hpp"
#include "metrics/process_metrics.hpp"
#include "metrics/stats.hpp"

namespace zcrecv::metrics {

/// The body of GET /metrics: every `zcrecv_*` family, from `stats` (per listener where the
/// family has a `listener` label), the health `state` and the output `directory`,
/// `zcrecv_build_info`, and the `process_*` families of `process`. Reads the counters as they
/// are, without waiting for anyone; on the daemon's main thread, which owns `stats.listeners`.
std::string expose(const Stats& stats, HealthState state, const DirectoryHealth& directory,
                   const metrics::ProcessMetrics& process);

}  // namespace zcrecv::metrics
