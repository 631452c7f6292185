#include "handoff/last_line.hpp"

namespace zcrecv::handoff {

void LastLine::feed(std::span<const char> bytes) {
  for (const char c : bytes) {
    if (c == '\n') {
      // Empty lines do not replace the last one: a hook that ends its output with a blank line
      // still shows its last words.
      if (!current_.empty()) {
        last_.swap(current_);
        current_.clear();
      }
      continue;
    }
    // '\r' of "\r\n" endings (and of progress meters redrawing a line) is dropped.
    if (c == '\r' || current_.size() >= kMaxLength) {
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    // Control bytes become '?': the line ends up in the daemon's log, which must stay one line and
    // free of terminal escapes.
    current_ += byte < 0x20 || byte == 0x7f ? '?' : c;
  }
}

std::string LastLine::text() const { return current_.empty() ? last_ : current_; }

}  // namespace zcrecv::handoff
