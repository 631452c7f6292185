#include "support/stream_files.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <cstdint>
#include <fstream>
#include <string_view>
#include <utility>

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

// One published file's name taken apart: [LISTENER.]CONN-SEQ.bin[.incomplete].
struct FileName {
  std::string listener;
  std::string conn;
  std::uint64_t seq = 0;
  bool incomplete = false;
};

FileName parse_name(std::string name) {
  INFO("file " << name);
  FileName parsed;
  constexpr std::string_view kIncomplete = ".incomplete";
  constexpr std::string_view kBin = ".bin";
  parsed.incomplete = name.ends_with(kIncomplete);
  if (parsed.incomplete) {
    name.resize(name.size() - kIncomplete.size());
  }
  REQUIRE(name.ends_with(kBin));
  name.resize(name.size() - kBin.size());
  const auto dash = name.rfind('-');
  REQUIRE(dash != std::string::npos);
  parsed.seq = std::stoull(name.substr(dash + 1));
  name.resize(dash);
  // Connection ids are hex, so the last dot, if any, ends the listener's name.
  const auto dot = name.rfind('.');
  if (dot != std::string::npos) {
    parsed.listener = name.substr(0, dot);
  }
  parsed.conn = name.substr(dot == std::string::npos ? 0 : dot + 1);
  return parsed;
}

}  // namespace

std::vector<std::byte> StreamFiles::file(std::size_t index) const {
  REQUIRE(index < sizes.size());
  std::uint64_t start = 0;
  for (std::size_t i = 0; i < index; ++i) {
    start += sizes[i];
  }
  auto first = bytes.begin() + static_cast<std::ptrdiff_t>(start);
  return {first, first + static_cast<std::ptrdiff_t>(sizes[index])};
}

std::map<std::string, StreamFiles> reassemble(const fs::path& out) {
  std::map<std::string, StreamFiles> streams;
  if (!fs::exists(out)) {
    return streams;
  }
  std::map<std::string, std::map<std::uint64_t, std::pair<FileName, fs::path>>> by_conn;
  for (const auto& name : list_files(out)) {
    REQUIRE_MESSAGE(name.front() != '.', (std::string("unpublished file left: ") + name));
    FileName parsed = parse_name(name);
    auto& files = by_conn[parsed.conn];
    REQUIRE_MESSAGE(!files.contains(parsed.seq), ("two files with one {seq}: " + name));
    files.emplace(parsed.seq, std::make_pair(std::move(parsed), out / name));
  }
  for (const auto& [conn, files] : by_conn) {
    INFO("connection " << conn);
    StreamFiles& stream = streams[conn];
    std::uint64_t expected_seq = 0;
    for (const auto& [seq, file] : files) {
      const auto& [parsed, path] = file;
      CHECK(seq == expected_seq++);
      CHECK_FALSE(stream.incomplete);
      const std::size_t before = stream.bytes.size();
      append_file(path, stream.bytes);
      stream.sizes.push_back(stream.bytes.size() - before);
      stream.incomplete = parsed.incomplete;
      stream.listener = parsed.listener;
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
