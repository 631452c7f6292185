#include "net/accept_watch.hpp"

#include <doctest/doctest.h>
#include <sys/epoll.h>

#include <memory>
#include <string>
#include <vector>

#include "support/loop_thread.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/temp_dir.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::net {
namespace {

// A Unix listener in a temporary directory: a Unix connect() queues its connection before it
// returns, so "N clients connected" means "N connections waiting".
struct Fixture {
  test::TempDir dir;
  Listener listener = open_listener(dir);
  test::LoopThread loop;
  std::unique_ptr<AcceptWatch> watch;
  // `watch` and `admitted` belong to the loop's thread; the test reads them through loop.call().
  std::vector<AcceptedConnection> admitted;

  static Listener open_listener(const test::TempDir& dir) {
    auto address = parse_listen_address("unix:" + (dir / "s.sock").string());
    REQUIRE(address.ok());
    auto opened = Listener::open(*address);
    REQUIRE(opened.ok());
    return std::move(*opened);
  }

  void make_watch(int max_per_event) {
    loop.call([&] {
      watch = std::make_unique<AcceptWatch>(
          loop.loop(), listener, "listener test",
          AcceptWatch::Options{.max_per_event = max_per_event},
          [this](AcceptedConnection connection) { admitted.push_back(std::move(connection)); });
    });
  }

  std::size_t admitted_count() {
    std::size_t count = 0;
    loop.call([&] { count = admitted.size(); });
    return count;
  }

  ~Fixture() {
    loop.call([&] {
      watch.reset();
      admitted.clear();
    });
  }
};

TEST_CASE("accept watch: a wake-up takes at most max_per_event connections, accept_queued all") {
  Fixture fixture;
  std::vector<sys::UniqueFd> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(test::connect_blocking(fixture.listener.local_address()));
  }
  fixture.make_watch(2);

  fixture.loop.call([&] { fixture.watch->on_event(EPOLLIN); });
  CHECK(fixture.admitted_count() == 2);
  fixture.loop.call([&] { fixture.watch->on_event(EPOLLIN); });
  CHECK(fixture.admitted_count() == 4);
  fixture.loop.call([&] { fixture.watch->accept_queued(); });
  CHECK(fixture.admitted_count() == 5);
  // Nothing left: a wake-up with an empty queue admits nothing and does not fail.
  fixture.loop.call([&] { fixture.watch->on_event(EPOLLIN); });
  CHECK(fixture.admitted_count() == 5);
}

TEST_CASE("accept watch: once started, every connection is admitted as it comes") {
  Fixture fixture;
  fixture.make_watch(2);
  fixture.loop.call([&] { REQUIRE(fixture.watch->start().ok()); });
  std::vector<sys::UniqueFd> clients;
  for (int i = 0; i < 7; ++i) {
    clients.push_back(test::connect_blocking(fixture.listener.local_address()));
  }
  test::poll_until([&] { return fixture.admitted_count() == 7; }, "7 connections admitted");
  CHECK(fixture.admitted_count() == 7);
}

TEST_CASE("accept watch: a failed start names the watch") {
  Fixture fixture;
  fixture.make_watch(2);
  std::string message;
  fixture.loop.call([&] {
    REQUIRE(fixture.watch->start().ok());
    auto again = fixture.watch->start();
    REQUIRE_FALSE(again.ok());
    message = again.error().message();
  });
  CHECK(message.starts_with("listener test: "));
}

}  // namespace
}  // namespace zcrecv::net
