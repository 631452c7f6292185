#include "sys/error.hpp"

#include <utility>

namespace zcrecv::sys {

Error::Error(std::error_code code, std::string context, bool describe_code)
    : code_(code), context_(std::move(context)), describe_code_(describe_code) {}

Error Error::from_errno(int err, std::string context) {
  return Error(std::error_code(err, std::system_category()), std::move(context), true);
}

Error Error::invalid(std::string message) {
  return Error(std::make_error_code(std::errc::invalid_argument), std::move(message), false);
}

std::string Error::message() const {
  if (!describe_code_) {
    return context_;
  }
  return context_ + ": " + code_.message();
}

Error Error::with_context(const std::string& outer) const {
  return Error(code_, outer + ": " + context_, describe_code_);
}

}  // namespace zcrecv::sys
