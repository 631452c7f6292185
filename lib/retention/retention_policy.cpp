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

std::vector<RetentionDecision> select_deletions(std::span<const RetainedFile> oldest_first,
                                                const RetentionLimits& limits,
                                                std::chrono::system_clock::time_point now,
                                                const std::function<bool(std::size_t)>& held) {
  std::uint64_t bytes = 0;
  for (const RetainedFile& file : oldest_first) {
    bytes += file.bytes;
  }
  RetentionPolicy policy(limits, now, oldest_first.size(), bytes);
  std::vector<RetentionDecision> decisions;
  for (std::size_t i = 0; i < oldest_first.size(); ++i) {
    const std::optional<RetentionReason> reason = policy.reason(oldest_first[i]);
    if (!reason) {
      break;
    }
    if (held(i)) {
      continue;
    }
    decisions.push_back(RetentionDecision{i, *reason});
    policy.deleted(oldest_first[i]);
  }
  return decisions;
}

}  // namespace zcrecv::retention
