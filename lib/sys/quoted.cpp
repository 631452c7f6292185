#include "sys/quoted.hpp"

namespace zcrecv::sys {

std::string quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte >= 0x7f) {
      // Control bytes and every byte of 0x7f and above are escaped: quoted text may come from a
      // client (a PROXY header, a peer's name), and a log line must stay one line of printable
      // ASCII whatever the client sent, so a reader cannot be fooled by forged lines or terminal
      // escapes.
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace zcrecv::sys
