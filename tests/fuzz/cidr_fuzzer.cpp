// The CIDR parser on arbitrary text. An accepted network prints (to_string) as text that parses
// back to the same network, and matching a peer never fails.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "net/cidr.hpp"
#include "net/socket_address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace zcrecv;
  static const std::vector<net::SocketAddress> kPeers{
      *net::SocketAddress::from_ip("10.1.2.3", 1),
      *net::SocketAddress::from_ip("::ffff:10.1.2.3", 2),
      *net::SocketAddress::from_ip("2001:db8::1", 3),
      *net::SocketAddress::from_ip("::", 4),
      net::SocketAddress::unix_path("/run/x.sock"),
  };
  const std::string_view text = fuzz::as_text(data, size);
  auto cidr = net::Cidr::parse(text);
  if (!cidr) {
    fuzz::check(cidr.error().message().starts_with("CIDR \""), "errors name the CIDR",
                cidr.error().message());
    return 0;
  }
  const unsigned max = cidr->family() == AF_INET ? 32 : 128;
  fuzz::check(cidr->prefix_length() <= max, "the prefix fits the family", text);
  const std::string canonical = cidr->to_string();
  auto again = net::Cidr::parse(canonical);
  fuzz::check(again.ok(), "to_string parses back", canonical, text);
  fuzz::check(*again == *cidr, "to_string parses back to the same network", canonical, text);
  for (const net::SocketAddress& peer : kPeers) {
    fuzz::check(again->contains(peer) == cidr->contains(peer), "equal networks match alike",
                peer.to_string(), canonical);
  }
  fuzz::check(!cidr->contains(kPeers.back()), "a network never matches a Unix peer", canonical);
  return 0;
}
