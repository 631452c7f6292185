#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zcrecv::retention {

/// The `[retention]` limits; 0 = no limit of that kind.
struct RetentionLimits {
  std::uint64_t max_bytes = 0;
  std::uint64_t max_files = 0;
  std::chrono::nanoseconds max_age{0};

  [[nodiscard]] bool enabled() const {
    return max_bytes != 0 || max_files != 0 || max_age.count() != 0;
  }
  bool operator==(const RetentionLimits&) const = default;
};

/// Why a file was deleted; the order is the order in which the reasons are tried.
enum class RetentionReason { kMaxAge, kMaxFiles, kMaxBytes };
inline constexpr std::size_t kRetentionReasons = 3;

/// "max_age", "max_files", "max_bytes": the `reason` of log lines and metric labels.
std::string_view to_string(RetentionReason reason);

/// A published file as retention sees it.
struct RetainedFile {
  /// Relative to the output directory.
  std::string name;
  std::uint64_t bytes = 0;
  /// Its modification time: when its last byte was written, a moment before it was published.
  std::chrono::system_clock::time_point modified;
};

/// The retention rule, applied to the published files oldest first (by modification time, then
/// name): a file goes when it is older than max_age, or while the files are more than
/// max_files, or while their bytes are more than max_bytes. A file that must stay (its hand-off
/// is pending) still counts towards the totals and is stepped over; the next older-first file
/// goes in its place. The first file that none of the limits touches ends the pass: every
/// younger file is younger still, and the totals only fall.
class RetentionPolicy {
 public:
  /// Over `files` files of `bytes` bytes in all, at `now`.
  RetentionPolicy(const RetentionLimits& limits, std::chrono::system_clock::time_point now,
                  std::uint64_t files, std::uint64_t bytes)
      : limits_(limits), now_(now), files_(files), bytes_(bytes) {}

  /// Why `file`, the oldest not yet looked at, must go; std::nullopt: it and every younger file
  /// stay, the pass is over.
  [[nodiscard]] std::optional<RetentionReason> reason(const RetainedFile& file) const;
  /// `file` is gone: it no longer counts.
  void deleted(const RetainedFile& file);

 private:
  RetentionLimits limits_;
  std::chrono::system_clock::time_point now_;
  std::uint64_t files_;
  std::uint64_t bytes_;
};

}  // namespace zcrecv::retention
