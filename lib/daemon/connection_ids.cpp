#include "daemon/connection_ids.hpp"

#include <array>
#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <span>

#include "sys/syscalls.hpp"

namespace zcrecv::daemon {

sys::Result<std::uint32_t> ConnectionIds::random_prefix() {
  std::uint32_t prefix = 0;
  if (auto filled = sys::getrandom(std::as_writable_bytes(std::span(&prefix, 1))); !filled) {
    return std::move(filled).error().with_context("connection id prefix");
  }
  return prefix;
}

std::string ConnectionIds::next() {
  // Relaxed: ids only need to be unique, and the workers take them without ordering.
  std::uint64_t number = counter_.fetch_add(1, std::memory_order_relaxed);
  std::array<char, 32> text{};
  int length = std::snprintf(text.data(), text.size(), "%08" PRIx32 "%08" PRIx64, prefix_, number);
  return std::string(text.data(), static_cast<std::size_t>(length));
}

}  // namespace zcrecv::daemon
