#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace zcrecv::test {

/// One value of a flat JSON object: a string (unescaped), a number, true/false or null.
struct JsonValue {
  enum class Kind { kString, kNumber, kBool, kNull };
  Kind kind = Kind::kNull;
  /// The string, or the number as written, or "true"/"false"/"null".
  std::string text;

  [[nodiscard]] bool is_string() const { return kind == Kind::kString; }
  [[nodiscard]] bool is_number() const { return kind == Kind::kNumber; }
};

/// Parses `text` as one JSON object whose values are all scalars (what zcrecv's JSON log lines
/// are); std::nullopt if it is not valid JSON of that shape (nested values included), or a key
/// repeats. Strict: no trailing commas, no bytes after the object but a newline.
std::optional<std::map<std::string, JsonValue>> parse_flat_json_object(std::string_view text);

}  // namespace zcrecv::test
