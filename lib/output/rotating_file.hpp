#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "output/name_template.hpp"
#include "output/output_directory.hpp"
#include "output/partial_file.hpp"
#include "output/space_reservation.hpp"
#include "output/sync_stage.hpp"
#include "sys/result.hpp"

namespace zcrecv::output {

struct PublishedFile;

/// Told of every file published, besides the owner's own callback (retention keeps its index by
/// it). Called on the owner's thread; shared by many owners on many threads, so thread-safe.
class PublishObserver {
 public:
  virtual ~PublishObserver() = default;
  virtual void published(const PublishedFile& file) = 0;
};

/// The [output] settings that shape one connection's files (docs/design.md §4.6, §7).
struct RotationSettings {
  /// A file never grows past this many bytes; 0 = no size rotation.
  std::uint64_t max_file_size = 0;
  /// A file is rotated this long after it was opened; 0 = no time rotation.
  std::chrono::nanoseconds rotate_interval{0};
  mode_t file_mode = 0640;
  SyncMode sync = SyncMode::kPublish;
  /// With sync = publish and a sync stage: start writeback of every this many bytes written
  /// into a file (sync_file_range), so the final fdatasync has little left; 0 = off.
  std::uint64_t writeback_bytes = 0;
  /// Publish files that received no byte (and one file for a connection that sent nothing).
  bool keep_empty = false;
  /// Told of every file published, even after this file sequence is gone; null: nobody.
  std::shared_ptr<PublishObserver> observer;
};

/// Where a stream goes when the name its template gives cannot be created (a client value made
/// it too long, or made a directory component of it a file, ...): the root of the output
/// directory, under a name no client value is part of.
inline constexpr std::string_view kFallbackNameTemplate =
    "fallback-{listener}-{time}-{conn}-{seq}.bin";

/// The parts of a file name that are fixed for a connection.
struct ConnectionNames {
  std::string listener;
  std::string peer;
  std::string conn;
  std::string host;
  ClientCn client_cn;
};

/// A file that has been published (with sync = publish: and is durable).
struct PublishedFile {
  /// The name it got, relative to the output directory ("a/x.bin", "a/x.bin.incomplete").
  std::string name;
  std::uint64_t seq = 0;
  std::uint64_t bytes = 0;
  Completion completion = Completion::kComplete;
  /// From the file's hand-over to the sync stage to its directory fsync; 0 when it was
  /// published on the spot.
  std::chrono::nanoseconds latency{0};
};

/// One connection's file sequence: {seq} 0, 1, 2, ... whose concatenation is exactly the stream.
///
/// Files open lazily, on the first sink() after a rotation, so a rotation at the exact end of
/// the stream leaves no empty file behind. The caller writes to sink(), asks each write for at
/// most room() bytes, reports them with add_written(), and calls rotate() when rotation_due()
/// says so (its timer fires at rotation_deadline()).
///
/// With sync = publish and a SyncStage (use_sync_stage), a finished file is handed to the sync
/// stage — fdatasync, rename, directory fsync — and rotate() and finish() return at once; the
/// outcome comes back through the owner's loop (`post`) as on_published or on_publish_failed,
/// followed by on_sync_progress. Early writeback of the current file runs there too, and
/// unsynced_room() tells the owner when to stop reading until the disk catches up. Otherwise
/// files are published on the spot. Not thread-safe: a connection lives on one worker.
class RotatingFile {
 public:
  /// The time source for opening times and the rotation interval; tests pass a fake.
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  /// Called for every file published.
  using PublishedCallback = std::function<void(const PublishedFile& file)>;
  /// Called when the sync stage could not publish a file (durably); the error names it.
  using FailedCallback = std::function<void(const sys::Error& error)>;
  /// Called after each completion of the sync stage (publish or writeback), once its effect is
  /// counted: pending_publishes() or unsynced_room() may have changed.
  using ProgressCallback = std::function<void()>;
  /// How the sync stage's completions reach the owner's thread (EventLoop::post).
  using Post = std::function<void(std::function<void()>)>;
  /// Called with the descriptor and {seq} of every file created, before any byte is written;
  /// an error fails sink() (the new, empty file is discarded).
  using CreatedCallback = std::function<sys::Result<void>(int fd, std::uint64_t seq)>;

  /// `directory` must outlive this object; `name_template` and `names` are copied.
  RotatingFile(
      OutputDirectory& directory, const NameTemplate& name_template, ConnectionNames names,
      RotationSettings settings, Clock clock = [] { return std::chrono::system_clock::now(); });
  RotatingFile(RotatingFile&&) noexcept = default;
  RotatingFile& operator=(RotatingFile&&) noexcept = delete;
  RotatingFile(const RotatingFile&) = delete;
  RotatingFile& operator=(const RotatingFile&) = delete;
  /// A current file is left unpublished, for recovery; the sync stage still finishes the files
  /// handed to it, but their outcomes are no longer reported.
  ~RotatingFile();

  /// With sync = publish, makes files durable on `stage` (which must outlive the jobs it runs)
  /// and reports back through `post`. Call before the first file opens.
  void use_sync_stage(SyncStage& stage, Post post);

  /// The descriptor of the current file, opening the next one if none is open. A name that
  /// cannot be created for what it is (too long, a file where a directory should be, a
  /// symlink, ...) is replaced by kFallbackNameTemplate's, for this file and the connection's
  /// next ones, and logged once with the client's values: what the client chose never costs
  /// its stream.
  sys::Result<int> sink();
  /// Bytes the current (or next) file may still take before the size boundary; UINT64_MAX
  /// without a size limit. 0 means: rotate before writing more.
  [[nodiscard]] std::uint64_t room() const;
  /// Reserves disk space in the current file (sink() opened it) for up to `wanted` more bytes
  /// (SpaceReservation::cover): how many may be written now without meeting a full disk.
  sys::Result<std::uint64_t> reserve(std::uint64_t wanted);
  /// Counts bytes written to sink(), and starts writeback of each writeback_bytes completed.
  void add_written(std::uint64_t bytes);
  /// Bytes that may still be written into the current file before its bytes not yet written
  /// back reach 2 × writeback_bytes (UINT64_MAX without early writeback). 0 means: stop
  /// reading until on_sync_progress.
  [[nodiscard]] std::uint64_t unsynced_room() const;
  /// Whether the current file has reached max_file_size or has been open rotate_interval.
  [[nodiscard]] bool rotation_due(std::chrono::system_clock::time_point now) const;
  /// When the current file is due for time rotation; nullopt without interval or open file.
  [[nodiscard]] std::optional<std::chrono::system_clock::time_point> rotation_deadline() const;
  /// Publishes the current file as complete (an empty one is discarded unless keep_empty); the
  /// next sink() opens the next file. Without an open file it does nothing. Published on the
  /// spot, a file that fails stays current, so a later finish() can still publish it.
  sys::Result<void> rotate();
  /// Publishes the last file (kIncomplete: with the ".incomplete" suffix). With keep_empty, a
  /// connection that never opened a file gets one empty file. kIncomplete with no file open
  /// after one was published (a cut right at a size boundary) publishes the next file, empty, as
  /// NAME.incomplete: the mark of the cut.
  sys::Result<void> finish(Completion completion);

  void on_published(PublishedCallback callback) { shared_->on_published = std::move(callback); }
  void on_publish_failed(FailedCallback callback) { shared_->on_failed = std::move(callback); }
  void on_sync_progress(ProgressCallback callback) { shared_->on_progress = std::move(callback); }
  /// Calls `callback` on each file created, to mark it (hand-off records).
  void on_created(CreatedCallback callback) { on_created_ = std::move(callback); }

  [[nodiscard]] bool has_open_file() const noexcept { return current_.has_value(); }
  /// Whether files are made durable when published (sync = publish).
  [[nodiscard]] bool syncs_durably() const noexcept { return settings_.sync == SyncMode::kPublish; }
  [[nodiscard]] std::uint64_t files_published() const noexcept { return shared_->published; }
  /// Files handed to the sync stage whose outcome has not come back yet.
  [[nodiscard]] std::uint64_t pending_publishes() const noexcept { return shared_->pending; }
  /// Bytes written across all files of the connection.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
  /// Bytes written into the current file (0 with none open).
  [[nodiscard]] std::uint64_t bytes_in_file() const noexcept {
    return current_ ? current_->bytes_written() : 0;
  }

 private:
  // What the completions of the sync stage update, on the owner's thread. Shared with them, so
  // that they find it after this object moved, or ignore it after it was destroyed (detached).
  struct Shared {
    bool detached = false;
    std::uint64_t pending = 0;
    std::uint64_t published = 0;
    // The {seq} of the current file and how much of it is written back, for unsynced_room().
    std::uint64_t current_seq = 0;
    std::uint64_t written_back = 0;
    PublishedCallback on_published;
    std::shared_ptr<PublishObserver> observer;
    FailedCallback on_failed;
    ProgressCallback on_progress;
  };

  // Creates the next file, under the fallback name if the template's cannot be.
  sys::Result<PartialFile> create(std::chrono::system_clock::time_point opened);
  // `keep_empty`: publish the file even if empty and settings_.keep_empty is false.
  sys::Result<void> close_current(Completion completion, bool keep_empty = false);
  [[nodiscard]] bool syncs_on_stage() const noexcept {
    return stage_ != nullptr && settings_.sync == SyncMode::kPublish;
  }
  // Runs `effect` on the owner's thread, unless this object is gone by then.
  void report(std::function<void(Shared&)> effect);
  void hand_to_stage(PartialFile&& file, Completion completion);

  OutputDirectory* directory_;
  NameTemplate name_template_;
  ConnectionNames names_;
  RotationSettings settings_;
  Clock clock_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  SyncStage* stage_ = nullptr;
  Post post_;
  std::shared_ptr<SyncStage::Strand> publishes_;
  std::shared_ptr<SyncStage::Strand> writebacks_;
  CreatedCallback on_created_;
  std::optional<PartialFile> current_;
  SpaceReservation reservation_;
  // The offset up to which writeback of the current file has been started.
  std::uint64_t writeback_started_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t bytes_ = 0;
  // The template's name could not be created once: every next file takes the fallback name.
  bool fallen_back_ = false;
};

}  // namespace zcrecv::output
