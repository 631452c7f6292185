// File names made of what a PROXY header says: two inputs, each a PROXY header (its client's
// address and TLS certificate CN become {peer} and {client_cn}, as in the daemon) or, when it
// is not one, raw bytes taken as a verified CN. Every name must stay inside the output
// directory with components that fit NAME_MAX with room for the suffixes added on disk, never
// be hidden, read as an option or end like a partial or cut file, and two inputs whose values
// differ must never get the same name.
//
// Input: a 2-byte little-endian length N, then the first input (N bytes, fewer if the data
// ends), then the second (the rest).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "fuzz_check.hpp"
#include "net/peer_identity.hpp"
#include "net/proxy_header.hpp"
#include "net/socket_address.hpp"
#include "output/client_value.hpp"
#include "output/name_template.hpp"

namespace {

using namespace zcrecv;

// The values one input gives: {peer} and {client_cn}.
struct Values {
  std::string peer;
  output::ClientCn client_cn;

  bool operator==(const Values&) const = default;
};

Values values_of(std::string_view bytes) {
  static const net::SocketAddress kProxy = *net::SocketAddress::from_ip("127.0.0.1", 40000);
  static const net::PeerIdentity kProxyIdentity = net::identify_peer(-1, kProxy);
  auto parsed = net::parse_proxy_header(std::as_bytes(std::span(bytes.data(), bytes.size())));
  if (!parsed || !parsed->has_value()) {
    return {"10.0.0.1_1", {output::ClientCn::Kind::kVerified, std::string(bytes)}};
  }
  const net::PeerIdentity peer = net::identify_proxied_peer(**parsed, kProxy, kProxyIdentity);
  Values values{peer.file_token, {}};
  switch (peer.client_certificate) {
    case net::PeerIdentity::Certificate::kNone:
      break;
    case net::PeerIdentity::Certificate::kUnverified:
      values.client_cn.kind = output::ClientCn::Kind::kUnverified;
      break;
    case net::PeerIdentity::Certificate::kVerified:
      values.client_cn = {output::ClientCn::Kind::kVerified, peer.client_cn};
      break;
  }
  return values;
}

std::string render(const output::NameTemplate& name_template, const Values& values) {
  output::NameFields fields{"proxied", values.peer, "0a1b2c3d-000001", "ingest-1", 0,
                            std::chrono::system_clock::time_point(std::chrono::seconds(1795517700)),
                            values.client_cn};
  return name_template.render(fields);
}

void check_name(const std::string& name, std::string_view input) {
  fuzz::check(!name.empty() && name.front() != '/', "a name is relative", name, input);
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = name.find('/', start);
    const std::string_view component =
        std::string_view(name).substr(start, slash == std::string::npos ? slash : slash - start);
    fuzz::check(!component.empty() && component != "." && component != "..",
                "no empty, . or .. component", name, input);
    fuzz::check(component.size() <= output::kMaxNameComponentSize,
                "every component fits NAME_MAX with room for the suffixes", name, input);
    fuzz::check(component.front() != '.' && component.front() != '-',
                "no component hidden or read as an option", name, input);
    if (slash == std::string::npos) {
      fuzz::check(!component.ends_with(".part") && !component.ends_with(".incomplete"),
                  "the file name has no reserved suffix", name, input);
      break;
    }
    start = slash + 1;
  }
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    fuzz::check(byte > 0x20 && byte < 0x7f, "only printable bytes, no space", name, input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Each value in a component of its own, and both in one, with the file name ending in a
  // value: what a template can do with them.
  static const output::NameTemplate kSeparate = *output::NameTemplate::parse(
      "{peer}/{client_cn}/{conn}.bin");
  static const output::NameTemplate kTogether = *output::NameTemplate::parse(
      "{client_cn}/{conn}-{peer}-{client_cn}");
  const std::string_view text = fuzz::as_text(data, size);
  if (text.size() < 2) {
    return 0;
  }
  const std::size_t first_size = std::min<std::size_t>(
      static_cast<std::size_t>(data[0]) | static_cast<std::size_t>(data[1]) << 8,
      text.size() - 2);
  const std::string_view first = text.substr(2, first_size);
  const std::string_view second = text.substr(2 + first_size);
  const Values a = values_of(first);
  const Values b = values_of(second);
  for (const output::NameTemplate* name_template : {&kSeparate, &kTogether}) {
    const std::string name_a = render(*name_template, a);
    const std::string name_b = render(*name_template, b);
    check_name(name_a, first);
    check_name(name_b, second);
    if (!(a == b)) {
      fuzz::check(name_a != name_b, "distinct values give distinct names", name_a, name_b);
    }
  }
  return 0;
}
