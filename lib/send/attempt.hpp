#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "net/listen_address.hpp"
#include "oneshot/progress_meter.hpp"

namespace zcrecv::send {

/// How one attempt to send an input ended.
struct AttemptOutcome {
  /// True only for `OK <n>` with n = the bytes sent.
  bool acknowledged = false;
  /// The address connected to ("127.0.0.1:9000", "unix:/run/x.sock"), or the --to text when no
  /// connection was made.
  std::string peer;
  /// Bytes the socket took in this attempt.
  std::uint64_t sent = 0;
  /// Why it is not stored, for the log: `ERR 0 disk_full`, `connection reset`, `no receipt
  /// within --timeout (30s)`, ...; empty when acknowledged.
  std::string failure;
};

/// One attempt: connects to `to` (a host name is resolved now, each of its addresses tried in
/// turn), sends the `size` bytes of `file_fd` from offset 0 with sendfile(2), half-closes
/// (shutdown SHUT_WR) and reads the receipt line. `timeout` bounds each wait: the connect, any
/// stall of the sending, and the receipt after the half-close. `meter` shows the bytes sent.
/// Never throws; every failure is in the outcome.
AttemptOutcome send_attempt(const net::ListenAddress& to, int file_fd, std::uint64_t size,
                            std::chrono::nanoseconds timeout, oneshot::ProgressMeter& meter);

}  // namespace zcrecv::send
