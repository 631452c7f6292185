#include "retention/retention_policy.hpp"

#include <algorithm>

namespace zcrecv::retention {

std::string_view to_string(RetentionReason reason) {
  switch (reason) {
    case RetentionReason::kMaxAge:
      return "max_age";
    case RetentionReason::kMaxFiles:
      return "max_files";
    case RetentionReason::kMaxBytes:
      return "max_bytes";
  }
  return "max_age";
}

std::optional<RetentionReason> RetentionPolicy::reason(const RetainedFile& file) const {
  // Age is checked first so that a file past max_age is counted as such even when a count limit
  // would also take it: the reason is what the metrics and the log report.
  if (limits_.max_age.count() != 0 && now_ - file.modified > limits_.max_age) {
    return RetentionReason::kMaxAge;
  }
  if (limits_.max_files != 0 && files_ > limits_.max_files) {
    return RetentionReason::kMaxFiles;
  }
  if (limits_.max_bytes != 0 && bytes_ > limits_.max_bytes) {
    return RetentionReason::kMaxBytes;
  }
  return std::nullopt;
}

void RetentionPolicy::deleted(const RetainedFile& file) {
  // Saturating, as a guard: a count that wrapped below zero would make every later file look over
  // the limit, and delete them all.
  files_ -= files_ > 0 ? 1 : 0;
  bytes_ -= std::min(bytes_, file.bytes);
}

}  // namespace zcrecv::retention
