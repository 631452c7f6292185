#include "metrics/health.hpp"

namespace zcrecv::metrics {

std::string_view to_string(HealthState state) {
  switch (state) {
    case HealthState::kOk:
      return "ok";
    case HealthState::kDiskFull:
      return "disk_full";
    case HealthState::kStopping:
      return "stopping";
  }
  return "unknown";
}

}  // namespace zcrecv::metrics
