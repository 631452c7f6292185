#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "daemon/connection_settings.hpp"
#include "daemon/listener_stats.hpp"
#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "io/splice_pump.hpp"
#include "net/peer_identity.hpp"
#include "output/rotating_file.hpp"
#include "sys/error.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::daemon {

class Worker;

/// Why a connection ended: a clean end of stream, or what cut it. A receipt names the cut
/// ("ERR <bytes> <reason>"); a reset by the peer gets no receipt (none could arrive).
enum class EndCause {
  kEndOfStream,
  kIdleTimeout,
  kByteLimit,
  kDiskFull,
  kShutdown,
  kPublishFailed,
  kPeerReset,
  kError,
};

/// One accepted connection, streamed into its own RotatingFile sequence on its worker.
///
/// Readable → pump at most min(kEventBudget, room in the file, bytes left under
/// max_connection_bytes, room before the unsynced bound) → rotate at the size boundary → repeat
/// until the socket would block or the budget is spent (the loop is level-triggered, so the rest
/// waits for the next round). Files open only once bytes are waiting, so an empty stream, or one
/// that ends on a rotation boundary, leaves no empty file. Timers: idle timeout (re-armed lazily
/// from the last activity, not on every read), time rotation at the file's deadline, and the
/// disk-full retry.
///
/// With sync = publish, finished files become durable on the sync stage while the connection
/// reads on. It stops reading (TCP holds the sender back) while its current file has
/// 2 × writeback_bytes not yet written back, or two finished files are not yet durable, and
/// resumes as the sync stage catches up. At its end the socket is closed at once; the object
/// lives on until its last file is durable, then logs its end line and goes.
class Connection final : public event::Handler {
 public:
  /// Bytes moved per readable event before the loop turns to other connections.
  static constexpr std::uint64_t kEventBudget = std::uint64_t{4} << 20;

  /// A connection accepted on the listener whose counters are `listener` (its name is the
  /// {listener} of file names and logs); `receipt`: answer a delivery receipt at the end (the
  /// listener's `receipt`). A proxy's own connection (`peer.proxy_itself`: a health check) that
  /// sends nothing leaves no file, even with keep_empty, and logs its end at debug level,
  /// however it ended.
  Connection(Worker& worker, std::shared_ptr<const ConnectionSettings> settings,
             std::shared_ptr<ListenerStats> listener, bool receipt, sys::UniqueFd socket,
             net::PeerIdentity peer,
             std::string id);
  ~Connection() override;

  /// Arms the idle timer, takes the bytes already there (a short connection may end here), and
  /// registers the socket with the worker's loop for the rest. `watched`: the socket is in the
  /// loop's set already, edge-triggered (a ProxyHandshake waited on it), and the connection
  /// takes that over: a stream that ends in the first pump leaves the set with its close, and
  /// one that goes on is watched level-triggered, with one epoll_ctl either way fewer than a
  /// removal and a new registration.
  sys::Result<void> start(bool watched = false);
  void on_event(std::uint32_t events) override;
  /// Publishes the current file now (SIGUSR1); the next bytes open the next one.
  void rotate_now();
  /// Ends the connection now, its last file published ".incomplete".
  void cut(EndCause cause, const std::string& reason);

  [[nodiscard]] const net::PeerIdentity& peer() const noexcept { return peer_; }
  [[nodiscard]] const std::string& id() const noexcept { return id_; }
  /// The counters of the listener that accepted it.
  [[nodiscard]] ListenerStats& listener() const noexcept { return *listener_; }

 private:
  // kEnded: no more reading, the socket is closed; the object waits for its publishes.
  enum class State { kReading, kPausedForSpace, kPausedForSync, kEnded };

  void pump_some();
  // Whether the socket has bytes waiting (true), is at end of stream (false), or neither yet
  // (std::nullopt), without taking anything from it.
  sys::Result<std::optional<bool>> peek();
  // The stream's file opener: the next file of the sequence, its rotation timer armed.
  sys::Result<int> open_file();
  bool rotate();
  void handle_pump_error(const sys::Error& error);
  void end_at_byte_limit();
  // Stops reading until the output can take bytes again (retried on a timer; cut after
  // shutdown_timeout). `disk_full` counts the pause in the statistics' disk-full pauses.
  void pause_for_space(const std::string& why, bool disk_full = true);
  void retry_after_pause();
  // Moves to `next`, keeping the daemon's paused-connection gauges in step.
  void set_state(State next);
  // Leaves the loop's set: no reading until resume() puts the socket back.
  void stop_reading(State paused);
  sys::Result<void> resume();
  // Whether the sync stage is behind: this connection's unsynced bound is reached.
  [[nodiscard]] bool sync_behind() const;
  void pause_for_sync();
  // The sync stage reported back (on_sync_progress).
  void sync_progressed();
  // Brings the daemon's sync queue gauge in line with this connection's files on the sync
  // stage: called wherever that number may have changed.
  void count_sync_queue(std::uint64_t pending);
  void publish_failed(const sys::Error& error);
  // The end line, once every file is published: the connection's last act.
  void finalize();
  void check_idle();
  void end(EndCause cause, const std::string& reason);
  // The receipt's line for how the connection ended, sent, and noted for the end line.
  void answer();
  void close_socket();
  void log_end() const;

  Worker& worker_;
  std::shared_ptr<const ConnectionSettings> settings_;
  std::shared_ptr<ListenerStats> listener_;
  sys::UniqueFd socket_;
  net::PeerIdentity peer_;
  std::string id_;
  output::RotatingFile file_;
  io::PumpStream stream_;
  State state_ = State::kReading;
  bool registered_ = false;
  bool receipt_;
  bool finalized_ = false;
  EndCause cause_ = EndCause::kEndOfStream;
  // A file of this connection could not be published (durably): never an OK receipt.
  bool publish_failed_ = false;
  // Files on the sync stage as last counted in the daemon's sync queue gauge.
  std::uint64_t counted_sync_queue_ = 0;
  // The end line's reason and level, settled by end() and by publish failures after it.
  std::string end_reason_;
  spdlog::level::level_enum end_level_ = spdlog::level::info;
  event::EventLoop::Clock::time_point started_;
  event::EventLoop::Clock::time_point last_activity_;
  std::optional<event::EventLoop::Clock::time_point> paused_since_;
  event::Timer idle_timer_;
  event::Timer rotation_timer_;
  event::Timer retry_timer_;
};

}  // namespace zcrecv::daemon
