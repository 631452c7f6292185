// The PROXY protocol header parser on arbitrary bytes, as a connection would peek them. Besides
// ASan's "never reads outside the input" (every parse gets an exactly sized copy), it checks that
// a complete header fits the input and the limits, parses alone to the same header, and that the
// result never depends on how the bytes arrived: each prefix of the input needs more or gives
// the same header or the same message.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "net/proxy_header.hpp"
#include "sys/quoted.hpp"

namespace {

using zcrecv::net::ProxyHeader;
using Parse = zcrecv::sys::Result<std::optional<ProxyHeader>>;

// Parses the first `size` bytes from a buffer of exactly that size, so that ASan sees any read
// past them.
Parse parse_prefix(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> copy(size);
  std::transform(data, data + size, copy.begin(), [](std::uint8_t b) { return std::byte{b}; });
  return zcrecv::net::parse_proxy_header(copy);
}

std::string describe(const ProxyHeader& header) {
  using zcrecv::sys::quoted;
  std::string text = "v" + std::to_string(header.version) +
                     " local=" + std::to_string(header.local) +
                     " length=" + std::to_string(header.length);
  if (header.source) {
    text += " source=" + header.source->to_string();
  }
  if (header.destination) {
    text += " destination=" + header.destination->to_string();
  }
  if (header.ssl) {
    const auto& ssl = *header.ssl;
    text += " ssl=" + std::to_string(ssl.client_ssl) + std::to_string(ssl.client_cert_connection) +
            std::to_string(ssl.client_cert_session) + std::to_string(ssl.verified) + " " +
            quoted(ssl.version) + " " + quoted(ssl.common_name) + " " + quoted(ssl.cipher) + " " +
            quoted(ssl.signature_algorithm) + " " + quoted(ssl.key_algorithm);
  }
  return text;
}

// What a result says, as text to compare: "need more", the header, or the message.
std::string outcome(const Parse& parsed) {
  if (!parsed.ok()) {
    return "invalid: " + parsed.error().message();
  }
  return parsed->has_value() ? describe(**parsed) : "need more";
}

void check_complete(const ProxyHeader& header, const std::uint8_t* data, std::size_t size) {
  using namespace zcrecv;
  const std::string text = describe(header);
  fuzz::check(header.version == 1 || header.version == 2, "the version is 1 or 2", text);
  fuzz::check(header.length <= size, "the header fits the input", text);
  fuzz::check(header.length <= net::kMaxProxyHeaderSize, "the header fits the maximum", text);
  fuzz::check(header.version == 2 || header.length <= net::kMaxProxyV1Size,
              "a v1 header fits 107 bytes", text);
  fuzz::check(
      header.version == 2 || (data[header.length - 2] == '\r' && data[header.length - 1] == '\n'),
      "a v1 header ends with CRLF", text);
  fuzz::check(header.version == 2 || !header.ssl, "only v2 carries SSL", text);
  fuzz::check(header.local == (!header.source && !header.destination),
              "addresses are given exactly when not local", text);
  fuzz::check(header.source.has_value() == header.destination.has_value(),
              "source and destination come together", text);
  const std::string alone = outcome(parse_prefix(data, header.length));
  fuzz::check(alone == text, "the header's bytes alone give the same header", alone, text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace zcrecv;
  const Parse parsed = parse_prefix(data, size);
  const std::string whole = outcome(parsed);
  if (!parsed.ok()) {
    const std::string message = parsed.error().message();
    fuzz::check(message.starts_with("PROXY v1: ") || message.starts_with("PROXY v2: ") ||
                    message.starts_with("not a PROXY protocol header"),
                "messages say what they are about", message);
    fuzz::check(message.find('\n') == std::string::npos, "messages are one line", message);
  } else if (!parsed->has_value()) {
    fuzz::check(size < net::kMaxProxyHeaderSize, "no need for more than the maximum", whole);
    fuzz::check(size < net::kMaxProxyV1Size || data[0] != 'P', "no need for more than 107 bytes",
                whole);
  } else {
    check_complete(**parsed, data, size);
  }

  // Every short prefix, then a sample of the longer ones: O(n^2) over 4 KiB inputs would slow
  // the search down more than it finds.
  constexpr std::size_t kAllPrefixesUpTo = 160;
  constexpr std::size_t kSampledPrefixes = 24;
  std::vector<std::size_t> sizes;
  for (std::size_t prefix = 0; prefix < std::min(size, kAllPrefixesUpTo); ++prefix) {
    sizes.push_back(prefix);
  }
  if (size > kAllPrefixesUpTo) {
    for (std::size_t i = 0; i < kSampledPrefixes; ++i) {
      sizes.push_back(kAllPrefixesUpTo + (size - kAllPrefixesUpTo) * i / kSampledPrefixes);
    }
    sizes.push_back(size - 1);
  }
  if (parsed.ok() && parsed->has_value() && (*parsed)->length > 0) {
    sizes.push_back((*parsed)->length - 1);
  }
  for (std::size_t prefix : sizes) {
    const std::string part = outcome(parse_prefix(data, prefix));
    fuzz::check(part == "need more" || part == whole,
                "a prefix needs more or ends as the whole input does", part, whole);
  }
  return 0;
}
