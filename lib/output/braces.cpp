#include "output/braces.hpp"

#include <string>

namespace zcrecv::output {

sys::Result<Brace> read_brace(std::string_view text, std::size_t at) {
  const char c = text[at];
  // Doubled braces are literal, as in std::format: a name template or hook argument can then
  // contain any text, braces included, without a second escape character.
  if (at + 1 < text.size() && text[at + 1] == c) {
    return Brace{std::nullopt, at + 2};
  }
  if (c == '}') {
    return sys::Error::invalid("'}' at offset " + std::to_string(at) +
                               " has no matching '{' (write }} for a literal brace)");
  }
  // The first '}' closes: placeholder names never contain braces, and nesting is not supported.
  const std::size_t close = text.find('}', at + 1);
  if (close == std::string_view::npos) {
    return sys::Error::invalid("'{' at offset " + std::to_string(at) +
                               " is never closed (write {{ for a literal brace)");
  }
  return Brace{text.substr(at + 1, close - at - 1), close + 1};
}

}  // namespace zcrecv::output
