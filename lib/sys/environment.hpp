#pragma once

// Reading what a service manager passes through the environment (NOTIFY_SOCKET, LISTEN_FDS,
// WATCHDOG_USEC, ...): a variable's value, and a whole decimal number in it.

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace zcrecv::sys {

/// The value of environment variable `name`, or std::nullopt when it is unset.
std::optional<std::string_view> environment_variable(const char* name);

/// `text` as a whole decimal number of type Integer, nothing before or after it; std::nullopt
/// for anything else, including a value out of Integer's range.
template <class Integer>
std::optional<Integer> parse_decimal(std::string_view text) {
  Integer value{};
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end) {
    return std::nullopt;
  }
  return value;
}

}  // namespace zcrecv::sys
