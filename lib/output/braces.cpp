#include "output/braces.hpp"

#include <string>

namespace zcrecv::output {

sys::Result<Brace> read_brace(std::string_view text, std::size_t at) {
  const char c = text[at];
  if (at + 1 < text.size() && text[at + 1] == c) {
    return Brace{std::nullopt, at + 2};
  }
  if (c == '}') {
    return sys::Error::invalid("'}' at offset " + std::to_string(at) +
                               " has no matching '{' (write }} for a literal brace)");
  }
  const std::size_t close = text.find('}', at + 1);
  if (close == std::string_view::npos) {
    return sys::Error::invalid("'{' at offset " + std::to_string(at) +
                               " is never closed (write {{ for a literal brace)");
  }
  return Brace{text.substr(at + 1, close - at - 1), close + 1};
}

}  // namespace zcrecv::output
