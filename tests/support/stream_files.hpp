#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "sys/unique_fd.hpp"

namespace zcrecv::test {

/// One connection's files, in {seq} order, as DaemonProcess names them ("{conn}-{seq}.bin").
struct StreamFiles {
  std::vector<std::byte> bytes;
  std::vector<std::uint64_t> sizes;
  bool incomplete = false;
};

/// Groups the published files under `out` by {conn} and concatenates each group by {seq}. Fails
/// the current test if an unpublished (dot) file is left.
std::map<std::string, StreamFiles> reassemble(const std::filesystem::path& out);

/// The only stream under `out`; fails the current test if there is not exactly one.
StreamFiles only_stream(const std::filesystem::path& out);

/// The first `size` bytes of `data`.
std::vector<std::byte> prefix(const std::vector<std::byte>& data, std::size_t size);

/// Sends all of `data` on a blocking socket; fails the current test if it cannot.
void write_all(const sys::UniqueFd& socket, std::span<const std::byte> data);

}  // namespace zcrecv::test
