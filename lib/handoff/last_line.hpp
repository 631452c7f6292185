#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace zcrecv::handoff {

/// The last non-empty line of a child's output, kept in bounded memory however much it writes:
/// each line is cut at kMaxLength bytes, carriage returns are dropped, and other control
/// characters become '?' so that the line cannot garble the log it goes to.
class LastLine {
 public:
  static constexpr std::size_t kMaxLength = 512;

  /// Takes the next bytes of the output.
  void feed(std::span<const char> bytes);
  /// The last non-empty line so far; an unterminated last line counts.
  [[nodiscard]] std::string text() const;

 private:
  std::string current_;
  std::string last_;
};

}  // namespace zcrecv::handoff
