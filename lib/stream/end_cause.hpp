#pragma once

namespace zcrecv::stream {

/// Why a stream ended: a clean end of stream, or what cut it. A receipt names the cut
/// ("ERR <bytes> <reason>"); a reset by the peer gets no receipt (none could arrive).
enum class EndCause {
  kEndOfStream,
  /// The daemon's idle_timeout.
  kIdleTimeout,
  /// The one-shot receiver's --timeout: the stream stalled.
  kTimeout,
  kByteLimit,
  /// The output took no byte for disk_full_timeout.
  kDiskFull,
  /// A stop (its deadline, a second signal; SIGINT/SIGTERM in the one-shot modes).
  kShutdown,
  kPublishFailed,
  kPeerReset,
  kError,
};

/// The word a receipt gives for a cut ("idle_timeout", "disk_full", ...; "error" for anything
/// without a word of its own).
const char* receipt_reason(EndCause cause);

/// The cause as one word, for logs: the receipt's word for a cut, `end_of_stream`,
/// `peer_reset` or `error` otherwise.
const char* cause_name(EndCause cause);

}  // namespace zcrecv::stream
