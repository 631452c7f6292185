#pragma once

#include <cstdint>
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

/// Writes `line` to the connection `socket` without blocking and without SIGPIPE. The socket's
/// send buffer is empty (a receipt is the only thing zcrecv ever writes), so a line either goes
/// whole or the peer cannot take it (it closed its read side or reset).
sys::Result<void> send_receipt(int socket, std::string_view line);

}  // namespace zcrecv::net
