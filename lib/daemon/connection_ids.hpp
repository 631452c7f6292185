#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "sys/result.hpp"

namespace zcrecv::daemon {

/// The {conn} of each connection: unique across restarts without any state on disk. A random
/// 32-bit prefix drawn once per process, then a counter, in hex: "9f3a61c200000000",
/// "9f3a61c200000001", ... (the counter part widens past 8 digits if it ever needs to).
/// Thread-safe.
class ConnectionIds {
 public:
  /// A prefix from getrandom(2).
  static sys::Result<std::uint32_t> random_prefix();

  explicit ConnectionIds(std::uint32_t prefix) : prefix_(prefix) {}

  /// The next id.
  std::string next();

 private:
  std::uint32_t prefix_;
  std::atomic<std::uint64_t> counter_{0};
};

}  // namespace zcrecv::daemon
