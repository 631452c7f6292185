#include "daemon/listener_settings.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

#include "net/socket_address.hpp"

namespace zcrecv::daemon {
namespace {

net::PeerIdentity unix_peer(std::optional<uid_t> uid) {
  net::PeerIdentity peer;
  if (uid) {
    peer.credentials = ucred{42, *uid, 0};
  }
  return peer;
}

std::vector<config::SourcedCidr> cidrs(std::initializer_list<std::string_view> texts) {
  std::vector<config::SourcedCidr> parsed;
  for (std::string_view text : texts) {
    parsed.push_back(*config::make_cidr(text, config::Origin{"test"}));
  }
  return parsed;
}

TEST_CASE("ListenerSettings lets in only the allowed networks") {
  config::ListenerConfig config;
  config.name = "ingest";
  config.allow = cidrs({"10.0.0.0/8", "2001:db8::/32"});
  auto settings = make_listener_settings(config, nullptr);
  CHECK(settings->name == "ingest");
  net::PeerIdentity peer;
  CHECK_FALSE(settings->refusal(*net::SocketAddress::from_ip("10.1.2.3", 5), peer));
  CHECK_FALSE(settings->refusal(*net::SocketAddress::from_ip("::ffff:10.1.2.3", 5), peer));
  CHECK_FALSE(settings->refusal(*net::SocketAddress::from_ip("2001:db8::1", 5), peer));
  auto refused = settings->refusal(*net::SocketAddress::from_ip("127.0.0.1", 5), peer);
  REQUIRE(refused);
  CHECK(*refused == "address not in the allow list");
}

TEST_CASE("ListenerSettings without allow entries lets everyone in") {
  auto settings = make_listener_settings(config::ListenerConfig{}, nullptr);
  CHECK_FALSE(
      settings->refusal(*net::SocketAddress::from_ip("192.0.2.1", 5), net::PeerIdentity{}));
  CHECK_FALSE(settings->refusal(net::SocketAddress::unix_path("/x"), unix_peer(std::nullopt)));
}

TEST_CASE("ListenerSettings checks Unix peers against allow_uids") {
  config::ListenerConfig config;
  config.allow_uids = {0, 1000};
  auto settings = make_listener_settings(config, nullptr);
  auto address = net::SocketAddress::unix_path("/run/x.sock");
  CHECK_FALSE(settings->refusal(address, unix_peer(1000)));
  auto refused = settings->refusal(address, unix_peer(1001));
  REQUIRE(refused);
  CHECK(*refused == "uid 1001 is not in allow_uids");
  CHECK(settings->refusal(address, unix_peer(std::nullopt)).has_value());
}

TEST_CASE("with proxy_protocol, proxy_from is for the socket's peer and allow for the client") {
  using namespace std::chrono_literals;
  config::ListenerConfig config;
  config.allow = cidrs({"203.0.113.0/24"});
  config.proxy_protocol = true;
  config.proxy_from = cidrs({"127.0.0.1/32", "fd00::/8"});
  config.proxy_timeout = 750ms;
  auto settings = make_listener_settings(config, nullptr);
  const ListenerSettings& proxied = *settings;
  CHECK(proxied.proxy_protocol);
  CHECK(proxied.proxy_timeout == 750ms);
  const auto balancer = *net::SocketAddress::from_ip("127.0.0.1", 40112);
  const auto stranger = *net::SocketAddress::from_ip("203.0.113.9", 40112);

  // At accept: the allow list is not for proxies, proxy_from is.
  CHECK_FALSE(proxied.refusal(balancer, net::PeerIdentity{}));
  CHECK_FALSE(proxied.proxy_refusal(balancer));
  CHECK_FALSE(proxied.proxy_refusal(*net::SocketAddress::from_ip("fd00::5", 1)));
  auto refused = proxied.proxy_refusal(stranger);
  REQUIRE(refused);
  CHECK(*refused == "address not in proxy_from");

  // After the header: the client it names against the allow list; a LOCAL header names none.
  CHECK_FALSE(proxied.client_refusal(stranger));
  CHECK_FALSE(proxied.client_refusal(std::nullopt));
  auto outsider = proxied.client_refusal(*net::SocketAddress::from_ip("198.51.100.1", 5));
  REQUIRE(outsider);
  CHECK(*outsider == "address not in the allow list");
  CHECK(proxied.client_refusal(net::SocketAddress::unix_path("/run/c.sock")).has_value());
}

TEST_CASE("without proxy_protocol nobody is refused as a proxy, Unix proxies keep allow_uids") {
  auto plain = make_listener_settings(config::ListenerConfig{}, nullptr);
  CHECK_FALSE(plain->proxy_refusal(*net::SocketAddress::from_ip("192.0.2.1", 5)));

  config::ListenerConfig config;
  config.proxy_protocol = true;
  config.allow_uids = {0};
  auto unix_proxied = make_listener_settings(config, nullptr);
  auto address = net::SocketAddress::unix_path("/run/x.sock");
  CHECK_FALSE(unix_proxied->proxy_refusal(address));
  CHECK_FALSE(unix_proxied->refusal(address, unix_peer(0)));
  CHECK(unix_proxied->refusal(address, unix_peer(1000)).has_value());
}

TEST_CASE("with an allow list, a stream from a client nobody named is refused unless allowed") {
  config::ListenerConfig config;
  config.proxy_protocol = true;
  config.proxy_from = cidrs({"127.0.0.1/32"});
  auto open = make_listener_settings(config, nullptr);
  CHECK_FALSE(open->unknown_client_refusal());

  config.allow = cidrs({"192.0.2.0/24"});
  auto guarded = make_listener_settings(config, nullptr);
  auto refused = guarded->unknown_client_refusal();
  REQUIRE(refused);
  CHECK(refused->find("allow_proxy_local = true") != std::string::npos);

  config.allow_proxy_local = true;
  auto trusting = make_listener_settings(config, nullptr);
  CHECK_FALSE(trusting->unknown_client_refusal());
}

}  // namespace
}  // namespace zcrecv::daemon
