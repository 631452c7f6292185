#include "handoff/handoff_record.hpp"

#include "sys/environment.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::handoff {
namespace {

// A name of its own for the probe, so that checking a directory never touches a real record.
constexpr const char* kProbeAttribute = "user.zcrecv.probe";

void append(std::string& text, std::string_view key, std::string_view value) {
  text += key;
  text += '=';
  // One line per field: a value is cut at its first newline, so no value can forge another field of
  // the record (listener and peer names can come from configuration and clients).
  text += value.substr(0, value.find('\n'));
  text += '\n';
}

}  // namespace

std::string HandoffRecord::encode() const {
  std::string text;
  append(text, "state", state == HandoffState::kPending ? "pending" : "done");
  append(text, "listener", listener);
  append(text, "peer", peer);
  append(text, "conn", conn);
  append(text, "seq", std::to_string(seq));
  return text;
}

std::optional<HandoffRecord> HandoffRecord::decode(std::string_view text) {
  HandoffRecord record;
  bool has_state = false;
  bool has_listener = false;
  bool has_peer = false;
  bool has_conn = false;
  bool has_seq = false;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    const std::size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view key = line.substr(0, equals);
    const std::string_view value = line.substr(equals + 1);
    // An unknown key is skipped, not refused: a record written by a later version with a field more
    // is still read. A known key with a bad value makes the whole record invalid.
    if (key == "state") {
      if (value != "pending" && value != "done") {
        return std::nullopt;
      }
      record.state = value == "pending" ? HandoffState::kPending : HandoffState::kDone;
      has_state = true;
    } else if (key == "listener") {
      record.listener = value;
      has_listener = true;
    } else if (key == "peer") {
      record.peer = value;
      has_peer = true;
    } else if (key == "conn") {
      record.conn = value;
      has_conn = true;
    } else if (key == "seq") {
      const auto seq = sys::parse_decimal<std::uint64_t>(value);
      if (!seq) {
        return std::nullopt;
      }
      record.seq = *seq;
      has_seq = true;
    }
  }
  if (!has_state || !has_listener || !has_peer || !has_conn || !has_seq) {
    return std::nullopt;
  }
  return record;
}

sys::Result<void> write_record(int fd, const HandoffRecord& record) {
  if (auto set = sys::fsetxattr(fd, kAttribute, record.encode()); !set) {
    return std::move(set).error().with_context(kAttribute);
  }
  return {};
}

sys::Result<std::optional<HandoffRecord>> read_record(int fd) {
  // A missing attribute (ENODATA) is no record, which callers tell apart from a record they cannot
  // read: a file without a record was never meant for hand-off.
  auto value = sys::fgetxattr(fd, kAttribute);
  if (!value) {
    return std::move(value).error().with_context(kAttribute);
  }
  if (!value->has_value()) {
    return std::optional<HandoffRecord>();
  }
  auto record = HandoffRecord::decode(**value);
  if (!record) {
    return sys::Error::invalid(std::string(kAttribute) + ": not a hand-off record");
  }
  return std::optional<HandoffRecord>(std::move(*record));
}

sys::Result<void> check_user_xattrs(int dir_fd) {
  // Set and removed on the output directory at start: a filesystem without user attributes (tmpfs
  // as tmpfs(5) describes it, some FUSE and NFS setups) fails here, at start, rather than at the
  // first file (docs/design.md §8.4).
  if (auto set = sys::fsetxattr(dir_fd, kProbeAttribute, "1"); !set) {
    return std::move(set).error().with_context(kProbeAttribute);
  }
  if (auto removed = sys::fremovexattr(dir_fd, kProbeAttribute); !removed) {
    return std::move(removed).error().with_context(kProbeAttribute);
  }
  return {};
}

}  // namespace zcrecv::handoff
