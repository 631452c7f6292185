#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "io/splice_pump.hpp"
#include "stream/end_cause.hpp"
#include "stream/sink.hpp"
#include "sys/error.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::stream {

/// The per-stream policy, the same for the daemon and the one-shot receiver.
struct SessionSettings {
  /// Cut a stream that sent nothing for this long (0: never), with `idle_cause`.
  std::chrono::nanoseconds idle_timeout{0};
  EndCause idle_cause = EndCause::kIdleTimeout;
  /// Stop after this many bytes (0: no limit); a longer stream is cut.
  std::uint64_t max_bytes = 0;
  /// Cut a stream whose output took no byte for this long (0: wait for space for ever).
  std::chrono::nanoseconds disk_full_timeout{0};
  /// Answer "OK <bytes>" / "ERR <bytes> <reason>" once every file is published.
  bool receipt = false;
  /// With a delimiter, files rotated for size, time or a signal end just after a delimiter
  /// found within `record_max` bytes of where they would have ended.
  std::optional<std::byte> record_delimiter;
  std::uint64_t record_max = std::uint64_t{64} << 10;
  /// How long a time or signal rotation waits for a delimiter before rotating anyway.
  std::chrono::nanoseconds record_wait{std::chrono::seconds(1)};
};

/// Where a stream is.
enum class SessionState {
  kReading,
  /// The output cannot take bytes (a full disk, below min_free_space, no descriptor).
  kPausedForSpace,
  /// Too much is not yet durable: waiting for the sync stage.
  kPausedForSync,
  /// A pipe or terminal sink is full: waiting for it.
  kWaitingForSink,
  /// No more reading; the files may still be on their way to disk.
  kEnded,
};

/// What a Session tells its owner, on the loop's thread. The owner outlives the session's calls.
class SessionOwner {
 public:
  virtual ~SessionOwner() = default;
  /// Whether the output is below its free-space floor now (min_free_space): reading pauses as
  /// for a full disk.
  virtual bool output_space_low() { return false; }
  /// `bytes` reached the output through `path`.
  virtual void moved(std::uint64_t /*bytes*/, io::DataPath /*path*/) {}
  /// The state changed (paused-stream gauges).
  virtual void state_changed(SessionState /*from*/, SessionState /*to*/) {}
  /// Reading paused for space (`disk_full`: a full disk, not a lack of descriptors) or for the
  /// sync stage; `why` says what stopped it.
  virtual void paused(SessionState /*state*/, const std::string& /*why*/, bool /*disk_full*/) {}
  /// A record was split across two files: no delimiter came within record_max of the boundary
  /// (or within record_wait of a time or signal rotation). `first`: the stream's first split.
  virtual void record_split(bool /*first*/) {}
  /// Finished files of the stream not yet durable: called wherever the number may change.
  virtual void files_pending(std::uint64_t /*pending*/) {}
  /// The stream ended (`lost`: bytes taken from the socket that never reached a file); the
  /// socket is still open if a receipt is to follow.
  virtual void ended(EndCause /*cause*/, std::uint64_t /*lost*/) {}
  /// The socket is being closed: the stream no longer counts as open.
  virtual void closing() {}
  /// Every file is published and the receipt, if any, sent: the session's last call. The owner
  /// logs summary() and may destroy the session after the current batch (EventLoop::defer).
  virtual void finished() = 0;
};

/// One stream from a socket into a Sink, on an EventLoop: how much to read, where a file ends
/// (size, time, signal, record boundary), the disk-full pause, the byte limit, the receipt and
/// the end summary. The daemon's connections and the one-shot receiver are thin owners of one.
///
/// Readable → pump at most min(event budget, room in the file, bytes left under max_bytes, room
/// before the unsynced bound, space reserved) → rotate at the boundary → repeat until the socket
/// would block or the budget is spent (the loop is level-triggered, so the rest waits for the
/// next round). A file opens only once bytes are waiting, and its space is reserved before a
/// byte is taken, so an empty stream leaves no empty file and a full disk stops the reading,
/// not the writing. Timers: idle, time rotation, disk-full retry, record wait.
class Session final : public event::Handler {
 public:
  /// Bytes moved per readable event before the loop turns to other streams.
  static constexpr std::uint64_t kEventBudget = std::uint64_t{4} << 20;
  /// The page size writes are aligned to (Linux's on x86-64 and most arm64 kernels; a larger
  /// one only makes the alignment partial).
  static constexpr std::uint64_t kPageSize = 4096;
  /// How often a stream paused for space tries again.
  static constexpr std::chrono::milliseconds kSpaceRetry{250};

  Session(event::EventLoop& loop, io::SplicePump& pump, SessionOwner& owner,
          SessionSettings settings, sys::UniqueFd socket, std::unique_ptr<Sink> sink,
          io::CopyMode copy_mode);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() override;

  /// Arms the idle timer, takes the bytes already there (a short stream may end here), and
  /// watches the socket for the rest. `watched`: the socket is in the loop's set already,
  /// edge-triggered (a PROXY handshake waited on it), and the session takes it over.
  sys::Result<void> start(bool watched = false);
  void on_event(std::uint32_t events) override;
  /// Publishes the current file now (SIGUSR1), at the next record boundary with a delimiter.
  void rotate_now();
  /// Ends the stream now, its last file published ".incomplete".
  void cut(EndCause cause, const std::string& reason);
  /// The sync stage reported back (RotatingFile::on_sync_progress).
  void sync_progressed();
  /// A file could not be published (durably): the stream is cut, and gets no OK.
  void publish_failed(const sys::Error& error);

  [[nodiscard]] SessionState state() const noexcept { return state_; }
  [[nodiscard]] const Sink& sink() const noexcept { return *sink_; }
  [[nodiscard]] int socket() const noexcept { return socket_.get(); }
  [[nodiscard]] EndCause cause() const noexcept { return cause_; }
  /// Bytes taken from the socket and written.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return stream_.bytes(); }
  [[nodiscard]] io::DataPath path() const noexcept { return stream_.path(); }
  /// "splice", or "read/write (why)".
  [[nodiscard]] std::string path_description() const;
  /// Why the stream ended, with what went wrong after (lost bytes, files not published, the
  /// receipt): the end line's last part.
  [[nodiscard]] const std::string& end_reason() const noexcept { return end_reason_; }
  /// The end line's level: info, warn for a cut, error for lost or unpublished bytes.
  [[nodiscard]] spdlog::level::level_enum end_level() const noexcept { return end_level_; }
  /// The receipt sent, without its newline ("OK 42"); empty when none was.
  [[nodiscard]] const std::string& receipt() const noexcept { return receipt_; }
  /// Whether a file could not be published.
  [[nodiscard]] bool publish_has_failed() const noexcept { return publish_failed_; }
  [[nodiscard]] event::EventLoop::Clock::time_point started() const noexcept { return started_; }

 private:
  void pump_some();
  // Whether the socket has bytes waiting (true), is at end of stream (false), or neither yet.
  sys::Result<std::optional<bool>> peek();
  // Opens the next file once bytes are waiting; false when the stream waits, paused or ended.
  bool open_file_for_waiting_bytes();
  // How many of `limit` bytes the next pump may move before the file must end at a record
  // boundary (boundary_at_, once the delimiter is seen); `limit` when no boundary is near.
  sys::Result<std::uint64_t> record_limit(std::uint64_t limit);
  // Whether the current file must end now: at its size, its record boundary, or a requested
  // rotation's last byte.
  [[nodiscard]] bool file_ends_here() const;
  sys::Result<int> open_file();
  bool rotate();
  void handle_pump_error(const sys::Error& error);
  void end_at_byte_limit();
  void pause_for_space(const std::string& why, bool disk_full = true);
  void retry_after_pause();
  void set_state(SessionState next);
  void stop_reading(SessionState paused);
  sys::Result<void> resume();
  [[nodiscard]] bool sync_behind() const;
  void rotation_due();
  void check_idle();
  void end(EndCause cause, const std::string& reason);
  void finalize();
  void answer();
  void close_socket();
  void watch_sink();
  void sink_writable();

  // The sink's descriptor in the loop's set while a full pipe or terminal is waited for.
  class SinkWatch final : public event::Handler {
   public:
    explicit SinkWatch(Session& session) : session_(session) {}
    void on_event(std::uint32_t /*events*/) override { session_.sink_writable(); }

   private:
    Session& session_;
  };

  event::EventLoop& loop_;
  io::SplicePump& pump_;
  SessionOwner& owner_;
  SessionSettings settings_;
  sys::UniqueFd socket_;
  std::unique_ptr<Sink> sink_;
  io::PumpStream stream_;
  SessionState state_ = SessionState::kReading;
  bool registered_ = false;
  // The sink fd watched for EPOLLOUT while kWaitingForSink.
  int watched_sink_ = -1;
  bool finalized_ = false;
  bool publish_failed_ = false;
  bool socket_is_socket_ = true;
  EndCause cause_ = EndCause::kEndOfStream;
  std::string end_reason_;
  std::string receipt_;
  spdlog::level::level_enum end_level_ = spdlog::level::info;
  // The byte limit is reached: the sender's next move (its end, or one byte more) decides.
  bool at_limit_ = false;
  // A time or signal rotation waiting for the next delimiter, until this stream offset.
  std::optional<std::uint64_t> requested_end_;
  // The stream offset just after the delimiter the current file ends with.
  std::optional<std::uint64_t> boundary_at_;
  bool split_reported_ = false;
  SinkWatch sink_watch_{*this};
  event::EventLoop::Clock::time_point started_;
  event::EventLoop::Clock::time_point last_activity_;
  std::optional<event::EventLoop::Clock::time_point> paused_since_;
  event::Timer idle_timer_;
  event::Timer rotation_timer_;
  event::Timer retry_timer_;
};

}  // namespace zcrecv::stream
