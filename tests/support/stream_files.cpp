#include "support/stream_files.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <fstream>

#include "support/files.hpp"

namespace zcrecv::test {

namespace fs = std::filesystem;

namespace {

// Appends the whole of `path` to `bytes` with one read: read_file() goes character by character,
// which takes seconds for the tens of MiB of a load test in a Debug sanitizer build.
void append_file(const fs::path& path, std::vector<std::byte>& bytes) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), ("cannot read " + path.string()));
  const auto size = static_cast<std::size_t>(fs::file_size(path));
  const std::size_t at = bytes.size();
  bytes.resize(at + size);
  in.read(reinterpret_cast<char*>(bytes.data() + at), static_cast<std::streamsize>(size));
  REQUIRE_MESSAGE(static_cast<std::size_t>(in.gcount()) == size,
                  ("short read of " + path.string()));
}

}  // namespace

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
      const std::size_t before = stream.bytes.size();
      append_file(path, stream.bytes);
      stream.sizes.push_back(stream.bytes.size() - before);
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
