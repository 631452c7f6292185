#include "net/cidr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "sys/quoted.hpp"

namespace zcrecv::net {
namespace {

constexpr std::size_t kMappedPrefixBytes = 12;  // ::ffff:0:0/96
constexpr unsigned kMappedPrefixBits = 96;

// Whether the first `prefix_length` bits of `a` and `b` are equal.
bool same_prefix(const std::uint8_t* a, const std::uint8_t* b, unsigned prefix_length) {
  unsigned whole = prefix_length / 8;
  if (std::memcmp(a, b, whole) != 0) {
    return false;
  }
  unsigned rest = prefix_length % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return ((a[whole] ^ b[whole]) & mask) == 0;
}

sys::Result<unsigned> parse_prefix_length(std::string_view text, unsigned max) {
  if (text.empty()) {
    return sys::Error::invalid("missing prefix length after '/'");
  }
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return sys::Error::invalid("prefix length " + sys::quoted(text) + " is not a number");
  }
  // Four digits or more are out of range, and must not reach stoul (which could overflow).
  unsigned long value = text.size() > 3 ? max + 1UL : std::stoul(std::string(text));
  if (value > max) {
    return sys::Error::invalid("prefix length " + std::string(text) + " is more than " +
                               std::to_string(max) + (max == 32 ? " (IPv4)" : " (IPv6)"));
  }
  return static_cast<unsigned>(value);
}

}  // namespace

Cidr::Cidr(int family, const std::uint8_t* address, unsigned prefix_length)
    : family_(family), prefix_length_(prefix_length) {
  std::size_t size = family == AF_INET ? 4 : 16;
  std::copy(address, address + size, bytes_.begin());
  // Clear the host bits, so that equal networks compare and print equal.
  for (std::size_t bit = prefix_length; bit < size * 8; ++bit) {
    bytes_[bit / 8] &= static_cast<std::uint8_t>(~(0x80U >> (bit % 8)));
  }
}

sys::Result<Cidr> Cidr::parse(std::string_view text) {
  auto fail = [text](const std::string& reason) {
    return sys::Error::invalid("CIDR " + sys::quoted(text) + ": " + reason);
  };
  if (text.empty()) {
    return fail("empty (expected ADDRESS/PREFIX, like 10.0.0.0/8 or 2001:db8::/32)");
  }
  std::size_t slash = text.find('/');
  std::string address_text(text.substr(0, slash));
  if (address_text.empty()) {
    return fail("missing address before '/'");
  }
  // The family is chosen by the text, not by trying both: the error can then say which kind of
  // address was meant.
  bool is_v6 = address_text.find(':') != std::string::npos;
  int family = is_v6 ? AF_INET6 : AF_INET;
  std::uint8_t address[16] = {};
  if (::inet_pton(family, address_text.c_str(), address) != 1) {
    return fail(sys::quoted(address_text) + " is not an " + (is_v6 ? "IPv6" : "IPv4") + " address");
  }
  unsigned max = is_v6 ? 128 : 32;
  unsigned prefix_length = max;
  if (slash != std::string_view::npos) {
    auto parsed = parse_prefix_length(text.substr(slash + 1), max);
    if (!parsed) {
      return fail(parsed.error().message());
    }
    prefix_length = *parsed;
  }
  // An IPv4-mapped network is stored as the IPv4 network it means, because peers are compared
  // unmapped (contains): "::ffff:10.0.0.0/104" must match a client on an IPv4 socket too.
  if (is_v6 && prefix_length >= kMappedPrefixBits &&
      IN6_IS_ADDR_V4MAPPED(reinterpret_cast<const in6_addr*>(address))) {
    return Cidr(AF_INET, address + kMappedPrefixBytes, prefix_length - kMappedPrefixBits);
  }
  return Cidr(family, address, prefix_length);
}

bool Cidr::contains(const SocketAddress& peer) const {
  SocketAddress plain = peer.unmapped();
  // An IPv4 network never matches an IPv6 peer, nor the reverse: only mapped addresses, which
  // unmapped() turned into IPv4, cross the families.
  if (plain.family() != family_) {
    return false;
  }
  return same_prefix(plain.ip_bytes().data(), bytes_.data(), prefix_length_);
}

std::string Cidr::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family_, bytes_.data(), buffer, sizeof buffer);
  return std::string(buffer) + "/" + std::to_string(prefix_length_);
}

}  // namespace zcrecv::net
