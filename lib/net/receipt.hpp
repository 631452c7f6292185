#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sys/result.hpp"

namespace zcrecv::net {

/// The delivery receipt of a listener with `receipt = true` (README "Delivery receipts"): one
/// line written after the sender's half-close, once the stream is stored, then the close.
/// `OK <bytes>`: every byte is stored and durable. `ERR <bytes> <reason>`: the stream was cut;
/// <bytes> were kept (in .incomplete files) and the sender must send again. A client reads the
/// first two tokens; later versions may add fields.
std::string receipt_ok(std::uint64_t bytes);
/// `reason` is one word: idle_timeout, max_connection_bytes, disk_full, shutdown,
/// publish_failed, error.
std::string receipt_err(std::uint64_t bytes, std::string_view reason);

/// A receipt as the sender reads it.
struct Receipt {
  /// `OK` (true) or `ERR` (false).
  bool ok = false;
  /// The count zcrecv stored for the connection.
  std::uint64_t bytes = 0;
  /// `ERR`'s reason word; empty for `OK`.
  std::string reason;

  bool operator==(const Receipt&) const = default;
};

/// Parses the line a receipt listener answered, with or without its `\n`: `OK <bytes>` or
/// `ERR <bytes> <reason>`, fields after these ignored (later versions may add some). std::nullopt
/// for anything else: a receiver without receipts, or not zcrecv at all.
std::optional<Receipt> parse_receipt(std::string_view line);

/// Writes `line` to the connection `socket` without blocking and without SIGPIPE. The socket's
/// send buffer is empty (a receipt is the only thing zcrecv ever writes), so a line either goes
/// whole or the peer cannot take it (it closed its read side or reset).
sys::Result<void> send_receipt(int socket, std::string_view line);

}  // namespace zcrecv::net
