#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace zcrecv::metrics {

/// The request line of an HTTP/1.x request: views into the text it was parsed from.
struct HttpRequest {
  /// "GET", "HEAD", ... (case-sensitive, as RFC 9110 §9.1 says).
  std::string_view method;
  /// The target without its query: "/metrics" for "/metrics?x=1".
  std::string_view path;
  /// "HTTP/1.0" or "HTTP/1.1".
  std::string_view version;
};

/// The length of the request head at the start of `received` — the request line and the header
/// fields, up to and including the empty line that ends them — or std::nullopt while that line
/// has not arrived. Lines end in CRLF, or in a bare LF, which RFC 9112 §2.2 lets a server
/// accept. `searched` is the length of `received` at the previous call, when the head arrives
/// in pieces: only the new bytes (and the two before them) are searched again.
std::optional<std::size_t> find_request_head_end(std::string_view received,
                                                 std::size_t searched = 0) noexcept;

/// The request line at the start of `head`: `METHOD SP TARGET SP HTTP/1.x`, the target in
/// origin form ("/path?query"). std::nullopt for anything else.
std::optional<HttpRequest> parse_request_line(std::string_view head) noexcept;

}  // namespace zcrecv::metrics
