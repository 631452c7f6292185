#include "metrics/metrics_server.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "event/event_loop.hpp"
#include "support/loopback.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::metrics {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kBody = "# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n";
constexpr auto kPatience = 10s;

// A MetricsServer on an EventLoop run by a thread of its own, as the daemon's main thread runs
// it; the test thread plays the clients.
class ServerThread {
 public:
  explicit ServerThread(const std::string& address, MetricsServerOptions options = {},
                        std::string body = std::string(kBody))
      : body_(std::move(body)) {
    auto loop = event::EventLoop::create();
    REQUIRE(loop.ok());
    loop_ = std::move(*loop);
    auto parsed = net::parse_listen_address(address);
    REQUIRE(parsed.ok());
    auto server = MetricsServer::open(
        *loop_, *parsed, [this] { return body_; }, options);
    if (!server.ok()) {
      FAIL(server.error().message());
    }
    server_ = std::move(*server);
    address_ = server_->listener().local_address();
    thread_ = std::thread([this] { (void)loop_->run(); });
  }
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;
  ~ServerThread() {
    loop_->stop();
    thread_.join();
    server_.reset();
  }

  [[nodiscard]] const net::SocketAddress& address() const { return address_; }
  void set_stopping() {
    on_loop([this] { server_->set_stopping(); });
  }
  void set_health(MetricsServer::HealthFunction health) {
    on_loop([this, &health] { server_->set_health(std::move(health)); });
  }
  void close_server() {
    on_loop([this] { server_.reset(); });
  }

 private:
  void on_loop(const std::function<void()>& task) {
    std::promise<void> done;
    loop_->post([&] {
      task();
      done.set_value();
    });
    done.get_future().wait();
  }

  const std::string body_;
  std::unique_ptr<event::EventLoop> loop_;
  std::unique_ptr<MetricsServer> server_;
  net::SocketAddress address_;
  std::thread thread_;
};

void send_all(const sys::UniqueFd& socket, std::string_view data) {
  REQUIRE(::send(socket.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(data.size()));
}

// Waits up to kPatience for `socket` to be readable; fails the test otherwise.
void wait_readable(const sys::UniqueFd& socket) {
  pollfd ready{socket.get(), POLLIN, 0};
  auto polled =
      sys::poll({&ready, 1}, static_cast<int>(std::chrono::milliseconds(kPatience).count()));
  REQUIRE(polled.ok());
  REQUIRE_MESSAGE(*polled == 1, "the server neither answered nor closed in time");
}

// What the server sends until it closes the connection (a reset ends it too).
std::string read_until_closed(const sys::UniqueFd& socket) {
  std::string text;
  char buffer[65536];
  for (;;) {
    wait_readable(socket);
    ssize_t got = ::recv(socket.get(), buffer, sizeof buffer, 0);
    if (got == 0 || (got < 0 && errno == ECONNRESET)) {
      return text;
    }
    REQUIRE(got > 0);
    text.append(buffer, static_cast<std::size_t>(got));
  }
}

struct Reply {
  std::string status;  // "HTTP/1.1 200 OK"
  std::string head;    // the status line and header fields, each ending in CRLF
  std::string body;
};

Reply parse_reply(const std::string& text) {
  auto end = text.find("\r\n\r\n");
  REQUIRE_MESSAGE(end != std::string::npos, "not an HTTP response: " << text);
  return Reply{text.substr(0, text.find("\r\n")), text.substr(0, end + 2), text.substr(end + 4)};
}

Reply ask(const net::SocketAddress& address, std::string_view request) {
  sys::UniqueFd socket = test::connect_blocking(address);
  send_all(socket, request);
  return parse_reply(read_until_closed(socket));
}

Reply get(const net::SocketAddress& address, std::string_view method, std::string_view path) {
  return ask(address, std::string(method) + " " + std::string(path) +
                          " HTTP/1.1\r\nHost: zcrecv\r\nUser-Agent: test\r\n\r\n");
}

bool has_field(const Reply& reply, std::string_view field) {
  return reply.head.find("\r\n" + std::string(field) + "\r\n") != std::string::npos;
}

void check_serves(const net::SocketAddress& address) {
  Reply reply = get(address, "GET", "/health");
  CHECK(reply.status == "HTTP/1.1 200 OK");
  CHECK(reply.body == "ok\n");
}

// A connection the server closes without answering: EOF (or a reset), no byte.
void check_closed_without_answer(const sys::UniqueFd& socket) {
  CHECK(read_until_closed(socket).empty());
}

TEST_CASE("metrics HTTP: GET /metrics answers the callback's body as Prometheus text") {
  ServerThread server("127.0.0.1:0");
  CHECK(server.address().port() != 0);
  Reply reply = get(server.address(), "GET", "/metrics");
  CHECK(reply.status == "HTTP/1.1 200 OK");
  CHECK(has_field(reply, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
  CHECK(has_field(reply, "Content-Length: " + std::to_string(kBody.size())));
  CHECK(has_field(reply, "Connection: close"));
  CHECK(reply.body == kBody);

  // HTTP/1.0 with bare LF line ends and a query string: the same document.
  reply = ask(server.address(), "GET /metrics?debug=1 HTTP/1.0\n\n");
  CHECK(reply.status == "HTTP/1.1 200 OK");
  CHECK(reply.body == kBody);

  reply = get(server.address(), "HEAD", "/metrics");
  CHECK(reply.status == "HTTP/1.1 200 OK");
  CHECK(has_field(reply, "Content-Length: " + std::to_string(kBody.size())));
  CHECK(reply.body.empty());
}

TEST_CASE("metrics HTTP: /health says ok, then 503 stopping once the owner says so") {
  ServerThread server("127.0.0.1:0");
  Reply reply = get(server.address(), "GET", "/health");
  CHECK(reply.status == "HTTP/1.1 200 OK");
  CHECK(has_field(reply, "Content-Type: text/plain; charset=utf-8"));
  CHECK(reply.body == "ok\n");

  server.set_stopping();
  reply = get(server.address(), "GET", "/health");
  CHECK(reply.status == "HTTP/1.1 503 Service Unavailable");
  CHECK(reply.body == "stopping\n");
  reply = get(server.address(), "HEAD", "/health");
  CHECK(reply.status == "HTTP/1.1 503 Service Unavailable");
  CHECK(has_field(reply, "Content-Length: 9"));
  CHECK(reply.body.empty());
  // Scrapes go on while the daemon drains.
  CHECK(get(server.address(), "GET", "/metrics").body == kBody);
}

TEST_CASE("metrics HTTP: /health answers 503 with the health function's reason, stopping first") {
  ServerThread server("127.0.0.1:0");
  // Set by the test thread, read by the loop's thread within a request.
  std::atomic<bool> full{false};
  server.set_health([&full]() -> std::optional<std::string> {
    if (!full.load()) {
      return std::nullopt;
    }
    return "disk_full /srv/out: 1000 bytes free";
  });
  CHECK(get(server.address(), "GET", "/health").body == "ok\n");

  full = true;
  Reply reply = get(server.address(), "GET", "/health");
  CHECK(reply.status == "HTTP/1.1 503 Service Unavailable");
  CHECK(reply.body == "disk_full /srv/out: 1000 bytes free\n");
  reply = get(server.address(), "HEAD", "/health");
  CHECK(reply.status == "HTTP/1.1 503 Service Unavailable");
  CHECK(reply.body.empty());
  CHECK(get(server.address(), "GET", "/metrics").body == kBody);

  server.set_stopping();
  CHECK(get(server.address(), "GET", "/health").body == "stopping\n");
}

TEST_CASE("metrics HTTP: unknown paths 404, other methods 405, garbage 400") {
  ServerThread server("127.0.0.1:0");
  Reply reply = get(server.address(), "GET", "/nope");
  CHECK(reply.status == "HTTP/1.1 404 Not Found");
  CHECK(has_field(reply, "Connection: close"));
  CHECK(get(server.address(), "GET", "/metrics/").status == "HTTP/1.1 404 Not Found");

  reply = ask(server.address(), "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  CHECK(reply.status == "HTTP/1.1 405 Method Not Allowed");
  CHECK(has_field(reply, "Allow: GET, HEAD"));
  CHECK(get(server.address(), "DELETE", "/health").status == "HTTP/1.1 405 Method Not Allowed");
  CHECK(get(server.address(), "get", "/metrics").status == "HTTP/1.1 405 Method Not Allowed");

  CHECK(ask(server.address(), "hello\r\n\r\n").status == "HTTP/1.1 400 Bad Request");
  CHECK(ask(server.address(), std::string_view("\x16\x03\x01\x02\x00\x01\n\n", 8)).status ==
        "HTTP/1.1 400 Bad Request");
  check_serves(server.address());
}

TEST_CASE("metrics HTTP: a request head over the limit is answered 431 or cut, never read on") {
  ServerThread server("127.0.0.1:0");
  sys::UniqueFd socket = test::connect_blocking(server.address());
  REQUIRE(sys::set_nonblocking(socket.get(), true).ok());
  send_all(socket, "GET /metrics HTTP/1.1\r\nX-Endless: ");
  // Header bytes for as long as the server takes them; it stops after its 8 KiB limit.
  const std::string filler(4096, 'a');
  std::string answer;
  bool sending = true;
  const auto give_up = Clock::now() + kPatience;
  for (;;) {
    REQUIRE_MESSAGE(Clock::now() < give_up, "the server kept reading an endless header");
    pollfd ready{socket.get(), static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    REQUIRE(::poll(&ready, 1, 1000) >= 0);
    if ((ready.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buffer[4096];
      ssize_t got = ::recv(socket.get(), buffer, sizeof buffer, 0);
      if (got == 0 || (got < 0 && errno == ECONNRESET)) {
        break;
      }
      if (got > 0) {
        answer.append(buffer, static_cast<std::size_t>(got));
      }
    } else if ((ready.revents & POLLOUT) != 0) {
      // EPIPE or ECONNRESET: the server has closed; what it said is still to be read.
      sending =
          ::send(socket.get(), filler.data(), filler.size(), MSG_NOSIGNAL) >= 0 || errno == EAGAIN;
    }
  }
  // The answer is lost when the server's close resets the connection before it is read.
  if (!answer.empty()) {
    CHECK(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  }
  check_serves(server.address());
}

TEST_CASE("metrics HTTP: a client that says nothing, or half a request, is cut at the deadline") {
  constexpr auto kDeadline = 200ms;
  ServerThread server("127.0.0.1:0", {.deadline = kDeadline});

  auto connected_at = Clock::now();
  sys::UniqueFd silent = test::connect_blocking(server.address());
  check_closed_without_answer(silent);
  CHECK(Clock::now() - connected_at >= kDeadline);
  check_serves(server.address());

  connected_at = Clock::now();
  sys::UniqueFd slow = test::connect_blocking(server.address());
  send_all(slow, "GET /metrics HTTP/1.1\r\nHost: zc");
  check_closed_without_answer(slow);
  CHECK(Clock::now() - connected_at >= kDeadline);
  check_serves(server.address());
}

TEST_CASE("metrics HTTP: a connection beyond the limit takes the place of the oldest silent one") {
  // A deadline far beyond the test's waits: every close seen here is the limit's doing.
  ServerThread server("127.0.0.1:0", {.max_connections = 2, .deadline = 60s});
  sys::UniqueFd first = test::connect_blocking(server.address());
  sys::UniqueFd second = test::connect_blocking(server.address());
  // Accepted in the order they queued: the third evicts the first, which said nothing.
  sys::UniqueFd third = test::connect_blocking(server.address());
  check_closed_without_answer(first);

  send_all(third, "GET /health HTTP/1.1\r\n\r\n");
  CHECK(parse_reply(read_until_closed(third)).body == "ok\n");
  send_all(second, "GET /health HTTP/1.1\r\n\r\n");
  CHECK(parse_reply(read_until_closed(second)).body == "ok\n");
  // Finished clients give their places back: more exchanges than places.
  for (int i = 0; i < 3; ++i) {
    check_serves(server.address());
  }
}

TEST_CASE("metrics HTTP: 200 clients that say nothing do not keep /health from answering") {
  ServerThread server("127.0.0.1:0", {.deadline = 60s});
  std::vector<sys::UniqueFd> silent;
  for (int i = 0; i < 200; ++i) {
    silent.push_back(test::connect_blocking(server.address()));
  }
  for (int i = 0; i < 20; ++i) {
    check_serves(server.address());
    // Each probe evicted one of them: it takes its place again.
    silent.push_back(test::connect_blocking(server.address()));
  }
}

TEST_CASE("metrics HTTP: a response larger than the socket buffers arrives whole") {
  // Bigger than loopback's send and receive buffers together: the server waits for EPOLLOUT.
  std::string body(std::size_t{16} << 20, 'x');
  body.back() = '\n';
  ServerThread server("127.0.0.1:0", {}, body);
  Reply reply = get(server.address(), "GET", "/metrics");
  CHECK(reply.status == "HTTP/1.1 200 OK");
  CHECK(reply.body.size() == body.size());
  CHECK(reply.body == body);
}

TEST_CASE("metrics HTTP: on a Unix socket, closing the server closes its clients and the file") {
  test::TempDir dir;
  const std::filesystem::path path = dir / "metrics.sock";
  ServerThread server("unix:" + path.string());
  CHECK(server.address().to_string() == "unix:" + path.string());
  Reply reply = get(server.address(), "GET", "/metrics");
  CHECK(reply.status == "HTTP/1.1 200 OK");
  CHECK(reply.body == kBody);

  sys::UniqueFd idle = test::connect_blocking(server.address());
  check_serves(server.address());  // the idle client is accepted before this one
  server.close_server();
  check_closed_without_answer(idle);
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK_THROWS_AS(test::connect_blocking(server.address()), std::runtime_error);
}

TEST_CASE("metrics HTTP: closing the server stops the TCP listener") {
  ServerThread server("127.0.0.1:0");
  sys::UniqueFd idle = test::connect_blocking(server.address());
  check_serves(server.address());
  server.close_server();
  check_closed_without_answer(idle);
  CHECK_THROWS_AS(test::connect_blocking(server.address()), std::runtime_error);
}

TEST_CASE("metrics HTTP: opening on an address in use fails and names it") {
  ServerThread server("127.0.0.1:0");
  auto loop = event::EventLoop::create();
  REQUIRE(loop.ok());
  auto taken = net::parse_listen_address("127.0.0.1:" + std::to_string(server.address().port()));
  REQUIRE(taken.ok());
  auto second = MetricsServer::open(**loop, *taken, [] { return std::string(); });
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().message() ==
        "listen on " + taken->to_string() + ": bind: Address already in use");
}

#ifdef __SANITIZE_ADDRESS__
// ASan opens descriptors of its own at unpredictable moments, which the exhaustion would break.
constexpr bool kSanitizerNeedsDescriptors = true;
#else
constexpr bool kSanitizerNeedsDescriptors = false;
#endif

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& time) {
    return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

TEST_CASE("metrics HTTP: out of descriptors, accepts pause without spinning and then resume" *
          doctest::skip(kSanitizerNeedsDescriptors)) {
  ServerThread server("127.0.0.1:0");
  auto client = sys::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(client.ok());
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  // The lowest free descriptor number becomes the limit: no new descriptor fits under it.
  const int lowest_free = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
  REQUIRE(lowest_free >= 0);
  ::close(lowest_free);
  rlimit exhausted = saved;
  exhausted.rlim_cur = static_cast<rlim_t>(lowest_free);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &exhausted) == 0);

  // The handshake completes in the kernel; the server's accept fails with EMFILE.
  const net::SocketAddress& address = server.address();
  const int connected = ::connect(client->get(), address.data(), address.size());
  // Time is what is measured here, so this is a sleep on purpose.
  const double before = cpu_seconds();
  std::this_thread::sleep_for(500ms);
  const double used = cpu_seconds() - before;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  REQUIRE(connected == 0);
  MESSAGE("CPU time during 500 ms of descriptor exhaustion: ", used, " s");
  CHECK(used < 0.1);

  send_all(*client, "GET /health HTTP/1.1\r\n\r\n");
  CHECK(parse_reply(read_until_closed(*client)).body == "ok\n");
}

}  // namespace
}  // namespace zcrecv::metrics
