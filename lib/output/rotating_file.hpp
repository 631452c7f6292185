#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "output/name_template.hpp"
#include "output/output_directory.hpp"
#include "output/partial_file.hpp"
#include "sys/result.hpp"

namespace zcrecv::output {

/// The [output] settings that shape one connection's files (DESIGN.md §3, §4).
struct RotationSettings {
  /// A file never grows past this many bytes; 0 = no size rotation.
  std::uint64_t max_file_size = 0;
  /// A file is rotated this long after it was opened; 0 = no time rotation.
  std::chrono::nanoseconds rotate_interval{0};
  mode_t file_mode = 0640;
  SyncMode sync = SyncMode::kPublish;
  /// Publish files that received no byte (and one file for a connection that sent nothing).
  bool keep_empty = false;
};

/// The parts of a file name that are fixed for a connection.
struct ConnectionNames {
  std::string listener;
  std::string peer;
  std::string conn;
  std::string host;
};

/// One connection's file sequence: {seq} 0, 1, 2, ... whose concatenation is exactly the stream.
///
/// Files open lazily, on the first sink() after a rotation, so a rotation at the exact end of
/// the stream leaves no empty file behind. The caller writes to sink(), asks each write for at
/// most room() bytes, reports them with add_written(), and calls rotate() when rotation_due()
/// says so (its timer fires at rotation_deadline()). Not thread-safe: a connection lives on one
/// worker.
class RotatingFile {
 public:
  /// The time source for opening times and the rotation interval; tests pass a fake.
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  /// Called with the name (relative to the output directory) of every file published.
  using PublishedCallback = std::function<void(const std::string& name)>;
  /// Called with the descriptor and {seq} of every file created, before any byte is written;
  /// an error fails sink() (the new, empty file is discarded).
  using CreatedCallback = std::function<sys::Result<void>(int fd, std::uint64_t seq)>;

  /// `directory` must outlive this object; `name_template` and `names` are copied.
  RotatingFile(
      OutputDirectory& directory, const NameTemplate& name_template, ConnectionNames names,
      RotationSettings settings, Clock clock = [] { return std::chrono::system_clock::now(); });

  /// The descriptor of the current file, opening the next one if none is open.
  sys::Result<int> sink();
  /// Bytes the current (or next) file may still take before the size boundary; UINT64_MAX
  /// without a size limit. 0 means: rotate before writing more.
  [[nodiscard]] std::uint64_t room() const;
  /// Counts bytes written to sink().
  void add_written(std::uint64_t bytes);
  /// Whether the current file has reached max_file_size or has been open rotate_interval.
  [[nodiscard]] bool rotation_due(std::chrono::system_clock::time_point now) const;
  /// When the current file is due for time rotation; nullopt without interval or open file.
  [[nodiscard]] std::optional<std::chrono::system_clock::time_point> rotation_deadline() const;
  /// Publishes the current file as complete (an empty one is discarded unless keep_empty); the
  /// next sink() opens the next file. Without an open file it does nothing. On failure the
  /// file stays current, so a later finish() can still publish it.
  sys::Result<void> rotate();
  /// Publishes the last file (kIncomplete: with the ".incomplete" suffix). With keep_empty, a
  /// connection that never opened a file gets one empty file.
  sys::Result<void> finish(Completion completion);
  /// Calls `callback` after each publish, for the caller's log.
  void on_published(PublishedCallback callback) { on_published_ = std::move(callback); }
  /// Calls `callback` on each file created, to mark it (hand-off records).
  void on_created(CreatedCallback callback) { on_created_ = std::move(callback); }

  [[nodiscard]] bool has_open_file() const noexcept { return current_.has_value(); }
  [[nodiscard]] std::uint64_t files_published() const noexcept { return files_published_; }
  /// Bytes written across all files of the connection.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  sys::Result<void> close_current(Completion completion);

  OutputDirectory* directory_;
  NameTemplate name_template_;
  ConnectionNames names_;
  RotationSettings settings_;
  Clock clock_;
  PublishedCallback on_published_;
  CreatedCallback on_created_;
  std::optional<PartialFile> current_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t files_published_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace zcrecv::output
