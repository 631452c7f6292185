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

/// One connection's files, in {seq} order, named as the tests' templates name them:
/// "{conn}-{seq}.bin" (DaemonProcess) or "{listener}.{conn}-{seq}.bin" (the in-process daemon
/// harness), with ".incomplete" after a cut stream's last file.
struct StreamFiles {
  /// The files' bytes, concatenated.
  std::vector<std::byte> bytes;
  /// Each file's size, in {seq} order.
  std::vector<std::uint64_t> sizes;
  /// Whether the last file is ".incomplete".
  bool incomplete = false;
  /// The {listener} part of the names; empty when the template has none.
  std::string listener;

  /// The bytes of file `index` ({seq} = index).
  [[nodiscard]] std::vector<std::byte> file(std::size_t index) const;
};

/// Groups the published files under `out` by {conn} and concatenates each group by {seq}; no
/// stream when `out` does not exist. Fails the current test if an unpublished (dot) file is
/// left, if a stream's {seq} do not run 0, 1, 2, ..., or if a file other than its last is
/// ".incomplete".
std::map<std::string, StreamFiles> reassemble(const std::filesystem::path& out);

/// The only stream under `out`; fails the current test if there is not exactly one.
StreamFiles only_stream(const std::filesystem::path& out);

/// The first `size` bytes of `data`.
std::vector<std::byte> prefix(const std::vector<std::byte>& data, std::size_t size);

/// Sends all of `data` on a blocking socket; fails the current test if it cannot.
void write_all(const sys::UniqueFd& socket, std::span<const std::byte> data);

}  // namespace zcrecv::test
