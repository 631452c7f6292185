#include "stream/end_cause.hpp"

namespace zcrecv::stream {

const char* receipt_reason(EndCause cause) {
  switch (cause) {
    case EndCause::kIdleTimeout:
      return "idle_timeout";
    case EndCause::kTimeout:
      return "timeout";
    case EndCause::kByteLimit:
      return "max_connection_bytes";
    case EndCause::kDiskFull:
      return "disk_full";
    case EndCause::kShutdown:
      return "shutdown";
    case EndCause::kPublishFailed:
      return "publish_failed";
    // No word of their own: a clean end gets OK, a reset peer gets no receipt at all, and any
    // other error is "error" to the sender (the details are in our log).
    case EndCause::kEndOfStream:
    case EndCause::kPeerReset:
    case EndCause::kError:
      break;
  }
  return "error";
}

const char* cause_name(EndCause cause) {
  switch (cause) {
    case EndCause::kEndOfStream:
      return "end_of_stream";
    case EndCause::kPeerReset:
      return "peer_reset";
    default:
      return receipt_reason(cause);
  }
}

}  // namespace zcrecv::stream
