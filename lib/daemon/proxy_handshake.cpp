#include "daemon/proxy_handshake.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstddef>
#include <span>
#include <utility>

#include "config/units.hpp"
#include "daemon/worker.hpp"
#include "log/event.hpp"
#include "net/proxy_receive.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::daemon {

ProxyHandshake::ProxyHandshake(Worker& worker, sys::UniqueFd socket,
                               net::SocketAddress proxy_address, net::PeerIdentity proxy,
                               std::shared_ptr<SharedListener> listener,
                               std::shared_ptr<const ListenerSettings> settings)
    : worker_(worker),
      socket_(std::move(socket)),
      proxy_address_(proxy_address),
      proxy_(std::move(proxy)),
      listener_(std::move(listener)),
      settings_(std::move(settings)),
      timeout_(worker.loop(), [this] { time_out(); }) {}

ProxyHandshake::~ProxyHandshake() {
  if (registered_) {
    (void)worker_.loop().remove(socket_.get());
  }
}

bool ProxyHandshake::advance(std::uint32_t events) {
  if (unknown_client_) {
    return await_unknown_client(events);
  }
  auto received = net::receive_proxy_header(socket_.get());
  if (!received) {
    const sys::Error& error = received.error();
    if (error.errno_value() == 0) {
      fail(false, error.message());
    } else if (waiting_ == 0) {
      // Reset before its first byte: a health check or a scanner, not a proxy that failed.
      spdlog::debug("listener {}: {} went before sending a PROXY header: {}", settings_->name,
                    proxy_.display, error.message());
      end(std::nullopt);
    } else {
      fail(false, error.message() + " after " + std::to_string(waiting_) +
                      " bytes of a PROXY header");
    }
    return true;
  }
  if (received->header) {
    net::PeerIdentity client =
        net::identify_proxied_peer(*received->header, proxy_address_, proxy_);
    if (client.proxy_itself && settings_->unknown_client_refusal()) {
      unknown_client_ = true;
      return await_unknown_client(events);
    }
    over_ = true;
    timeout_.cancel();
    // A watched socket stays in the loop's set for the Connection to take over: most streams
    // end in its first pump, and their close then takes the socket out with no epoll_ctl.
    const bool watched = registered_;
    registered_ = false;
    worker_.proxied(std::move(socket_), std::move(client), *received->header, *listener_,
                    *settings_, watched);
    return true;
  }
  if (received->ended) {
    // A TCP health check (connect, close) or a scanner: nothing failed, nothing to count.
    spdlog::debug("listener {}: {} closed without sending a PROXY header", settings_->name,
                  proxy_.display);
    end(std::nullopt);
    return true;
  }
  waiting_ = received->waiting;
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    fail(false, "the peer closed the connection after " + std::to_string(waiting_) +
                    " bytes of a PROXY header");
    return true;
  }
  return false;
}

bool ProxyHandshake::await_unknown_client(std::uint32_t events) {
  std::byte byte{};
  auto got = sys::recv(socket_.get(), std::span(&byte, 1), MSG_PEEK | MSG_DONTWAIT);
  if (!got) {
    spdlog::debug("listener {}: {} (the proxy's own connection): {}", settings_->name,
                  proxy_.display, got.error().message());
    end(std::nullopt);
    return true;
  }
  if (got->has_value() && **got == 0) {
    // A health check: the header, then the end. Nothing to store, nothing refused.
    spdlog::debug("listener {}: {} (the proxy's own connection) closed after its header",
                  settings_->name, proxy_.display);
    end(std::nullopt);
    return true;
  }
  if (got->has_value()) {
    // Fail closed: data from a client nobody named would be stored past the allow list.
    end(settings_->unknown_client_refusal(), metrics::RejectReason::kAllow);
    return true;
  }
  if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
    end(std::nullopt);
    return true;
  }
  return false;
}

sys::Result<void> ProxyHandshake::wait() {
  // Edge-triggered: the bytes of an incomplete header stay in the socket (peeked), and a
  // level-triggered watch would report them again at once, for ever. Each new arrival, and the
  // peer's end of stream (EPOLLRDHUP), is a new edge.
  if (auto added =
          worker_.loop().add(socket_.get(), EPOLLIN | EPOLLRDHUP | EPOLLET, *this);
      !added) {
    return added;
  }
  registered_ = true;
  timeout_.arm(settings_->proxy_timeout);
  return {};
}

void ProxyHandshake::on_event(std::uint32_t events) {
  if (!over_ && advance(events)) {
    worker_.handshake_finished(*this);
  }
}

void ProxyHandshake::cut(const std::string& reason) {
  if (over_) {
    return;
  }
  log::event(spdlog::level::warn, "proxy_header_cut",
             {{"listener", settings_->name}, {"peer", proxy_.display}, {"error", reason}},
             fmt::format("listener {}: {} cut before its PROXY header was complete: {}",
                         settings_->name, proxy_.display, reason));
  end(std::nullopt);
  worker_.handshake_finished(*this);
}

void ProxyHandshake::time_out() {
  if (unknown_client_) {
    // The proxy's own connection kept open without data: not a failed header, not a stream.
    spdlog::debug("listener {}: {} (the proxy's own connection) sent nothing within "
                  "proxy_timeout after its header", settings_->name, proxy_.display);
    end(std::nullopt);
    worker_.handshake_finished(*this);
    return;
  }
  fail(true, "no complete PROXY header within proxy_timeout (" +
                 config::format_duration(settings_->proxy_timeout) + "), " +
                 std::to_string(waiting_) + " bytes of one arrived");
  worker_.handshake_finished(*this);
}

void ProxyHandshake::fail(bool timed_out, const std::string& reason) {
  metrics::Stats& stats = worker_.stats();
  auto& counter = timed_out ? stats.proxy_header_timeout : stats.proxy_header_invalid;
  counter.fetch_add(1, std::memory_order_relaxed);
  end(reason);
}

void ProxyHandshake::end(const std::optional<std::string>& refusal, metrics::RejectReason reason) {
  over_ = true;
  timeout_.cancel();
  worker_.proxy_ended(*listener_, *settings_, proxy_, refusal, reason);
  // Closed last, once counted and logged: a peer that waits for the close finds both done.
  if (registered_) {
    (void)worker_.loop().close(std::move(socket_));
    registered_ = false;
  } else {
    socket_.reset();
  }
}

}  // namespace zcrecv::daemon
