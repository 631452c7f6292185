#include "support/sender.hpp"

#include <linux/sockios.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

// Generous: a sender outliving this is a hung test, and failing beats hanging.
constexpr std::chrono::seconds kDeadline{60};

}  // namespace

Sender::Sender(sys::UniqueFd socket, std::span<const std::byte> data, SenderOptions options)
    : socket_(std::move(socket)),
      data_(data),
      options_(options),
      deadline_(std::chrono::steady_clock::now() + kDeadline) {
  auto stop = sys::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (!stop) {
    throw std::runtime_error("test sender: " + stop.error().message());
  }
  stop_ = std::move(*stop);
  auto nonblocking = sys::set_nonblocking(socket_.get(), true);
  if (!nonblocking) {
    throw std::runtime_error("test sender: " + nonblocking.error().message());
  }
  thread_ = std::thread([this] { run(); });
}

Sender::~Sender() {
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    static_cast<void>(sys::write(stop_.get(), std::as_bytes(std::span(&one, 1))));
    thread_.join();
  }
}

std::string Sender::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
  return error_;
}

void Sender::run() {
  // The socket closes whatever happens, so that a receiver never waits for a sender that failed.
  send();
  socket_.reset();
}

void Sender::send() {
  std::size_t end = std::min(options_.reset_after.value_or(data_.size()), data_.size());
  for (std::size_t at = 0; at < end;) {
    std::size_t size = std::min(options_.chunk_size, end - at);
    if (!write_chunk(data_.subspan(at, size))) {
      return;
    }
    at += size;
    if (options_.pause.count() > 0 && at < end && !wait(0, options_.pause)) {
      return;
    }
  }
  if (!options_.reset_after) {
    auto ended = sys::shutdown(socket_.get(), SHUT_WR);
    if (!ended) {
      error_ = ended.error().message();
    }
    return;
  }
  if (!wait_until_acknowledged()) {
    return;
  }
  // With a zero linger time, close() discards the connection and sends RST.
  linger reset{1, 0};
  if (::setsockopt(socket_.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == -1) {
    error_ = sys::Error::from_errno(errno, "setsockopt(SO_LINGER)").message();
  }
}

bool Sender::write_chunk(std::span<const std::byte> chunk) {
  while (!chunk.empty()) {
    auto written = sys::write(socket_.get(), chunk);
    if (!written) {
      error_ = written.error().message();
      return false;
    }
    if (!written->has_value()) {
      if (!wait(POLLOUT, kDeadline)) {
        return false;
      }
      continue;
    }
    chunk = chunk.subspan(**written);
  }
  return true;
}

bool Sender::wait_until_acknowledged() {
  // Bytes still in the send queue when RST goes out are lost on the sender's side, not the
  // receiver's; the test wants every byte sent to be in the receiver's hands first. No event
  // says "all acknowledged", so SIOCOUTQ is checked every millisecond.
  for (;;) {
    int unacknowledged = 0;
    if (::ioctl(socket_.get(), SIOCOUTQ, &unacknowledged) == -1) {
      error_ = sys::Error::from_errno(errno, "ioctl(SIOCOUTQ)").message();
      return false;
    }
    if (unacknowledged == 0) {
      return true;
    }
    if (!wait(0, std::chrono::milliseconds(1))) {
      return false;
    }
  }
}

bool Sender::wait(short events, std::chrono::milliseconds timeout) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline_ - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    error_ = "test sender: deadline passed";
    return false;
  }
  std::array<pollfd, 2> fds{{{stop_.get(), POLLIN, 0}, {socket_.get(), events, 0}}};
  auto ready = sys::poll(std::span(fds).first(events != 0 ? 2 : 1),
                         static_cast<int>(std::min(timeout, left).count()));
  if (!ready) {
    error_ = ready.error().message();
    return false;
  }
  if (fds[0].revents != 0) {
    error_ = "test sender: stopped";
    return false;
  }
  return true;
}

}  // namespace zcrecv::test
