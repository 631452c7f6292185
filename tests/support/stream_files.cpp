#include "support/stream_files.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include "support/files.hpp"

namespace zcrecv::test {

namespace fs = std::filesystem;

std::map<std::string, StreamFiles> reassemble(const fs::path& out) {
  std::map<std::string, std::map<std::string, fs::path>> by_conn;
  for (const auto& name : list_files(out)) {
    REQUIRE_MESSAGE(name.front() != '.', (std::string("unpublished file left: ") + name));
    auto dash = name.rfind('-');
    REQUIRE(dash != std::string::npos);
    by_conn[name.substr(0, dash)][name.substr(dash + 1)] = out / name;
  }
  std::map<std::string, StreamFiles> streams;
  for (const auto& [conn, files] : by_conn) {
    StreamFiles& stream = streams[conn];
    for (const auto& [seq, path] : files) {
      auto part = read_file(path);
      stream.sizes.push_back(part.size());
      stream.bytes.insert(stream.bytes.end(), part.begin(), part.end());
      stream.incomplete = stream.incomplete || path.string().ends_with(".incomplete");
    }
  }
  return streams;
}

StreamFiles only_stream(const fs::path& out) {
  auto streams = reassemble(out);
  REQUIRE(streams.size() == 1);
  return streams.begin()->second;
}

std::vector<std::byte> prefix(const std::vector<std::byte>& data, std::size_t size) {
  return {data.begin(), data.begin() + static_cast<std::ptrdiff_t>(size)};
}

void write_all(const sys::UniqueFd& socket, std::span<const std::byte> data) {
  REQUIRE(::send(socket.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(data.size()));
}

}  // namespace zcrecv::test
