#pragma once

#include <string>
#include <string_view>

#include "net/socket_address.hpp"

namespace zcrecv::test {

/// What an HTTP server answered.
struct HttpReply {
  /// 200, 404, ...
  int status = 0;
  /// The status line and header fields, without the empty line that ends them.
  std::string head;
  std::string body;
};

/// Sends `METHOD TARGET HTTP/1.1` with `Connection: close` to `address` and reads the answer
/// until the server closes the connection. Throws std::runtime_error if the connection fails,
/// the server does not close within 20 s, or the answer is not an HTTP/1.1 response.
HttpReply http_request(const net::SocketAddress& address, std::string_view target,
                       std::string_view method = "GET");

}  // namespace zcrecv::test
