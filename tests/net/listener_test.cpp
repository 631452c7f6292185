#include "net/listener.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "support/loopback.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::net {
namespace {

namespace fs = std::filesystem;

Listener open_or_fail(const std::string& text, const ListenerOptions& options = {}) {
  auto address = parse_listen_address(text);
  if (!address.ok()) {
    FAIL(address.error().message());
  }
  auto listener = Listener::open(*address, options);
  if (!listener.ok()) {
    FAIL(listener.error().message());
  }
  return std::move(*listener);
}

std::string open_error(const std::string& text, const ListenerOptions& options = {}) {
  auto address = parse_listen_address(text);
  if (!address.ok()) {
    FAIL(address.error().message());
  }
  auto listener = Listener::open(*address, options);
  REQUIRE_FALSE(listener.ok());
  return listener.error().message();
}

// Waits (up to 10 s) for a connection in the queue, then takes it: a client's connect() can
// return before the kernel has moved the connection into the accept queue.
AcceptedConnection accept_one(Listener& listener) {
  pollfd waiting{listener.fd(), POLLIN, 0};
  auto ready = sys::poll({&waiting, 1}, 10'000);
  REQUIRE(ready.ok());
  REQUIRE_MESSAGE(*ready == 1, "no connection arrived on " << listener.address().to_string());
  auto accepted = listener.accept();
  if (!accepted.ok()) {
    FAIL(accepted.error().message());
  }
  REQUIRE(accepted->has_value());
  return std::move(**accepted);
}

bool nonblocking_and_cloexec(int fd) {
  return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0 && (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

// Connects to `listener`, accepts, and checks that the peer accept() reports is the client's
// own address.
void check_connection(Listener& listener) {
  sys::UniqueFd client = test::connect_blocking(listener.local_address());
  AcceptedConnection connection = accept_one(listener);
  CHECK(nonblocking_and_cloexec(connection.fd.get()));
  auto client_address = SocketAddress::local_of(client.get());
  REQUIRE(client_address.ok());
  CHECK(connection.peer.to_string() == client_address->to_string());
}

std::string unique_name(const char* what) {
  static std::atomic<int> counter{0};
  return "zcrecv-test-" + std::to_string(::getpid()) + "-" + what + "-" + std::to_string(counter++);
}

TEST_CASE("TCP on 127.0.0.1 port 0: the real port, accept, nothing waiting") {
  Listener listener = open_or_fail("127.0.0.1:0");
  CHECK(listener.address().to_string() == "127.0.0.1:0");
  CHECK(listener.local_address().family() == AF_INET);
  CHECK(listener.local_address().port() != 0);
  CHECK(listener.local_address().to_string() ==
        "127.0.0.1:" + std::to_string(listener.local_address().port()));
  CHECK(nonblocking_and_cloexec(listener.fd()));

  auto nothing = listener.accept();
  REQUIRE(nothing.ok());
  CHECK_FALSE(nothing->has_value());

  check_connection(listener);

  nothing = listener.accept();
  REQUIRE(nothing.ok());
  CHECK_FALSE(nothing->has_value());
}

TEST_CASE("TCP on [::1] port 0") {
  auto address = parse_listen_address("[::1]:0");
  REQUIRE(address.ok());
  auto listener = Listener::open(*address, {});
  if (!listener.ok()) {
    // The reason is built only here: error() of a listener that opened does not exist.
    test::skip_test("no IPv6 loopback: " + listener.error().message());
    return;
  }
  CHECK(listener->local_address().family() == AF_INET6);
  CHECK(listener->local_address().to_string() ==
        "[::1]:" + std::to_string(listener->local_address().port()));
  check_connection(*listener);
}

TEST_CASE(":0 listens on every interface and shows IPv4 peers as IPv4") {
  Listener listener = open_or_fail(":0");
  CHECK(listener.address().to_string() == ":0");
  CHECK(listener.local_address().is_unspecified());
  std::uint16_t port = listener.local_address().port();
  REQUIRE(port != 0);

  sys::UniqueFd client = test::connect_blocking(*SocketAddress::from_ip("127.0.0.1", port));
  AcceptedConnection connection = accept_one(listener);
  auto client_address = SocketAddress::local_of(client.get());
  REQUIRE(client_address.ok());
  CHECK(connection.peer.to_string() == client_address->to_string());
  CHECK(connection.peer.to_string().starts_with("127.0.0.1:"));

  if (listener.local_address().family() == AF_INET6) {
    auto v6_client = SocketAddress::from_ip("::1", port);
    int probe = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool have_v6 = probe >= 0 && ::connect(probe, v6_client->data(), v6_client->size()) == 0;
    if (probe >= 0) {
      ::close(probe);
    }
    if (have_v6) {
      AcceptedConnection v6_connection = accept_one(listener);
      CHECK(v6_connection.peer.to_string().starts_with("[::1]:"));
    } else {
      // The IPv4 side was checked; the half that needs IPv6 could not run.
      test::skip_test("no IPv6 loopback: the IPv6 side of :0 was not checked");
    }
  } else {
    test::skip_test("no IPv6 in this kernel (:0 fell back to 0.0.0.0): the IPv6 side was not checked");
  }
}

TEST_CASE("a host name is resolved when the listener opens") {
  Listener listener = open_or_fail("localhost:0");
  CHECK(listener.address().to_string() == "localhost:0");
  std::string local = listener.local_address().to_string();
  CHECK((local.starts_with("127.") || local.starts_with("[::1]:")));
  check_connection(listener);
}

TEST_CASE("a port in use is refused with a message naming it, unless reuse_port shares it") {
  Listener first = open_or_fail("127.0.0.1:0");
  std::string text = "127.0.0.1:" + std::to_string(first.local_address().port());
  CHECK(open_error(text) == "listen on " + text + ": bind: Address already in use");

  ListenerOptions shared;
  shared.reuse_port = true;
  Listener a = open_or_fail("127.0.0.1:0", shared);
  std::string a_text = "127.0.0.1:" + std::to_string(a.local_address().port());
  Listener b = open_or_fail(a_text, shared);
  CHECK(b.local_address().port() == a.local_address().port());
}

TEST_CASE("mode, owner and group are for Unix socket files only") {
  ListenerOptions options;
  options.mode = 0600;
  CHECK(open_error("127.0.0.1:0", options) ==
        "listen on 127.0.0.1:0: mode, owner and group apply to Unix socket files only");
  CHECK(open_error("unix:@" + unique_name("mode"), options)
            .ends_with(": mode, owner and group apply to Unix socket files only"));
}

TEST_CASE("a Unix path socket: accept, and the socket file removed on destruction") {
  test::TempDir dir;
  std::string path = dir / "x.sock";
  {
    Listener listener = open_or_fail(path);
    CHECK(listener.address().to_string() == "unix:" + path);
    CHECK(listener.local_address().to_string() == "unix:" + path);
    CHECK(fs::is_socket(path));

    auto nothing = listener.accept();
    REQUIRE(nothing.ok());
    CHECK_FALSE(nothing->has_value());

    sys::UniqueFd client = test::connect_blocking(listener.local_address());
    AcceptedConnection connection = accept_one(listener);
    CHECK(nonblocking_and_cloexec(connection.fd.get()));
    CHECK(connection.peer.to_string() == "unix:(unnamed)");
  }
  CHECK_FALSE(fs::exists(fs::symlink_status(path)));
}

TEST_CASE("a relative Unix path is bound relative to the working directory") {
  test::TempDir dir;
  // Restores the working directory however the test ends.
  struct InDirectory {
    fs::path previous = fs::current_path();
    explicit InDirectory(const fs::path& path) { fs::current_path(path); }
    ~InDirectory() { fs::current_path(previous); }
  } in_dir(dir.path());
  {
    Listener listener = open_or_fail("./rel.sock");
    CHECK(fs::is_socket(dir / "rel.sock"));
    check_connection(listener);
  }
  CHECK_FALSE(fs::exists(dir / "rel.sock"));
}

TEST_CASE("a moved listener keeps its socket file until the last owner goes") {
  test::TempDir dir;
  std::string path = dir / "moved.sock";
  {
    Listener second = [&] {
      Listener first = open_or_fail(path);
      return Listener(std::move(first));  // `first` is destroyed here, moved-from
    }();
    CHECK(fs::is_socket(path));
    Listener third = open_or_fail("127.0.0.1:0");
    third = std::move(second);
    CHECK(fs::is_socket(path));
    CHECK(third.address().to_string() == "unix:" + path);
    check_connection(third);
  }
  CHECK_FALSE(fs::exists(fs::symlink_status(path)));
}

TEST_CASE("a socket file replaced by another file is not removed") {
  test::TempDir dir;
  std::string path = dir / "x.sock";
  {
    Listener listener = open_or_fail(path);
    fs::remove(path);
    std::ofstream(path) << "someone else's file";
  }
  REQUIRE(fs::is_regular_file(path));
  std::ifstream kept(path);
  std::string content;
  std::getline(kept, content);
  CHECK(content == "someone else's file");
}

TEST_CASE("a socket file taken over by a newer listener is left to that listener") {
  test::TempDir dir;
  std::string path = dir / "x.sock";
  Listener newer = [&] {
    Listener older = open_or_fail(path);
    fs::remove(path);
    return open_or_fail(path);
  }();
  CHECK(fs::is_socket(path));
  check_connection(newer);
}

TEST_CASE("a stale socket file (nothing answers) is replaced") {
  test::TempDir dir;
  std::string path = dir / "stale.sock";
  {
    // A process that died without cleaning up leaves exactly this: a bound socket file.
    auto fd = sys::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd.ok());
    SocketAddress address = SocketAddress::unix_path(path);
    REQUIRE(sys::bind(fd->get(), address.data(), address.size()).ok());
  }
  REQUIRE(fs::is_socket(path));
  Listener listener = open_or_fail(path);
  check_connection(listener);
}

TEST_CASE("a live socket file is refused and keeps serving its owner") {
  test::TempDir dir;
  std::string path = dir / "live.sock";
  Listener owner = open_or_fail(path);
  CHECK(open_error(path) ==
        "listen on unix:" + path + ": \"" + path + "\" is already in use by a running process");
  CHECK(open_error("unix:" + path) ==
        "listen on unix:" + path + ": \"" + path + "\" is already in use by a running process");
  CHECK(fs::is_socket(path));
  // The probe's connection is waiting in the queue; the owner takes it and then a real one.
  accept_one(owner);
  check_connection(owner);
}

TEST_CASE("a path that is not a socket is refused and left in place") {
  test::TempDir dir;
  std::string path = dir / "data.sock";
  std::ofstream(path) << "precious";
  CHECK(open_error(path) ==
        "listen on unix:" + path + ": \"" + path + "\" exists and is not a socket (left in place)");
  std::ifstream kept(path);
  std::string content;
  std::getline(kept, content);
  CHECK(content == "precious");

  std::string link = dir / "link.sock";
  Listener target = open_or_fail(dir / "target.sock");
  fs::create_symlink(dir / "target.sock", link);
  CHECK(open_error(link) ==
        "listen on unix:" + link + ": \"" + link + "\" exists and is not a socket (left in place)");
  CHECK(fs::is_symlink(link));

  std::string directory = dir / "subdir";
  fs::create_directory(directory);
  CHECK(open_error(directory).ends_with("exists and is not a socket (left in place)"));
  CHECK(fs::is_directory(directory));
}

TEST_CASE("a Unix path in a missing directory fails naming the address") {
  test::TempDir dir;
  std::string path = dir / "missing" / "x.sock";
  CHECK(open_error(path) == "listen on unix:" + path + ": bind: No such file or directory");
}

TEST_CASE("the socket file gets the configured mode, owner and group") {
  test::TempDir dir;
  std::string path = dir / "mode.sock";
  ListenerOptions options;
  options.mode = 0600;
  options.owner = ::getuid();
  options.group = ::getgid();
  Listener listener = open_or_fail(path, options);
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  CHECK(S_ISSOCK(info.st_mode));
  CHECK((info.st_mode & 07777) == 0600);
  CHECK(info.st_uid == ::getuid());
  CHECK(info.st_gid == ::getgid());

  options.mode = 0660;
  options.owner.reset();
  std::string other = dir / "mode2.sock";
  Listener second = open_or_fail(other, options);
  REQUIRE(::lstat(other.c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0660);
}

TEST_CASE("an abstract socket: no file, accept, a name in use is refused") {
  std::string name = unique_name("abstract");
  Listener listener = open_or_fail("unix:@" + name);
  CHECK(listener.address().to_string() == "unix:@" + name);
  CHECK(listener.local_address().to_string() == "unix:@" + name);
  check_connection(listener);
  CHECK(open_error("unix:@" + name) ==
        "listen on unix:@" + name + ": bind: Address already in use");
}

TEST_CASE("connect_blocking names the address it could not reach") {
  test::TempDir dir;
  std::string path = dir / "nobody.sock";
  CHECK_THROWS_WITH(test::connect_blocking(SocketAddress::unix_path(path)),
                    ("connect to unix:" + path + ": connect: No such file or directory").c_str());
}

}  // namespace
}  // namespace zcrecv::net
