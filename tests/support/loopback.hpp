#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "net/socket_address.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::test {

/// A blocking stream socket connected to `address` (TCP or Unix); throws std::runtime_error
/// naming the address on failure. An unspecified address (0.0.0.0, ::), as a listener on
/// `:0` reports, is replaced by the loopback address of its family, so tests can pass
/// `listener.local_address()` straight in and never reach beyond the machine.
sys::UniqueFd connect_blocking(const net::SocketAddress& address);

/// A TCP socket bound to `source_ip` (any port) before it connects to `address`: every address
/// of 127.0.0.0/8 is loopback on Linux, so a test can be a client from 127.0.0.2. Throws
/// std::runtime_error on failure.
sys::UniqueFd connect_from(const char* source_ip, const net::SocketAddress& address);

/// The IP address `text` ("127.0.0.1", "::1") with `port`; fails the current test if `text` is
/// not one.
net::SocketAddress ip(const char* text, std::uint16_t port);

/// True when the peer closed its end of `socket` (end of stream or reset) within `timeout`,
/// having sent nothing first.
bool closed_by_peer(const sys::UniqueFd& socket,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Everything the peer sends on `socket` until it closes it, read for at most `timeout`; throws
/// std::runtime_error if the peer does not close in time.
std::string read_until_closed(const sys::UniqueFd& socket,
                              std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace zcrecv::test
