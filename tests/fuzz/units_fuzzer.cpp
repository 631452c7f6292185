// Sizes, durations and modes on arbitrary text. Whatever parses must format to a spelling that
// parses back to the same value (to_toml and --check-config print values that way).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/units.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace zcrecv;
  const std::string_view text = fuzz::as_text(data, size);

  if (auto bytes = config::parse_size(text, "size")) {
    const std::string printed = config::format_size(*bytes);
    auto again = config::parse_size(printed, "size");
    fuzz::check(again.ok() && *again == *bytes, "format_size parses back", printed, text);
  } else {
    fuzz::check(bytes.error().message().starts_with("size: expected "), "size errors name it",
                bytes.error().message());
  }

  if (auto duration = config::parse_duration(text, "duration")) {
    fuzz::check(duration->count() >= 0, "durations are never negative", text);
    const std::string printed = config::format_duration(*duration);
    auto again = config::parse_duration(printed, "duration");
    fuzz::check(again.ok() && *again == *duration, "format_duration parses back", printed, text);
  } else {
    fuzz::check(duration.error().message().starts_with("duration: expected "),
                "duration errors name it", duration.error().message());
  }

  if (auto mode = config::parse_mode(text, "mode")) {
    fuzz::check(*mode <= 07777, "modes are at most 07777", text);
    const std::string printed = config::format_mode(*mode);
    auto again = config::parse_mode(printed, "mode");
    fuzz::check(again.ok() && *again == *mode, "format_mode parses back", printed, text);
  }

  const std::string quoted = config::toml_string(text);
  for (const char c : quoted) {
    const auto byte = static_cast<unsigned char>(c);
    fuzz::check(byte >= 0x20 && byte != 0x7f, "toml_string leaves no control character", quoted);
  }
  return 0;
}
