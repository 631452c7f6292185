#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sys/result.hpp"

namespace zcrecv::handoff {

/// The extended attribute that records a file's hand-off: set when the file is created, it
/// travels with it through publish and crash recovery (renames keep attributes).
inline constexpr const char* kAttribute = "user.zcrecv.handoff";

/// Whether a file's hook has yet to succeed.
enum class HandoffState { kPending, kDone };

/// What the attribute holds: the state, and the values of the placeholders that the file's name
/// and size cannot give back after a restart. Stored as `key=value` lines:
///   state=pending
///   listener=ingest
///   peer=10.0.0.5:51234
///   conn=9f3a61c200000000
///   seq=0
struct HandoffRecord {
  HandoffState state = HandoffState::kPending;
  std::string listener;
  std::string peer;
  std::string conn;
  std::uint64_t seq = 0;

  /// The attribute's value. Values never hold a newline (listener names, peers as logged and
  /// connection ids cannot); one that did would be cut there.
  [[nodiscard]] std::string encode() const;
  /// The record in `text`, or std::nullopt when it is not one (a missing key, a bad state or
  /// seq). Unknown keys are ignored, so a later version may add some.
  static std::optional<HandoffRecord> decode(std::string_view text);

  bool operator==(const HandoffRecord&) const = default;
};

/// Sets the attribute of file `fd` to `record`, replacing any earlier value in one call.
sys::Result<void> write_record(int fd, const HandoffRecord& record);

/// The record of file `fd`; std::nullopt when it has no attribute (never handed off). An
/// attribute that does not decode is an error.
sys::Result<std::optional<HandoffRecord>> read_record(int fd);

/// Checks that user extended attributes can be set on the filesystem of directory `dir_fd` (a
/// test attribute is set on the directory and removed). ext4, xfs and btrfs support them, tmpfs
/// from Linux 6.6 on.
sys::Result<void> check_user_xattrs(int dir_fd);

}  // namespace zcrecv::handoff
