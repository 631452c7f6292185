#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "sys/result.hpp"

namespace zcrecv::output {

/// What a '{' or '}' starts in a template — a file name template, an `on_publish` argument:
/// "{{" and "}}" are a literal brace, "{NAME}" is a placeholder.
struct Brace {
  /// The placeholder's name; std::nullopt for a literal brace (the one at the offset read).
  std::optional<std::string_view> placeholder;
  /// The offset just past what was read.
  std::size_t end = 0;
};

/// Reads the brace at `text[at]`, which must be '{' or '}'. Errors say what is wrong, where,
/// and how to write a literal brace: `'{' at offset 2 is never closed (write {{ for a literal
/// brace)`. The placeholder's name is not checked: each template knows its own.
sys::Result<Brace> read_brace(std::string_view text, std::size_t at);

}  // namespace zcrecv::output
