#include "send/attempt.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <vector>

#include "config/units.hpp"
#include "sys/quoted.hpp"
#include "net/receipt.hpp"
#include "net/socket_address.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::send {
namespace {

using Clock = std::chrono::steady_clock;

// A receipt is one short line; anything longer is not one.
constexpr std::size_t kMaxReceipt = 256;
// sendfile moves at most 0x7ffff000 bytes a call; a smaller slice keeps the meter live.
constexpr std::size_t kSlice = 16 * 1024 * 1024;

struct Connected {
  sys::UniqueFd socket;
  net::SocketAddress peer;
};

// The addresses `to` names, in the resolver's order.
sys::Result<std::vector<net::SocketAddress>> resolve(const net::ListenAddress& to) {
  using Kind = net::ListenAddress::Kind;
  if (to.kind == Kind::kUnixPath) {
    return std::vector{net::SocketAddress::unix_path(to.path)};
  }
  if (to.kind == Kind::kUnixAbstract) {
    return std::vector{net::SocketAddress::unix_abstract(to.path)};
  }
  if (auto ip = net::SocketAddress::from_ip(to.host, to.port)) {
    return std::vector{*ip};
  }
  // ":PORT" means this host, as a listener on ":PORT" is every interface of it.
  const std::string host = to.host.empty() ? "localhost" : to.host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // AI_ADDRCONFIG: only the families this host has an address of, so that an IPv4-only host does
  // not try (and time out on) the IPv6 addresses of a name first.
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(to.port).c_str(), &hints, &found);
  if (rc == EAI_SYSTEM) {
    return sys::Error::from_errno(errno, "getaddrinfo " + sys::quoted(host));
  }
  if (rc != 0) {
    return sys::Error::invalid("resolve " + sys::quoted(host) + ": " + ::gai_strerror(rc));
  }
  std::vector<net::SocketAddress> addresses;
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    addresses.emplace_back(entry->ai_addr, entry->ai_addrlen);
  }
  ::freeaddrinfo(found);
  return addresses;
}

// Milliseconds left until `deadline`, for poll(2); at least 1 while it is not passed.
int remaining_ms(Clock::time_point deadline, Clock::time_point now) {
  if (now >= deadline) {
    return 0;
  }
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 1, 60'000));
}

// Waits for `events` on `fd` until `deadline`, waking for the meter's redraws; the events that
// came, 0 at the deadline.
sys::Result<short> wait_for(int fd, short events, Clock::time_point deadline,
                            oneshot::ProgressMeter& meter, std::uint64_t shown) {
  for (;;) {
    const auto now = Clock::now();
    meter.update(shown, now);
    if (now >= deadline) {
      return static_cast<short>(0);
    }
    const auto redraw = meter.until_next(now);
    int wait = remaining_ms(deadline, now);
    if (redraw.count() < wait) {
      wait = static_cast<int>(std::max<std::int64_t>(redraw.count(), 1));
    }
    pollfd entry{.fd = fd, .events = events, .revents = 0};
    auto ready = sys::poll(std::span(&entry, 1), wait);
    if (!ready) {
      return std::move(ready).error();
    }
    if (*ready > 0) {
      return entry.revents;
    }
  }
}

sys::Result<Connected> connect_one(const net::SocketAddress& address, Clock::time_point deadline,
                                   oneshot::ProgressMeter& meter) {
  auto socket =
      sys::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (!socket) {
    return std::move(socket).error();
  }
  if (auto started = sys::connect(socket->get(), address.data(), address.size()); !started) {
    return std::move(started).error();
  }
  // A non-blocking connect ends when the socket turns writable; SO_ERROR then says whether it
  // succeeded (connect(2), EINPROGRESS).
  auto ready = wait_for(socket->get(), POLLOUT, deadline, meter, 0);
  if (!ready) {
    return std::move(ready).error();
  }
  if (*ready == 0) {
    return sys::Error::invalid("connect: no answer within --timeout");
  }
  auto error = sys::getsockopt_int(socket->get(), SOL_SOCKET, SO_ERROR);
  if (!error) {
    return std::move(error).error();
  }
  if (*error != 0) {
    return sys::Error::from_errno(*error, "connect");
  }
  return Connected{std::move(*socket), address};
}

sys::Result<Connected> connect_to(const net::ListenAddress& to, Clock::time_point deadline,
                                  oneshot::ProgressMeter& meter) {
  auto addresses = resolve(to);
  if (!addresses) {
    return std::move(addresses).error();
  }
  std::optional<sys::Error> last;
  // In the resolver's order (RFC 6724 preference), one at a time, each with what is left of the
  // deadline: the first address that answers takes the stream.
  for (const auto& address : *addresses) {
    auto connected = connect_one(address, deadline, meter);
    if (connected) {
      return connected;
    }
    // The outcome names the --to address; which of its addresses failed matters only for a name.
    last = addresses->size() > 1 ? connected.error().with_context(address.to_string())
                                 : connected.error();
  }
  return last ? *last : sys::Error::invalid("resolve " + sys::quoted(to.host) + ": no address");
}

// What the receiver has written so far, up to its first line or end; `error` set on a reset.
struct Answer {
  std::string text;
  bool ended = false;
  std::optional<sys::Error> error;

  [[nodiscard]] bool complete() const {
    return ended || error || text.find('\n') != std::string::npos || text.size() >= kMaxReceipt;
  }
};

// Reads what is there without waiting.
void read_available(int socket, Answer& answer) {
  while (!answer.complete()) {
    std::array<std::byte, kMaxReceipt> buffer{};
    auto got = sys::recv(socket, std::span(buffer).first(kMaxReceipt - answer.text.size()),
                         MSG_DONTWAIT);
    if (!got) {
      answer.error = std::move(got).error();
      return;
    }
    if (!got->has_value()) {
      return;
    }
    if (**got == 0) {
      answer.ended = true;
      return;
    }
    answer.text.append(reinterpret_cast<const char*>(buffer.data()), **got);
  }
}

// The verdict on a complete (or timed-out) answer to `sent` bytes.
std::string judge(const Answer& answer, std::uint64_t sent) {
  const auto newline = answer.text.find('\n');
  if (newline == std::string::npos) {
    if (answer.error) {
      return answer.error->errno_value() == ECONNRESET ? "connection reset"
                                                        : answer.error->message();
    }
    if (answer.text.empty()) {
      return "closed without a receipt";
    }
    return "not a receipt: " + sys::quoted(answer.text);
  }
  const std::string line = answer.text.substr(0, newline);
  auto receipt = net::parse_receipt(line);
  if (!receipt) {
    return "not a receipt: " + sys::quoted(line);
  }
  if (!receipt->ok) {
    return line;
  }
  // An OK for another count is not an acknowledgement of this stream: the copy is kept and sent
  // again, since at least once is the promise (docs/design.md §8.2).
  if (receipt->bytes != sent) {
    return line + ", but " + std::to_string(sent) + " bytes were sent";
  }
  return {};
}

}  // namespace

AttemptOutcome send_attempt(const net::ListenAddress& to, int file_fd, std::uint64_t size,
                            std::chrono::nanoseconds timeout, oneshot::ProgressMeter& meter) {
  AttemptOutcome outcome;
  outcome.peer = to.to_string();
  const std::string limit = " within --timeout (" + config::format_duration(timeout) + ")";
  auto deadline = Clock::now() + timeout;
  auto connected = connect_to(to, deadline, meter);
  if (!connected) {
    outcome.failure = connected.error().message();
    return outcome;
  }
  outcome.peer = connected->peer.to_string();
  const int socket = connected->socket.get();

  Answer answer;
  while (outcome.sent < size) {
    const auto length = static_cast<std::size_t>(std::min<std::uint64_t>(size - outcome.sent, kSlice));
    auto moved = sys::sendfile(socket, file_fd, outcome.sent, length);
    if (!moved) {
      // The receiver cut the stream (EPIPE, ECONNRESET): it may have said why before closing.
      read_available(socket, answer);
      if (answer.text.find('\n') != std::string::npos) {
        outcome.failure = judge(answer, outcome.sent);
      } else if (moved.error().errno_value() == ECONNRESET ||
                 moved.error().errno_value() == EPIPE) {
        outcome.failure = "connection reset while sending";
      } else {
        outcome.failure = moved.error().message();
      }
      return outcome;
    }
    if (moved->has_value()) {
      // sendfile returns 0 only at the end of the input: the file is shorter than when its size was
      // taken, and sending the rest of the size would be impossible.
      if (**moved == 0) {
        outcome.failure = "the input shrank to " + std::to_string(outcome.sent) + " of its " +
                          std::to_string(size) + " bytes while being sent";
        return outcome;
      }
      outcome.sent += **moved;
      // --timeout bounds a stall, not the whole transfer: every slice that moves starts it anew.
      deadline = Clock::now() + timeout;
      meter.update(outcome.sent, Clock::now());
      continue;
    }
    // POLLIN too: a receiver that cuts the stream (disk full, max_connection_bytes) writes its ERR
    // before it closes, and that reason is worth more than the EPIPE the next sendfile would get.
    auto ready = wait_for(socket, POLLOUT | POLLIN, deadline, meter, outcome.sent);
    if (!ready) {
      outcome.failure = ready.error().message();
      return outcome;
    }
    if (*ready == 0) {
      outcome.failure = "sending stalled" + limit;
      return outcome;
    }
    if ((*ready & POLLIN) != 0) {
      // zcrecv writes only receipts: an answer before the end is an ERR for a cut stream.
      read_available(socket, answer);
      if (answer.complete()) {
        outcome.failure = "answered before the end: " + judge(answer, outcome.sent);
        return outcome;
      }
    }
  }
  // SHUT_WR sends the FIN that ends the stream for the receiver, while the socket stays open for
  // reading the receipt; a close here would lose it.
  if (auto closed = sys::shutdown(socket, SHUT_WR); !closed) {
    outcome.failure = closed.error().message();
    return outcome;
  }
  // The receipt comes once the receiver has made the stream durable: `timeout` from now.
  deadline = Clock::now() + timeout;
  for (;;) {
    read_available(socket, answer);
    if (answer.complete()) {
      break;
    }
    auto ready = wait_for(socket, POLLIN, deadline, meter, outcome.sent);
    if (!ready) {
      outcome.failure = ready.error().message();
      return outcome;
    }
    if (*ready == 0) {
      outcome.failure = "no receipt" + limit;
      return outcome;
    }
  }
  outcome.failure = judge(answer, outcome.sent);
  outcome.acknowledged = outcome.failure.empty();
  return outcome;
}

}  // namespace zcrecv::send
