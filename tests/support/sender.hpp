#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "sys/unique_fd.hpp"

namespace zcrecv::test {

/// How a Sender behaves.
struct SenderOptions {
  /// Bytes per write(2).
  std::size_t chunk_size = std::size_t{64} * 1024;
  /// A pause after each chunk, to play a slow sender.
  std::chrono::milliseconds pause{0};
  /// Reset the connection (RST, SO_LINGER {1, 0} then close) once this many bytes were sent and
  /// acknowledged by the peer, instead of ending it cleanly.
  std::optional<std::size_t> reset_after{};
};

/// A thread that writes `data` into a stream socket in chunks, then ends the stream
/// (shutdown(SHUT_WR), close) or resets it. The destructor stops and joins it, so a failing test
/// never hangs on a sender blocked by a receiver that stopped reading.
class Sender {
 public:
  /// Starts at once. `data` must outlive the Sender; the Sender owns `socket` and closes it.
  Sender(sys::UniqueFd socket, std::span<const std::byte> data, SenderOptions options = {});
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;
  ~Sender();

  /// Waits for the thread to finish; returns what went wrong, or "" when all went as asked.
  std::string join();

 private:
  void run();
  // Writes the data and ends or resets the stream, leaving the close to run().
  void send();
  bool write_chunk(std::span<const std::byte> chunk);
  bool wait_until_acknowledged();
  // Polls the stop eventfd, and the socket for `events` unless 0, for at most `timeout` and never
  // past the deadline. False, with error_ set, on a stop request, the deadline or a poll error.
  bool wait(short events, std::chrono::milliseconds timeout);

  sys::UniqueFd socket_;
  // An eventfd the destructor writes to: a stop request the thread sees in every poll.
  sys::UniqueFd stop_;
  std::span<const std::byte> data_;
  SenderOptions options_;
  std::chrono::steady_clock::time_point deadline_;
  std::string error_;
  std::thread thread_;
};

}  // namespace zcrecv::test
