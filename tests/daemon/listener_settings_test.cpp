#include "daemon/listener_settings.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>

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

TEST_CASE("ListenerSettings lets in only the allowed networks") {
  config::ListenerConfig config;
  config.name = "ingest";
  config.allow = {{"10.0.0.0/8", {}}, {"2001:db8::/32", {}}};
  auto settings = make_listener_settings(config, nullptr);
  REQUIRE(settings.ok());
  CHECK((*settings)->name == "ingest");
  net::PeerIdentity peer;
  CHECK_FALSE((*settings)->refusal(*net::SocketAddress::from_ip("10.1.2.3", 5), peer));
  CHECK_FALSE((*settings)->refusal(*net::SocketAddress::from_ip("::ffff:10.1.2.3", 5), peer));
  CHECK_FALSE((*settings)->refusal(*net::SocketAddress::from_ip("2001:db8::1", 5), peer));
  auto refused = (*settings)->refusal(*net::SocketAddress::from_ip("127.0.0.1", 5), peer);
  REQUIRE(refused);
  CHECK(*refused == "address not in the allow list");
}

TEST_CASE("ListenerSettings without allow entries lets everyone in") {
  auto settings = make_listener_settings(config::ListenerConfig{}, nullptr);
  REQUIRE(settings.ok());
  CHECK_FALSE(
      (*settings)->refusal(*net::SocketAddress::from_ip("192.0.2.1", 5), net::PeerIdentity{}));
  CHECK_FALSE((*settings)->refusal(net::SocketAddress::unix_path("/x"), unix_peer(std::nullopt)));
}

TEST_CASE("ListenerSettings checks Unix peers against allow_uids") {
  config::ListenerConfig config;
  config.allow_uids = {0, 1000};
  auto settings = make_listener_settings(config, nullptr);
  REQUIRE(settings.ok());
  auto address = net::SocketAddress::unix_path("/run/x.sock");
  CHECK_FALSE((*settings)->refusal(address, unix_peer(1000)));
  auto refused = (*settings)->refusal(address, unix_peer(1001));
  REQUIRE(refused);
  CHECK(*refused == "uid 1001 is not in allow_uids");
  CHECK((*settings)->refusal(address, unix_peer(std::nullopt)).has_value());
}

TEST_CASE("make_listener_settings names the origin of a bad allow entry") {
  config::ListenerConfig config;
  config.allow = {{"10.0.0.0/99", {"zcrecv.toml:4:10: listen[0].allow[0]"}}};
  auto settings = make_listener_settings(config, nullptr);
  REQUIRE_FALSE(settings.ok());
  CHECK(settings.error().message().find("zcrecv.toml:4:10: listen[0].allow[0]") == 0);
  CHECK(settings.error().message().find("10.0.0.0/99") != std::string::npos);
}

}  // namespace
}  // namespace zcrecv::daemon
