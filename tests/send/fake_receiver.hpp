#pragma once

// A receiver on 127.0.0.1 that misbehaves on purpose, for zcsend's tests: it reads each
// connection to its end (or not at all) and then answers as the test asks.

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "net/socket_address.hpp"
#include "sys/syscalls.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::test {

class FakeReceiver {
 public:
  enum class Answer {
    kOk,              // OK <bytes received>
    kWrongCount,      // OK <bytes received - 1>
    kErr,             // ERR <bytes received> disk_full
    kReset,           // a reset (SO_LINGER 0) after the half-close, no receipt
    kCloseSilently,   // a plain close after the half-close, no receipt
    kSilent,          // keeps the connection open and never answers
    kResetEarly,      // a reset after the first bytes, before the sender is done
    kNotAReceipt,     // "HTTP/1.0 400 Bad Request"
  };

  /// Answers the i-th connection with answers[i], the later ones with the last.
  explicit FakeReceiver(std::vector<Answer> answers) : answers_(std::move(answers)) {
    listener_ = sys::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto any = *net::SocketAddress::from_ip("127.0.0.1", 0);
    if (!listener_ || ::bind(listener_.get(), any.data(), any.size()) != 0 ||
        ::listen(listener_.get(), 16) != 0) {
      throw std::runtime_error("fake receiver: cannot listen on 127.0.0.1");
    }
    address_ = *net::SocketAddress::local_of(listener_.get());
    stop_ = sys::eventfd(0, EFD_CLOEXEC).value();
    thread_ = std::thread([this] { serve(); });
  }
  FakeReceiver(const FakeReceiver&) = delete;
  FakeReceiver& operator=(const FakeReceiver&) = delete;
  ~FakeReceiver() {
    std::uint64_t one = 1;
    (void)::write(stop_.get(), &one, sizeof one);
    thread_.join();
  }

  /// "127.0.0.1:PORT".
  [[nodiscard]] std::string address() const { return address_.to_string(); }
  /// Connections accepted so far.
  [[nodiscard]] std::size_t connections() const { return connections_.load(); }
  /// The bytes of every connection accepted, in order (complete once it was answered).
  [[nodiscard]] std::vector<std::string> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  // Waits for `fd` to be readable or the stop; false on the stop.
  bool wait_readable(int fd) {
    std::array<pollfd, 2> fds{pollfd{fd, POLLIN, 0}, pollfd{stop_.get(), POLLIN, 0}};
    ::poll(fds.data(), fds.size(), -1);
    return fds[1].revents == 0;
  }

  void serve() {
    std::vector<sys::UniqueFd> held;
    while (wait_readable(listener_.get())) {
      sys::UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection) {
        continue;
      }
      const std::size_t index = connections_.fetch_add(1);
      const Answer answer = answers_[std::min(index, answers_.size() - 1)];
      {
        std::lock_guard lock(mutex_);
        received_.emplace_back();
      }
      if (answer == Answer::kSilent) {
        held.push_back(std::move(connection));
        continue;
      }
      std::string bytes;
      std::array<char, 65536> buffer{};
      for (;;) {
        if (!wait_readable(connection.get())) {
          return;
        }
        const ssize_t got = ::recv(connection.get(), buffer.data(), buffer.size(), 0);
        if (got <= 0) {
          break;
        }
        bytes.append(buffer.data(), static_cast<std::size_t>(got));
        if (answer == Answer::kResetEarly) {
          break;
        }
      }
      {
        std::lock_guard lock(mutex_);
        received_[index] = bytes;
      }
      respond(connection.get(), answer, bytes.size());
    }
  }

  static void respond(int fd, Answer answer, std::size_t bytes) {
    std::string line;
    switch (answer) {
      case Answer::kOk:
        line = "OK " + std::to_string(bytes) + "\n";
        break;
      case Answer::kWrongCount:
        line = "OK " + std::to_string(bytes - 1) + "\n";
        break;
      case Answer::kErr:
        line = "ERR " + std::to_string(bytes) + " disk_full\n";
        break;
      case Answer::kNotAReceipt:
        line = "HTTP/1.0 400 Bad Request\r\n";
        break;
      case Answer::kReset:
      case Answer::kResetEarly: {
        linger hard{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        return;
      }
      case Answer::kCloseSilently:
      case Answer::kSilent:
        return;
    }
    (void)::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  }

  std::vector<Answer> answers_;
  sys::UniqueFd listener_;
  sys::UniqueFd stop_;
  net::SocketAddress address_;
  std::atomic<std::size_t> connections_{0};
  std::mutex mutex_;
  std::vector<std::string> received_;
  std::thread thread_;
};

}  // namespace zcrecv::test
