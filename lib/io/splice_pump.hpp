#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/copy_mode.hpp"
#include "io/pipe.hpp"
#include "sys/result.hpp"

namespace zcrecv::io {

/// Why SplicePump::pump() returned.
enum class PumpStatus {
  /// The source has nothing to read now: wait until it is readable.
  kWouldBlock,
  /// A non-blocking sink (a pipe) is full: wait until it is writable.
  kSinkFull,
  /// The source reported end of stream (read or splice returned 0).
  kEndOfStream,
  /// `limit` bytes reached the sink.
  kLimit,
};

/// What one SplicePump::pump() call did.
struct PumpResult {
  /// Bytes that reached the sink during the call (pending bytes written out included).
  std::size_t bytes;
  PumpStatus status;
};

/// The state of one connection's data path: which way bytes move to the current sink, what the
/// kernel refused so far, and the bytes already taken from the source that the sink has not
/// accepted yet. Both descriptors are borrowed: the connection owns the source, the output file
/// owns the sink, and they outlive this object (or the next set_sink()).
class PumpStream {
 public:
  /// `source`: a non-blocking stream socket or any readable fd. `sink`: a regular file, a pipe,
  /// /dev/null, a terminal...
  PumpStream(int source, int sink, CopyMode mode);
  // A copy would duplicate the pending bytes, and so the data.
  PumpStream(const PumpStream&) = delete;
  PumpStream& operator=(const PumpStream&) = delete;
  PumpStream(PumpStream&&) = default;
  PumpStream& operator=(PumpStream&&) = default;
  ~PumpStream() = default;

  /// Continues the stream into `sink` (rotation: the next file) and decides the data path for
  /// it: read/write with CopyMode::kReadWrite, for a terminal, or once the source refused
  /// splice; a single splice into a pipe or FIFO; otherwise socket → pipe → sink. Pending bytes
  /// go to the new sink first.
  void set_sink(int sink);
  /// Opens a regular file to be the sink and returns its descriptor (borrowed, like a sink).
  using FileOpener = std::function<sys::Result<int>()>;
  /// For a stream whose files open lazily: while it has no sink, pump() calls `opener` once
  /// bytes have arrived, so a stream that ends before its next byte opens no file. If the
  /// opener fails, pump() returns its error as it is and keeps the bytes pending; the next
  /// pump() calls it again.
  void set_file_opener(FileOpener opener) { opener_ = std::move(opener); }
  /// Ends the current sink (a rotated file): the next bytes go to a file from the opener.
  void clear_sink() { use_sink(-1, 0); }

  [[nodiscard]] int source() const noexcept { return source_; }
  [[nodiscard]] int sink() const noexcept { return sink_; }
  /// The data path in use for the current sink.
  [[nodiscard]] DataPath path() const noexcept { return path_; }
  /// Set when CopyMode::kAuto fell back to read/write, e.g. "splice(pipe → file): Invalid
  /// argument; using read/write for this file". A verdict on the source outlives set_sink().
  [[nodiscard]] const std::optional<std::string>& fallback_reason() const noexcept {
    return fallback_reason_;
  }
  /// Total bytes written to sinks, across set_sink() calls.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
  /// Bytes read from the source that are not in a sink yet (after a sink error, or when a
  /// non-blocking sink was full).
  [[nodiscard]] std::size_t pending() const noexcept { return pending_.size() - pending_offset_; }
  /// The pending bytes themselves, in order: what the sink gets first.
  [[nodiscard]] std::span<const std::byte> pending_bytes() const noexcept {
    return std::span<const std::byte>(pending_).subspan(pending_offset_);
  }

 private:
  friend class SplicePump;

  /// Switches this stream to read/write after the kernel refused a splice with EINVAL, or
  /// returns the error when CopyMode::kSplice forbids that. `failed_call` names the splice,
  /// `scope` what the verdict covers ("connection", "file", "sink").
  sys::Result<void> fall_back(const std::string& failed_call, const char* scope);
  /// set_sink for a sink whose file type (st_mode & S_IFMT; 0 when unknown) is `type`.
  void use_sink(int sink, mode_t type);
  /// Takes a sink from the opener when there is none.
  sys::Result<void> ensure_sink();
  /// fall_back for the source: its verdict holds for every later sink of this stream.
  sys::Result<void> source_refuses_splice(const std::string& failed_call);
  // Messages call a regular file "file" and anything else "sink".
  [[nodiscard]] const char* sink_noun() const noexcept { return sink_is_file_ ? "file" : "sink"; }
  [[nodiscard]] const char* write_call() const noexcept {
    return sink_is_file_ ? "write(file)" : "write(sink)";
  }
  [[nodiscard]] const char* splice_out_call() const noexcept {
    return sink_is_file_ ? "splice(pipe → file)" : "splice(pipe → sink)";
  }

  int source_;
  int sink_ = -1;
  CopyMode mode_;
  DataPath path_ = DataPath::kSplice;
  bool sink_is_file_ = false;
  bool source_cannot_splice_ = false;
  std::optional<std::string> fallback_reason_;
  FileOpener opener_;
  std::uint64_t bytes_ = 0;
  // pending_[pending_offset_..] is still to be written; the vector keeps its capacity, so a
  // stream that needed it once does not allocate again.
  std::vector<std::byte> pending_;
  std::size_t pending_offset_ = 0;
};

/// Moves bytes from PumpStreams to their sinks: one per worker thread, shared by all the
/// worker's streams. It splices socket → pipe → sink through the worker's pipe and leaves the
/// pipe empty whenever pump() returns, falls back to read/write through the worker's buffer
/// where the kernel refuses splice, and never blocks or spins: it returns on EAGAIN.
class SplicePump {
 public:
  /// `pipe` and `buffer` (the read/write fallback's buffer, non-empty, e.g. 256 KiB) are owned
  /// by the caller and outlive the pump.
  SplicePump(Pipe& pipe, std::span<std::byte> buffer);

  /// Moves at most `limit` bytes into `stream`'s sink (the smaller of the per-event fairness
  /// budget and the bytes left before a rotation boundary or byte limit), pending bytes first;
  /// those are written with write(2) whatever the mode, as they are already in user space.
  /// On error nothing taken from the source is lost: what the sink refused is pending, and
  /// stream.bytes() tells what reached it. The error names the call and "socket", "pipe",
  /// "file" or "sink"; the caller adds the connection and file names.
  sys::Result<PumpResult> pump(PumpStream& stream, std::size_t limit);

 private:
  // Each step moves one chunk and returns std::nullopt to go on, or the reason to stop.
  using Step = sys::Result<std::optional<PumpStatus>>;

  Step write_pending(PumpStream& stream, std::size_t room);
  Step splice_through_pipe(PumpStream& stream, std::size_t room);
  // A splice out of the source (into the pipe, or straight into a sink pipe) failed with `err`
  // (`call` names it): EINVAL switches the stream to read/write, anything else is returned.
  static Step source_splice_failed(PumpStream& stream, int err, const char* call);
  Step drain_pipe(PumpStream& stream, std::size_t in_pipe);
  sys::Result<void> keep_pipe_contents(PumpStream& stream, std::size_t in_pipe);
  Step splice_direct(PumpStream& stream, std::size_t room);
  Step read_write(PumpStream& stream, std::size_t room);

  Pipe& pipe_;
  std::span<std::byte> buffer_;
};

}  // namespace zcrecv::io
