#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "output/output_directory.hpp"
#include "sys/result.hpp"

namespace zcrecv::stream {

/// Where a Session's bytes go: a rotating file sequence, one named file, or standard output.
/// The sink owns its descriptors and counts the bytes written into it; the session asks it how
/// much the current file may take, writes into open(), and reports each write once with
/// add_written().
class Sink {
 public:
  static constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

  Sink() = default;
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;
  virtual ~Sink() = default;

  /// The descriptor to write to now, opening the next file if none is open.
  virtual sys::Result<int> open() = 0;
  /// Whether a file is open (open() would not create one).
  [[nodiscard]] virtual bool is_open() const = 0;
  /// Reserves space in the open file for up to `wanted` more bytes; how many may be written
  /// without meeting a full disk (SpaceReservation). kUnlimited where nothing is reserved.
  virtual sys::Result<std::uint64_t> reserve(std::uint64_t /*wanted*/) { return kUnlimited; }
  /// Counts `bytes` written into open().
  virtual void add_written(std::uint64_t bytes) = 0;
  /// Bytes written across all files.
  [[nodiscard]] virtual std::uint64_t bytes() const = 0;
  /// The offset of the next write in the current file, where it matters for page alignment
  /// (a file in the page cache); 0 elsewhere.
  [[nodiscard]] virtual std::uint64_t file_offset() const { return 0; }
  /// Bytes the current file may take before its size boundary; 0: rotate before writing more.
  [[nodiscard]] virtual std::uint64_t room() const { return kUnlimited; }
  /// Bytes the current file may take before the disk must catch up (early writeback).
  [[nodiscard]] virtual std::uint64_t unsynced_room() const { return kUnlimited; }
  /// Finished files not yet durable (on the sync stage).
  [[nodiscard]] virtual std::uint64_t pending_publishes() const { return 0; }
  /// When the current file is due for time rotation.
  [[nodiscard]] virtual std::optional<std::chrono::system_clock::time_point> rotation_deadline()
      const {
    return std::nullopt;
  }
  /// Publishes the current file as complete; the next open() starts the next one.
  virtual sys::Result<void> rotate() { return {}; }
  /// Publishes the last file, marked by `completion`.
  virtual sys::Result<void> finish(output::Completion completion) = 0;
  /// The first and the latest file published (relative to the output directory; one name after
  /// one file, none before), or "stdout".
  [[nodiscard]] virtual const std::vector<std::string>& published() const = 0;
  /// How many files were published.
  [[nodiscard]] virtual std::uint64_t files_published() const = 0;
};

}  // namespace zcrecv::stream
