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
  files_ -= files_ > 0 ? 1 : 0;
  bytes_ -= std::min(bytes_, file.bytes);
}

}  // namespace zcrecv::retention
