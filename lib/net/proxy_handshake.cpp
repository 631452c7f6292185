#include "net/proxy_handshake.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstddef>
#include <span>
#include <utility>

#include "net/proxy_receive.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::net {

ProxyHandshake::ProxyHandshake(event::EventLoop& loop, ProxyHandshakeOwner& owner,
                               ProxyHandshakeSettings settings, sys::UniqueFd socket,
                               SocketAddress proxy_address, PeerIdentity proxy)
    : loop_(loop),
      owner_(owner),
      settings_(settings),
      socket_(std::move(socket)),
      proxy_address_(proxy_address),
      proxy_(std::move(proxy)),
      timeout_(loop, [this] { time_out(); }) {}

ProxyHandshake::~ProxyHandshake() {
  // A handshake destroyed while its socket is still watched (a worker torn down) must leave the
  // loop's set before the descriptor closes with socket_.
  if (registered_) {
    (void)loop_.remove(socket_.get());
  }
}

bool ProxyHandshake::advance(std::uint32_t events) {
  if (unknown_client_) {
    return await_unknown_client(events);
  }
  auto received = receive_proxy_header(socket_.get());
  if (!received) {
    const sys::Error& error = received.error();
    // errno 0 marks a parse error (the header is invalid); anything else is the socket's own error.
    if (error.errno_value() == 0) {
      end(ProxyHandshakeEnd::kInvalid, error.message());
    } else if (waiting_ == 0) {
      // Reset before its first byte: a health check or a scanner, not a proxy that failed.
      spdlog::debug("listener {}: {} went before sending a PROXY header: {}", settings_.listener,
                    proxy_.display, error.message());
      end(ProxyHandshakeEnd::kQuiet);
    } else {
      end(ProxyHandshakeEnd::kInvalid,
          error.message() + " after " + std::to_string(waiting_) + " bytes of a PROXY header");
    }
    return true;
  }
  if (received->header) {
    PeerIdentity client = identify_proxied_peer(*received->header, proxy_address_, proxy_);
    // Checked only after the header: whether the proxy named a client is known only from it.
    if (client.proxy_itself && settings_.refuse_unknown_client) {
      unknown_client_ = true;
      return await_unknown_client(events);
    }
    over_ = true;
    timeout_.cancel();
    // A watched socket stays in the loop's set for the stream's handler to take over: most
    // streams end in its first pump, and their close then takes the socket out with no
    // epoll_ctl.
    const bool watched = registered_;
    registered_ = false;
    owner_.proxied(std::move(socket_), std::move(client), *received->header, watched);
    return true;
  }
  if (received->ended) {
    // A TCP health check (connect, close) or a scanner: nothing failed, nothing to count.
    spdlog::debug("listener {}: {} closed without sending a PROXY header", settings_.listener,
                  proxy_.display);
    end(ProxyHandshakeEnd::kQuiet);
    return true;
  }
  waiting_ = received->waiting;
  // EPOLLRDHUP with a header still incomplete: the peer half-closed inside the header, which can
  // never be completed now.
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    end(ProxyHandshakeEnd::kInvalid, "the peer closed the connection after " +
                                         std::to_string(waiting_) + " bytes of a PROXY header");
    return true;
  }
  return false;
}

bool ProxyHandshake::await_unknown_client(std::uint32_t events) {
  std::byte byte{};
  auto got = sys::recv(socket_.get(), std::span(&byte, 1), MSG_PEEK | MSG_DONTWAIT);
  if (!got) {
    spdlog::debug("listener {}: {} (the proxy's own connection): {}", settings_.listener,
                  proxy_.display, got.error().message());
    end(ProxyHandshakeEnd::kQuiet);
    return true;
  }
  if (got->has_value() && **got == 0) {
    // A health check: the header, then the end. Nothing to store, nothing refused.
    spdlog::debug("listener {}: {} (the proxy's own connection) closed after its header",
                  settings_.listener, proxy_.display);
    end(ProxyHandshakeEnd::kQuiet);
    return true;
  }
  if (got->has_value()) {
    // Fail closed: data from a client nobody named would be stored past the allow list.
    end(ProxyHandshakeEnd::kUnknownClient);
    return true;
  }
  // No byte and no end yet: a half-close would have shown above as a peek of 0, so only a
  // hang-up or an error ends the wait here.
  if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
    end(ProxyHandshakeEnd::kQuiet);
    return true;
  }
  return false;
}

sys::Result<void> ProxyHandshake::wait() {
  // Edge-triggered: the bytes of an incomplete header stay in the socket (peeked), and a
  // level-triggered watch would report them again at once, for ever. Each new arrival, and the
  // peer's end of stream (EPOLLRDHUP), is a new edge.
  if (auto added = loop_.add(socket_.get(), EPOLLIN | EPOLLRDHUP | EPOLLET, *this); !added) {
    return added;
  }
  registered_ = true;
  timeout_.arm(settings_.timeout);
  return {};
}

void ProxyHandshake::on_event(std::uint32_t events) {
  if (!over_ && advance(events)) {
    owner_.handshake_finished();
  }
}

void ProxyHandshake::cut(const std::string& reason) {
  if (over_) {
    return;
  }
  end(ProxyHandshakeEnd::kCut, reason);
  owner_.handshake_finished();
}

void ProxyHandshake::time_out() {
  if (unknown_client_) {
    // The proxy's own connection kept open without data: not a failed header, not a stream.
    spdlog::debug(
        "listener {}: {} (the proxy's own connection) sent nothing within "
        "proxy_timeout after its header",
        settings_.listener, proxy_.display);
    end(ProxyHandshakeEnd::kQuiet);
    owner_.handshake_finished();
    return;
  }
  end(ProxyHandshakeEnd::kTimedOut);
  owner_.handshake_finished();
}

void ProxyHandshake::end(ProxyHandshakeEnd how, const std::string& detail) {
  over_ = true;
  timeout_.cancel();
  owner_.proxy_ended(how, detail);
  // Closed last, once counted and logged: a peer that waits for the close finds both done.
  if (registered_) {
    (void)loop_.close(std::move(socket_));
    registered_ = false;
  } else {
    socket_.reset();
  }
}

}  // namespace zcrecv::net
