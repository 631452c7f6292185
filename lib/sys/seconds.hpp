#pragma once

#include <chrono>
#include <string>

namespace zcrecv::sys {

/// `duration` in seconds, as logs and metrics give it (a JSON number, a Prometheus sample).
double seconds(std::chrono::nanoseconds duration);

/// `duration` as a message shows it: seconds with three decimals and the unit ("1.250 s").
/// Configuration values are spelled as they are read instead (config::format_duration, "1s250ms").
std::string seconds_text(std::chrono::nanoseconds duration);

}  // namespace zcrecv::sys
