#include "net/receipt.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <span>

#include "sys/syscalls.hpp"

namespace zcrecv::net {

std::string receipt_ok(std::uint64_t bytes) { return "OK " + std::to_string(bytes) + "\n"; }

std::string receipt_err(std::uint64_t bytes, std::string_view reason) {
  return "ERR " + std::to_string(bytes) + " " + std::string(reason) + "\n";
}

sys::Result<void> send_receipt(int socket, std::string_view line) {
  auto sent = sys::send(socket, std::as_bytes(std::span(line.data(), line.size())),
                        MSG_NOSIGNAL | MSG_DONTWAIT);
  if (!sent) {
    return std::move(sent).error().with_context("receipt");
  }
  if (sent->value_or(0) != line.size()) {
    // A full send buffer: the peer has not read what it was sent, which a receipt never is.
    return sys::Error::from_errno(EAGAIN, "receipt: send");
  }
  return {};
}

}  // namespace zcrecv::net
