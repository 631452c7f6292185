#pragma once

#include <string>

#include "sys/result.hpp"

namespace zcrecv::test {

/// The error's message, or "" for a success: safe in REQUIRE_MESSAGE, whose message doctest may
/// build even when the check passes (with -s).
template <class T>
std::string error_text(const sys::Result<T>& result) {
  return result.ok() ? std::string() : result.error().message();
}

}  // namespace zcrecv::test
