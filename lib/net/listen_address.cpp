#include "net/listen_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "sys/quoted.hpp"

namespace zcrecv::net {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";
// RFC 1035: a name is at most 253 characters written out, a label at most 63.
constexpr std::size_t kMaxHostLength = 253;
constexpr std::size_t kMaxLabelLength = 63;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_control(char c) {
  auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'; }

bool is_ipv6(std::string_view text) {
  in6_addr ignored{};
  return ::inet_pton(AF_INET6, std::string(text).c_str(), &ignored) == 1;
}

// Succeeds if `host`, the part of `text` before the last ':', is an IPv4 literal or a host name.
sys::Result<void> check_host(std::string_view host, std::string_view text) {
  if (host.empty()) {
    return {};  // every interface
  }
  // The whole text is tested too: "::1" split at its last ':' is host ":" and port "1", and an IPv6
  // address without brackets should get this error, not a puzzling one about the host.
  if (is_ipv6(host) || is_ipv6(text)) {
    return sys::Error::invalid("an IPv6 address needs brackets, like [::1]:9000");
  }
  auto bad = std::find_if(host.begin(), host.end(), [](char c) {
    return !is_alpha(c) && !is_digit(c) && c != '-' && c != '.';
  });
  if (bad != host.end()) {
    return sys::Error::invalid("host " + sys::quoted(host) + " contains " +
                               sys::quoted(std::string_view(&*bad, 1)) +
                               " (a host is an IPv4 address, [IPv6 address] or host name)");
  }
  // Digits and dots: it can only be meant as an IPv4 address, and inet_pton takes exactly
  // the dotted-quad form (no "10.1", no octal), as getaddrinfo would with AI_NUMERICHOST.
  bool numeric =
      std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; }) &&
      std::any_of(host.begin(), host.end(), is_digit);
  if (numeric) {
    in_addr ignored{};
    if (::inet_pton(AF_INET, std::string(host).c_str(), &ignored) != 1) {
      return sys::Error::invalid("host " + sys::quoted(host) + " is not a valid IPv4 address");
    }
    return {};
  }
  std::string_view name = host;
  if (name.ends_with('.')) {
    name.remove_suffix(1);  // a fully qualified name may end with the root's dot
  }
  if (name.size() > kMaxHostLength) {
    return sys::Error::invalid("host name is longer than " + std::to_string(kMaxHostLength) +
                               " characters");
  }
  while (true) {
    std::size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabelLength || label.front() == '-' ||
        label.back() == '-') {
      return sys::Error::invalid("host " + sys::quoted(host) + " is not a valid host name");
    }
    if (dot == std::string_view::npos) {
      return {};
    }
    name.remove_prefix(dot + 1);
  }
}

sys::Result<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty()) {
    return sys::Error::invalid("missing port after ':'");
  }
  if (!std::all_of(text.begin(), text.end(), is_digit)) {
    return sys::Error::invalid("port " + sys::quoted(text) + " is not a number");
  }
  std::size_t first = text.find_first_not_of('0');
  // Leading zeros are dropped before the digits are counted: "09000" is port 9000, not out of
  // range.
  std::string_view digits = first == std::string_view::npos ? "0" : text.substr(first);
  // Six digits or more cannot be a port, and must not reach stoul (which could overflow).
  unsigned long value = digits.size() > 5 ? 65536 : std::stoul(std::string(digits));
  if (value > 65535) {
    return sys::Error::invalid("port " + std::string(text) + " is out of range (0-65535)");
  }
  return static_cast<std::uint16_t>(value);
}

// Succeeds if `path` fits a sockaddr_un.
sys::Result<void> check_unix_path(std::string_view path, bool abstract) {
  const char* what = abstract ? "abstract socket name" : "socket path";
  if (path.empty()) {
    return sys::Error::invalid(std::string(what) + " is empty");
  }
  if (path.size() > kMaxUnixPathLength) {
    return sys::Error::invalid(std::string(what) + " is " + std::to_string(path.size()) +
                               " bytes, more than the " + std::to_string(kMaxUnixPathLength) +
                               " that fit in sun_path");
  }
  return {};
}

// Errors carry the reason alone; parse_listen_address puts the input in front.
sys::Result<ListenAddress> parse(std::string_view text) {
  ListenAddress address;
  if (text.empty()) {
    return sys::Error::invalid("empty (expected [HOST]:PORT, unix:PATH or unix:@NAME)");
  }
  if (std::any_of(text.begin(), text.end(), is_control)) {
    return sys::Error::invalid("contains a control character");
  }
  // Refused rather than trimmed: "localhost " or "unix:/run/x.sock " from a configuration file is a
  // typo, and a listener on a name with a space in it would be found by nobody.
  if (is_space(text.front()) || is_space(text.back())) {
    return sys::Error::invalid("has leading or trailing whitespace");
  }

  bool has_prefix = text.starts_with(kUnixPrefix);
  // A '/' can be in no [HOST]:PORT, so such text is a path even without "unix:" ("/run/x.sock").
  if (has_prefix || text.find('/') != std::string_view::npos) {
    std::string_view path = has_prefix ? text.substr(kUnixPrefix.size()) : text;
    bool abstract = has_prefix && path.starts_with('@');
    if (has_prefix && path.empty()) {
      return sys::Error::invalid("\"unix:\" needs a path or @name after it");
    }
    if (abstract) {
      path.remove_prefix(1);
    }
    if (auto checked = check_unix_path(path, abstract); !checked) {
      return std::move(checked).error();
    }
    address.kind = abstract ? ListenAddress::Kind::kUnixAbstract : ListenAddress::Kind::kUnixPath;
    address.path = std::string(path);
    return address;
  }

  std::string_view port;
  if (text.starts_with('[')) {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return sys::Error::invalid("'[' without a matching ']'");
    }
    std::string host(text.substr(1, close - 1));
    if (host.empty()) {
      return sys::Error::invalid("empty IPv6 address between '[' and ']'");
    }
    if (!is_ipv6(host)) {
      return sys::Error::invalid(sys::quoted(host) + " is not an IPv6 address");
    }
    std::string_view rest = text.substr(close + 1);
    if (!rest.starts_with(':')) {
      return sys::Error::invalid(rest.empty()
                                     ? "missing port (expected [IPV6]:PORT)"
                                     : "expected ':PORT' after ']', found " + sys::quoted(rest));
    }
    address.host = std::move(host);
    port = rest.substr(1);
  } else {
    // The last ':' ends the host: an unbracketed host cannot hold one (check_host refuses IPv6
    // there).
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return sys::Error::invalid("missing port (expected [HOST]:PORT, unix:PATH or unix:@NAME)");
    }
    std::string_view host = text.substr(0, colon);
    if (auto checked = check_host(host, text); !checked) {
      return std::move(checked).error();
    }
    address.host = std::string(host);
    port = text.substr(colon + 1);
  }
  auto number = parse_port(port);
  if (!number) {
    return std::move(number).error();
  }
  address.port = *number;
  return address;
}

}  // namespace

std::string ListenAddress::to_string() const {
  switch (kind) {
    case Kind::kTcp:
      if (host.find(':') != std::string::npos) {
        return "[" + host + "]:" + std::to_string(port);
      }
      return host + ":" + std::to_string(port);
    case Kind::kUnixPath:
      return unix_path_text(path);
    case Kind::kUnixAbstract:
      return std::string(kUnixPrefix) + "@" + path;
  }
  return {};
}

std::string unix_path_text(std::string_view path) {
  if (!path.starts_with('@')) {
    return std::string(kUnixPrefix) + std::string(path);
  }
  // Any value containing '/' is a path, so "@run/x.sock" reads back as itself.
  if (path.find('/') != std::string_view::npos) {
    return std::string(path);
  }
  // "./" keeps a relative path that starts with '@' from reading back as an abstract name.
  return std::string(kUnixPrefix) + "./" + std::string(path);
}

sys::Result<ListenAddress> parse_listen_address(std::string_view text) {
  auto address = parse(text);
  if (!address) {
    return sys::Error::invalid("listen address " + sys::quoted(text) + ": " + address.error().message());
  }
  return address;
}

}  // namespace zcrecv::net
