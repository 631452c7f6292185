#pragma once

#include "net/socket_address.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::test {

/// A blocking stream socket connected to `address` (TCP or Unix); throws std::runtime_error
/// naming the address on failure. An unspecified address (0.0.0.0, ::), as a listener on
/// `:0` reports, is replaced by the loopback address of its family, so tests can pass
/// `listener.local_address()` straight in and never reach beyond the machine.
sys::UniqueFd connect_blocking(const net::SocketAddress& address);

}  // namespace zcrecv::test
