#include "metrics/metrics_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <span>
#include <utility>

#include "event/timer.hpp"
#include "metrics/exposition_writer.hpp"
#include "metrics/http_request.hpp"
#include "sys/syscalls.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::metrics {
namespace {

constexpr std::string_view kPlainText = "text/plain; charset=utf-8";

// A complete response; HEAD gets the header fields of the GET response, Content-Length
// included, and no body.
std::string make_response(std::string_view status, std::string_view content_type,
                          std::string_view body, bool with_body = true,
                          std::string_view extra_fields = {}) {
  std::string response = "HTTP/1.1 ";
  response += status;
  response += "\r\nContent-Type: ";
  response += content_type;
  response += "\r\nContent-Length: ";
  response += std::to_string(body.size());
  response += "\r\n";
  response += extra_fields;
  // One request per connection, said so: no keep-alive state to keep, and Content-Length lets the
  // client tell a whole body from a cut one without waiting for the close.
  response += "Connection: close\r\n\r\n";
  if (with_body) {
    response += body;
  }
  return response;
}

}  // namespace

/// One client connection: reads the request head, answers, closes.
class MetricsServer::Client final : public event::Handler {
 public:
  // The buffer is allocated once at its bound: a request head larger than it is refused (431), so a
  // client can never make the server allocate more.
  Client(MetricsServer& server, net::AcceptedConnection connection, std::uint64_t order)
      : server_(server),
        order_(order),
        loop_(server.loop_),
        socket_(std::move(connection.fd)),
        peer_(connection.peer.to_string()),
        deadline_(server.loop_, [this] { on_deadline(); }),
        received_(server.options_.max_request_head, '\0') {}

  // Closing through the loop forgets the socket's registration (one never registered is
  // simply closed). Only a client that failed to start, or is cut by the server's destruction,
  // still has its socket here; the others closed it in finish() and, destroyed after the
  // loop's batch, touch nothing of the server, which may be gone by then.
  ~Client() override {
    if (socket_) {
      (void)loop_.close(std::move(socket_));
    }
  }

  sys::Result<void> start() {
    if (auto added = loop_.add(socket_.get(), EPOLLIN, *this); !added) {
      return std::move(added).error();
    }
    // One deadline for the whole exchange, not per read: a client that trickles a byte at a time
    // cannot hold its place longer than the deadline.
    deadline_.arm(server_.options_.deadline);
    return {};
  }

  [[nodiscard]] std::uint64_t order() const noexcept { return order_; }

  // Closes a client that has not sent its request, for a new connection to take its place.
  void evict() {
    spdlog::debug("{}: {} cut: no complete request yet, and a new client needs its place",
                  server_.log_name_, peer_);
    finish();
  }

  void on_event(std::uint32_t /*events*/) override {
    // EPOLLERR and EPOLLHUP come to the same place: the next recv or send reports them.
    if (writing_) {
      write_response();
    } else {
      read_request();
    }
  }

 private:
  void read_request() {
    for (;;) {
      auto room = std::as_writable_bytes(std::span(received_).subspan(length_));
      auto got = sys::recv(socket_.get(), room, 0);
      if (!got) {
        spdlog::debug("{}: {}: {}", server_.log_name_, peer_, got.error().message());
        finish();
        return;
      }
      if (!got->has_value()) {
        return;
      }
      if (**got == 0) {
        spdlog::debug("{}: {} closed the connection before a complete request", server_.log_name_,
                      peer_);
        finish();
        return;
      }
      const std::size_t searched = length_;
      length_ += **got;
      std::string_view head(received_.data(), length_);
      // The search resumes just before the new bytes (find_request_head_end), so a head read in
      // many small pieces is scanned once, not again with each piece.
      if (auto end = find_request_head_end(head, searched)) {
        respond(server_.answer(head.substr(0, *end)));
        return;
      }
      if (length_ == received_.size()) {
        spdlog::debug("{}: {}: request head longer than {} bytes, answered 431", server_.log_name_,
                      peer_, received_.size());
        respond(make_response("431 Request Header Fields Too Large", kPlainText,
                              "request head too large\n"));
        return;
      }
    }
  }

  void respond(std::string response) {
    server_.heard(*this);
    response_ = std::move(response);
    writing_ = true;
    write_response();
  }

  void write_response() {
    while (sent_ < response_.size()) {
      auto rest = std::as_bytes(std::span(response_).subspan(sent_));
      // MSG_NOSIGNAL: a scraper that hung up gives EPIPE, not a SIGPIPE.
      auto sent = sys::send(socket_.get(), rest, MSG_NOSIGNAL);
      if (!sent) {
        spdlog::debug("{}: {}: {}", server_.log_name_, peer_, sent.error().message());
        finish();
        return;
      }
      if (!sent->has_value()) {
        // The socket buffer is full: wait until it drains, and stop listening for input,
        // which would wake the loop for nothing.
        if (!waiting_to_write_) {
          if (auto modified = loop_.modify(socket_.get(), EPOLLOUT); !modified) {
            spdlog::debug("{}: {}: {}", server_.log_name_, peer_, modified.error().message());
            finish();
            return;
          }
          waiting_to_write_ = true;
        }
        return;
      }
      sent_ += **sent;
    }
    finish();
  }

  void on_deadline() {
    spdlog::debug("{}: {} cut: {} within {} ms", server_.log_name_, peer_,
                  writing_ ? "response not taken" : "no complete request",
                  server_.options_.deadline.count());
    finish();
  }

  void finish() {
    deadline_.cancel();
    (void)loop_.close(std::move(socket_));
    server_.release(*this);
  }

  MetricsServer& server_;
  std::uint64_t order_;
  event::EventLoop& loop_;
  sys::UniqueFd socket_;
  std::string peer_;
  event::Timer deadline_;
  std::string received_;
  std::size_t length_ = 0;
  std::string response_;
  std::size_t sent_ = 0;
  bool writing_ = false;
  bool waiting_to_write_ = false;
};

sys::Result<std::unique_ptr<MetricsServer>> MetricsServer::open(
    event::EventLoop& loop, const net::ListenAddress& address, BodyFunction metrics,
    const MetricsServerOptions& options) {
  auto listener = net::Listener::open(address);
  if (!listener) {
    return std::move(listener).error();
  }
  return serve(loop, std::move(*listener), std::move(metrics), options);
}

sys::Result<std::unique_ptr<MetricsServer>> MetricsServer::serve(
    event::EventLoop& loop, net::Listener listener, BodyFunction metrics,
    const MetricsServerOptions& options) {
  std::unique_ptr<MetricsServer> server(
      new MetricsServer(loop, std::move(listener), std::move(metrics), options));
  if (auto watched = server->accept_.start(); !watched) {
    return std::move(watched).error();
  }
  return server;
}

MetricsServer::MetricsServer(event::EventLoop& loop, net::Listener listener, BodyFunction metrics,
                             const MetricsServerOptions& options)
    : loop_(loop),
      listener_(std::move(listener)),
      metrics_(std::move(metrics)),
      options_(options),
      log_name_("metrics endpoint " + listener_.local_address().to_string()),
      accept_(loop, listener_, log_name_, {.max_per_event = kMaxAcceptsPerEvent},
              [this](net::AcceptedConnection connection) { admit(std::move(connection)); }) {}

MetricsServer::~MetricsServer() { clients_.clear(); }

void MetricsServer::admit(net::AcceptedConnection connection) {
  // The number of clients is bounded so that connections that never speak cannot use up the main
  // loop's descriptors; answered requests take only a moment of their place.
  if (clients_.size() >= options_.max_connections) {
    if (silent_.empty()) {
      spdlog::debug("{}: {} clients being answered, closing {}", log_name_, clients_.size(),
                    connection.peer.to_string());
      return;
    }
    // The newest connection is the likeliest to be a health checker, whose request follows its
    // connect at once; the oldest silent one has had the longest to speak. Clients that only
    // connect thus evict one another, and a checker is answered between them.
    silent_.begin()->second->evict();
  }
  auto client = std::make_unique<Client>(*this, std::move(connection), accepted_++);
  if (auto started = client->start(); !started) {
    spdlog::debug("{}: {}", log_name_, started.error().message());
    return;
  }
  Client* key = client.get();
  clients_.emplace(key, std::move(client));
  silent_.emplace(key->order(), key);
}

void MetricsServer::heard(const Client& client) { silent_.erase(client.order()); }

void MetricsServer::release(Client& client) {
  silent_.erase(client.order());
  auto node = clients_.extract(&client);
  // A std::function must be copyable, hence the shared_ptr; the task only destroys the client.
  loop_.defer([doomed = std::shared_ptr<Client>(std::move(node.mapped()))] {});
}

std::string MetricsServer::answer(std::string_view head) const {
  std::optional<HttpRequest> request = parse_request_line(head);
  if (!request) {
    return make_response("400 Bad Request", kPlainText, "bad request\n");
  }
  const bool is_get = request->method == "GET";
  const bool is_head = request->method == "HEAD";
  if (request->path != "/metrics" && request->path != "/health") {
    return make_response("404 Not Found", kPlainText, "not found\n");
  }
  if (!is_get && !is_head) {
    return make_response("405 Method Not Allowed", kPlainText, "method not allowed\n", true,
                         "Allow: GET, HEAD\r\n");
  }
  if (request->path == "/metrics") {
    // /metrics answers even while stopping: the last scrape should still see the final counters.
    return make_response("200 OK", ExpositionWriter::kContentType, metrics_(), is_get);
  }
  if (stopping_) {
    return make_response("503 Service Unavailable", kPlainText, "stopping\n", is_get);
  }
  if (health_) {
    if (std::optional<std::string> reason = health_()) {
      return make_response("503 Service Unavailable", kPlainText, *reason + "\n", is_get);
    }
  }
  return make_response("200 OK", kPlainText, "ok\n", is_get);
}

}  // namespace zcrecv::metrics
