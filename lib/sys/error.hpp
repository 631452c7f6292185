#pragma once

#include <string>
#include <system_error>

namespace zcrecv::sys {

/// What went wrong and where: an error code plus the call and object it concerns.
///
/// System errors render as `context: strerror` ("splice(conn 12 → pipe): Broken pipe");
/// input errors (`invalid`) carry a complete sentence and render as that sentence alone.
class Error {
 public:
  /// A failed system call; `context` names the call and, where known, the object.
  static Error from_errno(int err, std::string context);
  /// Bad input: `message` is the whole user-facing text.
  static Error invalid(std::string message);

  [[nodiscard]] std::error_code code() const noexcept { return code_; }
  /// The errno value for system errors, 0 for input errors.
  [[nodiscard]] int errno_value() const noexcept { return describe_code_ ? code_.value() : 0; }
  [[nodiscard]] std::string message() const;
  /// The same error, with `outer` put in front of the context ("output file x: open: ...").
  [[nodiscard]] Error with_context(const std::string& outer) const;

 private:
  Error(std::error_code code, std::string context, bool describe_code);

  std::error_code code_;
  std::string context_;
  bool describe_code_;
};

}  // namespace zcrecv::sys
