#include "net/receipt.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <span>

#include "sys/syscalls.hpp"

namespace zcrecv::net {

std::string receipt_ok(std::uint64_t bytes) { return "OK " + std::to_string(bytes) + "\n"; }

std::string receipt_err(std::uint64_t bytes, std::string_view reason) {
  return "ERR " + std::to_string(bytes) + " " + std::string(reason) + "\n";
}

namespace {

// The next space-separated token of `text` (consumed from it); empty at the end.
std::string_view next_token(std::string_view& text) {
  const auto begin = text.find_first_not_of(' ');
  if (begin == std::string_view::npos) {
    text = {};
    return {};
  }
  text.remove_prefix(begin);
  const auto end = std::min(text.find(' '), text.size());
  const std::string_view token = text.substr(0, end);
  text.remove_prefix(end);
  return token;
}

std::optional<std::uint64_t> parse_count(std::string_view token) {
  std::uint64_t value = 0;
  // from_chars takes no sign and no space, so "+5" and " 5" are refused: the line is parsed as
  // strictly as it is written.
  const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (token.empty() || error != std::errc() || end != token.data() + token.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::optional<Receipt> parse_receipt(std::string_view line) {
  if (!line.empty() && line.back() == '\n') {
    line.remove_suffix(1);
  }
  const std::string_view verdict = next_token(line);
  const auto bytes = parse_count(next_token(line));
  if (!bytes || (verdict != "OK" && verdict != "ERR")) {
    return std::nullopt;
  }
  Receipt receipt{.ok = verdict == "OK", .bytes = *bytes, .reason = {}};
  if (!receipt.ok) {
    receipt.reason = std::string(next_token(line));
    if (receipt.reason.empty()) {
      return std::nullopt;
    }
  }
  return receipt;
}

sys::Result<void> send_receipt(int socket, std::string_view line) {
  // MSG_NOSIGNAL: a peer that closed gives EPIPE, never a SIGPIPE, whatever the process's
  // disposition of the signal. MSG_DONTWAIT: the one line always fits in an empty send buffer, so a
  // send that would block means a peer that stopped reading, and the worker must not wait for it.
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
