#include "metrics/http_request.hpp"

namespace zcrecv::metrics {
namespace {

// tchar of RFC 9110 §5.6.2, the characters of a method name.
bool is_token_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view text) noexcept {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    if (!is_token_char(c)) {
      return false;
    }
  }
  return true;
}

// An origin-form target: "/" then visible ASCII (no space, no control character).
bool is_origin_form(std::string_view text) noexcept {
  if (text.empty() || text[0] != '/') {
    return false;
  }
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::size_t> find_request_head_end(std::string_view received,
                                                 std::size_t searched) noexcept {
  // The end is "\n\n" or "\n\r\n": one that began before the new bytes starts at most two
  // bytes before them.
  std::size_t from = searched > 2 ? searched - 2 : 0;
  for (std::size_t at = received.find('\n', from); at != std::string_view::npos;
       at = received.find('\n', at + 1)) {
    std::string_view after = received.substr(at + 1);
    // A bare LF ends a line too: RFC 9112 §2.2 lets a recipient accept it, and hand-typed requests
    // (printf, nc) often use it.
    if (after.starts_with('\n')) {
      return at + 2;
    }
    if (after.starts_with("\r\n")) {
      return at + 3;
    }
  }
  return std::nullopt;
}

std::optional<HttpRequest> parse_request_line(std::string_view head) noexcept {
  std::string_view line = head.substr(0, head.find('\n'));
  if (line.ends_with('\r')) {
    line.remove_suffix(1);
  }
  auto first_space = line.find(' ');
  if (first_space == std::string_view::npos) {
    return std::nullopt;
  }
  auto second_space = line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos) {
    return std::nullopt;
  }
  HttpRequest request;
  request.method = line.substr(0, first_space);
  std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
  request.version = line.substr(second_space + 1);
  // Only HTTP/1.0 and 1.1: an HTTP/2 connection preface ("PRI * HTTP/2.0") or anything else gets
  // 400, and the origin form refuses absolute and asterisk targets, which this server never serves.
  if (!is_token(request.method) || !is_origin_form(target) ||
      (request.version != "HTTP/1.0" && request.version != "HTTP/1.1")) {
    return std::nullopt;
  }
  // The query is ignored, not refused: some scrapers add parameters (Prometheus's `params`), and
  // the answer does not depend on them.
  request.path = target.substr(0, target.find('?'));
  return request;
}

}  // namespace zcrecv::metrics
