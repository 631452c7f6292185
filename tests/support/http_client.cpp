#include "support/http_client.hpp"

#include <sys/socket.h>

#include <stdexcept>

#include "support/loopback.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::test {

HttpReply http_request(const net::SocketAddress& address, std::string_view target,
                       std::string_view method) {
  const sys::UniqueFd socket = connect_blocking(address);
  const std::string request = std::string(method) + " " + std::string(target) +
                              " HTTP/1.1\r\nHost: zcrecv\r\nConnection: close\r\n\r\n";
  if (::send(socket.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    throw std::runtime_error("sending the request to " + address.to_string() + " failed");
  }
  const std::string answer = read_until_closed(socket);
  const std::size_t end = answer.find("\r\n\r\n");
  if (!answer.starts_with("HTTP/1.1 ") || end == std::string::npos || answer.size() < 12) {
    throw std::runtime_error("not an HTTP/1.1 response from " + address.to_string() + ": \"" +
                             answer + "\"");
  }
  return HttpReply{std::stoi(answer.substr(9, 3)), answer.substr(0, end), answer.substr(end + 4)};
}

}  // namespace zcrecv::test
