#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "net/listen_address.hpp"
#include "send/retry_policy.hpp"

namespace zcrecv::send {

/// Everything zcsend's command line decides.
struct SendSettings {
  /// Where to send (--to), tried in turn; at least one.
  std::vector<net::ListenAddress> to;
  RetryPolicy retry;
  /// Bounds each wait of an attempt: connect, a stall while sending, the receipt (--timeout).
  std::chrono::nanoseconds timeout = std::chrono::seconds(30);
  /// Delete each file once acknowledged (--remove).
  bool remove = false;
  /// The live progress line on stderr.
  bool progress = false;
};

/// How one input ended.
struct InputReport {
  enum class Result {
    kAcknowledged,
    /// Every attempt failed: not known to be stored.
    kNotAcknowledged,
    /// The input could not be opened or read; nothing was sent.
    kUnreadable,
    /// Acknowledged, but --remove could not delete it (it will be sent again).
    kNotRemoved,
  };

  std::string path;
  Result result = Result::kUnreadable;
  /// The address of the last attempt (the one that acknowledged it, if any).
  std::string peer;
  std::uint64_t bytes = 0;
  unsigned attempts = 0;
  /// From the first attempt to the receipt (or the last failure), backoff waits included.
  std::chrono::nanoseconds elapsed{0};
  /// The last failure, or the reason the input could not be read or removed.
  std::string failure;
};

/// zcsend: sends each input in turn, each until acknowledged or out of attempts, and logs one
/// summary line per input (info when acknowledged, error otherwise) and one warning per failed
/// attempt.
class Sender {
 public:
  explicit Sender(SendSettings settings);

  /// Sends `inputs` (paths; `-` is standard input) in order.
  std::vector<InputReport> run(const std::vector<std::string>& inputs);

 private:
  InputReport send_one(const std::string& path);

  SendSettings settings_;
  /// Where the next input's first attempt goes: the address that acknowledged the last one, so
  /// that a healthy receiver keeps the traffic and a failed one is left after one attempt.
  std::size_t first_address_ = 0;
  /// The jitter of the backoff waits, seeded per process.
  std::mt19937_64 random_;
};

/// The summary line of one input: `FILE: acknowledged by ADDR: BYTES bytes, N attempts, S s`.
std::string describe(const InputReport& report);

}  // namespace zcrecv::send
