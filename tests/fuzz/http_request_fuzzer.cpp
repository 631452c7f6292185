// The metrics endpoint's request head functions on arbitrary bytes, as any client may send them.
// The end of the head is found alike whether the bytes come at once or in two pieces, and is the
// first empty line; an accepted request line has a token method, an origin-form path without
// its query, and HTTP/1.0 or HTTP/1.1, all views into the input.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "metrics/http_request.hpp"

namespace {

bool is_within(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace zcrecv;
  const std::string_view text = fuzz::as_text(data, size);

  const std::optional<std::size_t> whole = metrics::find_request_head_end(text);
  const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  std::optional<std::size_t> pieces = metrics::find_request_head_end(text.substr(0, split));
  if (!pieces) {
    pieces = metrics::find_request_head_end(text, split);
  }
  fuzz::check(pieces == whole, "the head ends at the same place when it arrives in two pieces",
              std::to_string(pieces.value_or(0)), std::to_string(whole.value_or(0)));
  if (whole) {
    const std::string_view head = text.substr(0, *whole);
    fuzz::check(head.ends_with("\n\n") || head.ends_with("\n\r\n"),
                "the head ends in an empty line", head);
    fuzz::check(!metrics::find_request_head_end(head.substr(0, head.size() - 1)),
                "the head ends at the first empty line", head);
  }

  const auto request = metrics::parse_request_line(text);
  if (!request) {
    return 0;
  }
  fuzz::check(is_within(request->method, text) && is_within(request->path, text) &&
                  is_within(request->version, text),
              "the request line's parts are views into the input", text);
  fuzz::check(!request->method.empty(), "a method is not empty", text);
  // A token: visible ASCII without the delimiters of RFC 9110 §5.6.2.
  constexpr std::string_view kDelimiters = "\"(),/:;<=>?@[\\]{}";
  for (char c : request->method) {
    fuzz::check(c > ' ' && c < 0x7f && kDelimiters.find(c) == std::string_view::npos,
                "a method is a token", request->method);
  }
  fuzz::check(request->path.starts_with('/'), "a path is in origin form", request->path);
  for (char c : request->path) {
    fuzz::check(c > ' ' && c < 0x7f && c != '?', "a path is visible ASCII without its query",
                request->path);
  }
  fuzz::check(request->version == "HTTP/1.0" || request->version == "HTTP/1.1",
              "the version is HTTP/1.x", request->version);
  return 0;
}
