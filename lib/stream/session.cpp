#include "stream/session.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <span>
#include <utility>

#include "net/receipt.hpp"
#include "output/output_faults.hpp"
#include "sys/seconds.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::stream {
namespace {

// A record boundary is looked for this many bytes at a time: a stack buffer, so a stream that
// never nears a boundary costs nothing, and one that does costs a MSG_PEEK copy of at most
// record_max bytes per file.
constexpr std::size_t kPeekChunk = std::size_t{16} << 10;

}  // namespace

Session::Session(event::EventLoop& loop, io::SplicePump& pump, SessionOwner& owner,
                 SessionSettings settings, sys::UniqueFd socket, std::unique_ptr<Sink> sink,
                 io::CopyMode copy_mode)
    : loop_(loop),
      pump_(pump),
      owner_(owner),
      settings_(std::move(settings)),
      socket_(std::move(socket)),
      sink_(std::move(sink)),
      stream_(socket_.get(), -1, copy_mode),
      started_(loop.now()),
      last_activity_(started_),
      idle_timer_(loop, [this] { check_idle(); }),
      rotation_timer_(loop, [this] { rotation_due(); }),
      retry_timer_(loop, [this] { retry_after_pause(); }) {
  if (sink_->is_open()) {
    // Standard output: there from the start, never rotated.
    if (auto fd = sink_->open()) {
      stream_.set_sink(*fd);
    }
  } else {
    // Also for sources that cannot be peeked at (a pipe on --stdin): the file opens when the
    // pump has taken the first bytes.
    stream_.set_file_opener([this] { return open_file(); });
  }
}

Session::~Session() {
  if (watched_sink_ >= 0) {
    (void)loop_.remove(watched_sink_);
  }
  if (registered_) {
    (void)loop_.remove(socket_.get());
  }
}

sys::Result<void> Session::start(bool watched) {
  if (watched) {
    if (auto taken = loop_.hand_over(socket_.get(), *this); !taken) {
      return taken;
    }
    registered_ = true;
  }
  if (settings_.idle_timeout.count() > 0) {
    idle_timer_.arm(settings_.idle_timeout);
  }
  // A short stream's bytes, often its end too, are there by the time it is accepted: read
  // first, and watch the socket only for what has not arrived yet.
  pump_some();
  if (state_ != SessionState::kReading) {
    return {};
  }
  // Level-triggered: a pump that stops at its budget leaves bytes that must wake the loop again.
  auto watching = registered_ ? loop_.modify(socket_.get(), EPOLLIN)
                              : loop_.add(socket_.get(), EPOLLIN, *this);
  if (!watching) {
    return watching;
  }
  registered_ = true;
  return {};
}

void Session::on_event(std::uint32_t /*events*/) {
  // EPOLLERR and EPOLLHUP need no case of their own: the next splice or read reports them.
  if (state_ != SessionState::kReading) {
    return;
  }
  // At the byte limit the socket is watched only for the sender's answer to the probe: its end or
  // one byte more (end_at_byte_limit).
  if (at_limit_) {
    end_at_byte_limit();
    return;
  }
  pump_some();
}

std::string Session::path_description() const {
  std::string path(io::to_string(stream_.path()));
  if (stream_.fallback_reason()) {
    path += " (" + *stream_.fallback_reason() + ")";
  }
  return path;
}

void Session::pump_some() {
  const std::uint64_t max_bytes = settings_.max_bytes;
  std::uint64_t budget = kEventBudget;
  while (budget > 0 && state_ == SessionState::kReading) {
    if (owner_.output_space_low()) {
      pause_for_space("free space below min_free_space");
      return;
    }
    if (sync_behind()) {
      stop_reading(SessionState::kPausedForSync);
      owner_.paused(SessionState::kPausedForSync, "the disk is behind", false);
      return;
    }
    if (file_ends_here()) {
      if (!rotate()) {
        return;
      }
      continue;
    }
    if (!sink_->is_open() && socket_is_socket_ && !open_file_for_waiting_bytes()) {
      return;
    }
    std::uint64_t limit = std::min({budget, sink_->room(), sink_->unsynced_room()});
    if (max_bytes != 0) {
      limit = std::min(limit, max_bytes - stream_.bytes());
    }
    auto bounded = record_limit(limit);
    if (!bounded) {
      handle_pump_error(bounded.error());
      return;
    }
    limit = *bounded;
    // A write that ends on a page boundary keeps the next ones page-aligned. After a record
    // boundary a file starts with the rest of a record, and then every write straddled a page
    // at both ends: ~10 % more CPU per byte on tmpfs (a partly written page is zeroed first).
    if (const std::uint64_t offset = sink_->file_offset();
        offset % kPageSize != 0 && limit > kPageSize) {
      limit = (offset + limit) / kPageSize * kPageSize - offset;
    }
    if (sink_->is_open()) {
      // Space first, bytes second: a full disk refuses the reservation while the bytes are
      // still the socket's (TCP holds the sender back), never a write of bytes already taken.
      auto covered = sink_->reserve(limit);
      if (!covered) {
        handle_pump_error(covered.error());
        return;
      }
      limit = std::min(limit, *covered);
    }
    const std::uint64_t before = stream_.bytes();
    auto pumped = pump_.pump(stream_, static_cast<std::size_t>(limit));
    const std::uint64_t moved = stream_.bytes() - before;
    if (moved > 0) {
      sink_->add_written(moved);
      owner_.moved(moved, stream_.path());
      last_activity_ = loop_.now();
      budget -= std::min(budget, moved);
    }
    if (!pumped) {
      handle_pump_error(pumped.error());
      return;
    }
    // The sink took bytes again: a pause for space, if any, is over.
    paused_since_.reset();
    switch (pumped->status) {
      case io::PumpStatus::kWouldBlock:
        return;
      case io::PumpStatus::kSinkFull:
        watch_sink();
        return;
      case io::PumpStatus::kEndOfStream:
        end(EndCause::kEndOfStream, "end of stream");
        return;
      case io::PumpStatus::kLimit:
        break;
    }
    if (max_bytes != 0 && stream_.bytes() >= max_bytes) {
      end_at_byte_limit();
      return;
    }
  }
}

bool Session::open_file_for_waiting_bytes() {
  auto waiting = peek();
  if (!waiting) {
    // recv on a descriptor that is not a socket fails with ENOTSOCK: this is how a pipe or file on
    // --stdin is told apart, once, without an fstat per round.
    if (waiting.error().errno_value() == ENOTSOCK) {
      // A pipe or file on --stdin: the pump opens the file once it has taken bytes.
      socket_is_socket_ = false;
      return true;
    }
    handle_pump_error(waiting.error());
    return false;
  }
  if (!waiting->has_value()) {
    return false;
  }
  if (!**waiting) {
    end(EndCause::kEndOfStream, "end of stream");
    return false;
  }
  auto opened = open_file();
  if (!opened) {
    handle_pump_error(opened.error());
    return false;
  }
  return true;
}

sys::Result<int> Session::open_file() {
  const bool opening = !sink_->is_open();
  auto fd = sink_->open();
  if (!fd || !opening) {
    return fd;
  }
  if (auto deadline = sink_->rotation_deadline()) {
    // The file's opening time is wall-clock time (it is in the file's name), so the deadline is
    // too; turned into a delay once, on the loop's monotonic timer, a clock step cannot move it
    // later.
    rotation_timer_.arm(std::chrono::duration_cast<std::chrono::nanoseconds>(
        *deadline - std::chrono::system_clock::now()));
  }
  return fd;
}

sys::Result<std::optional<bool>> Session::peek() {
  std::byte byte{};
  // One byte is enough to tell bytes from the end of the stream: recv returns 0 only on the peer's
  // FIN. MSG_DONTWAIT keeps the peek from blocking even on a socket passed in blocking.
  auto got = sys::recv(socket_.get(), std::span(&byte, 1), MSG_PEEK | MSG_DONTWAIT);
  if (!got) {
    return std::move(got).error().with_context("socket");
  }
  if (!got->has_value()) {
    return std::optional<bool>();
  }
  return std::optional<bool>(**got > 0);
}

bool Session::file_ends_here() const {
  if (!sink_->is_open()) {
    return false;
  }
  const std::uint64_t at = stream_.bytes();
  return sink_->room() == 0 || (boundary_at_ && at >= *boundary_at_) ||
         (requested_end_ && at >= *requested_end_);
}

sys::Result<std::uint64_t> Session::record_limit(std::uint64_t limit) {
  if (!settings_.record_delimiter || !socket_is_socket_ || boundary_at_) {
    return boundary_at_ ? std::min(limit, *boundary_at_ - stream_.bytes()) : limit;
  }
  const std::uint64_t at = stream_.bytes();
  const std::uint64_t room = sink_->room();
  std::uint64_t end = room == Sink::kUnlimited ? Sink::kUnlimited : at + room;
  std::uint64_t window = end == Sink::kUnlimited ? Sink::kUnlimited
                                                 : end - std::min(end, settings_.record_max);
  if (requested_end_) {
    end = std::min(end, *requested_end_);
    // A requested rotation looks for the next delimiter at once, within record_max bytes.
    window = at;
  }
  if (at < window) {
    // Spliced as usual up to where a boundary may come.
    return std::min(limit, window - at);
  }
  // Near the boundary: look at what is waiting, pending bytes first, without taking it.
  const std::uint64_t scan = std::min(limit, end - at);
  const std::byte delimiter = *settings_.record_delimiter;
  std::span<const std::byte> pending = stream_.pending_bytes();
  pending = pending.first(std::min<std::size_t>(pending.size(), scan));
  if (auto found = std::find(pending.begin(), pending.end(), delimiter); found != pending.end()) {
    boundary_at_ = at + static_cast<std::uint64_t>(found - pending.begin()) + 1;
    return *boundary_at_ - at;
  }
  // The pending bytes cover the whole scan and hold no delimiter: all of them may go into the file.
  if (pending.size() == scan) {
    return scan;
  }
  std::array<std::byte, kPeekChunk> buffer{};
  const std::size_t want =
      std::min<std::uint64_t>(buffer.size(), scan - pending.size());
  auto got = sys::recv(socket_.get(), std::span(buffer).first(want), MSG_PEEK | MSG_DONTWAIT);
  if (!got) {
    return std::move(got).error().with_context("socket");
  }
  if (!got->has_value() || **got == 0) {
    // Nothing waiting, or the end of the stream: the pump finds out which.
    return scan;
  }
  auto seen = std::span<const std::byte>(buffer).first(**got);
  if (auto found = std::find(seen.begin(), seen.end(), delimiter); found != seen.end()) {
    boundary_at_ = at + pending.size() + static_cast<std::uint64_t>(found - seen.begin()) + 1;
    return *boundary_at_ - at;
  }
  return pending.size() + seen.size();
}

bool Session::rotate() {
  rotation_timer_.cancel();
  // A file that reached its size with no delimiter in its last record_max bytes splits a record.
  // A time or signal rotation that waited record_wait in vain is not counted: its record may
  // well have ended with the last byte.
  if (settings_.record_delimiter && !boundary_at_ && sink_->is_open() && sink_->room() == 0) {
    owner_.record_split(!split_reported_);
    split_reported_ = true;
  }
  boundary_at_.reset();
  requested_end_.reset();
  auto rotated = sink_->rotate();
  owner_.files_pending(sink_->pending_publishes());
  if (!rotated) {
    publish_failed_ = true;
    end(EndCause::kPublishFailed, rotated.error().message());
    return false;
  }
  stream_.clear_sink();
  return true;
}

void Session::rotation_due() {
  if (state_ == SessionState::kEnded || !sink_->is_open()) {
    return;
  }
  if (!settings_.record_delimiter || requested_end_) {
    // Without records, or a record wait that ran out: rotate now.
    rotate();
    return;
  }
  // Close the file at the next delimiter, within record_max bytes or record_wait.
  spdlog::debug("rotation requested: the file ends at the next record boundary");
  requested_end_ = stream_.bytes() + settings_.record_max;
  rotation_timer_.arm(settings_.record_wait);
}

void Session::rotate_now() { rotation_due(); }

void Session::cut(EndCause cause, const std::string& reason) { end(cause, reason); }

void Session::handle_pump_error(const sys::Error& error) {
  if (output::is_disk_full(error)) {
    // The bytes the file refused, if any, are pending in the stream; nothing is lost while we
    // wait.
    pause_for_space(error.message());
    return;
  }
  if (output::is_out_of_descriptors(error)) {
    // The socket was accepted but its file cannot be opened yet: wait for a descriptor rather
    // than close a stream whose sender is ready.
    pause_for_space(error.message(), false);
    return;
  }
  // Any other error ends the stream. A reset is told apart because the receipt cannot reach a peer
  // that reset (answer), and it is logged as the peer's doing, not ours.
  const int err = error.errno_value();
  end(err == ECONNRESET || err == EPIPE ? EndCause::kPeerReset : EndCause::kError,
      error.message());
}

void Session::end_at_byte_limit() {
  // The limit is reached exactly. A sender that stopped there and closed has sent a complete
  // stream: wait for its next move, its end or one byte more (the idle timer still runs). The
  // byte is read, not peeked, so that a pipe on --stdin can answer too; a stream that sent it
  // is cut, and the byte is past what the receipt counts.
  std::array<std::byte, 1> probe{};
  auto got = sys::read(socket_.get(), probe);
  if (!got) {
    handle_pump_error(got.error());
    return;
  }
  if (!got->has_value()) {
    at_limit_ = true;
    return;
  }
  if (**got == 0) {
    end(EndCause::kEndOfStream, "end of stream");
    return;
  }
  end(EndCause::kByteLimit, "max_connection_bytes (" + std::to_string(settings_.max_bytes) +
                                ") reached");
}

void Session::pause_for_space(const std::string& why, bool disk_full) {
  const auto now = event::EventLoop::Clock::now();
  if (state_ == SessionState::kReading) {
    stop_reading(SessionState::kPausedForSpace);
  }
  if (!paused_since_) {
    paused_since_ = now;
    owner_.paused(SessionState::kPausedForSpace, why, disk_full);
  }
  const auto timeout = settings_.disk_full_timeout;
  // Measured from the first failure of this pause, not from the last retry: a sender with receipts
  // learns within disk_full_timeout that it should send elsewhere (docs/design.md §5.2).
  if (timeout.count() > 0 && now - *paused_since_ >= timeout) {
    end(disk_full ? EndCause::kDiskFull : EndCause::kError,
        fmt::format("the output took no byte for {} s ({})", sys::seconds(timeout), why));
    return;
  }
  // A retry by timer rather than by an event: nothing signals that space came back (another file
  // deleted, a quota raised), so the session tries again every kSpaceRetry.
  retry_timer_.arm(kSpaceRetry);
}

void Session::stop_reading(SessionState paused) {
  // Not reading makes TCP push back on the sender. Out of the epoll set rather than watched
  // for no event: EPOLLERR and EPOLLHUP cannot be masked and would wake the loop for ever.
  if (registered_) {
    (void)loop_.remove(socket_.get());
    registered_ = false;
  }
  set_state(paused);
}

void Session::set_state(SessionState next) {
  const SessionState previous = state_;
  state_ = next;
  owner_.state_changed(previous, next);
}

sys::Result<void> Session::resume() {
  // Level-triggered again, like at start: bytes that arrived during the pause must wake the loop at
  // once.
  if (auto added = loop_.add(socket_.get(), EPOLLIN, *this); !added) {
    return added;
  }
  registered_ = true;
  set_state(SessionState::kReading);
  return {};
}

void Session::retry_after_pause() {
  if (state_ != SessionState::kPausedForSpace) {
    return;
  }
  if (auto resumed = resume(); !resumed) {
    end(EndCause::kError, resumed.error().message());
    return;
  }
  pump_some();
}

void Session::watch_sink() {
  // A pipe or terminal on standard output is full: wait for it, not for the socket, which has
  // bytes the sink cannot take yet.
  stop_reading(SessionState::kWaitingForSink);
  const int sink = stream_.sink();
  if (auto added = loop_.add(sink, EPOLLOUT, sink_watch_); !added) {
    end(EndCause::kError, added.error().message());
    return;
  }
  watched_sink_ = sink;
}

void Session::sink_writable() {
  (void)loop_.remove(watched_sink_);
  watched_sink_ = -1;
  if (state_ != SessionState::kWaitingForSink) {
    return;
  }
  if (auto resumed = resume(); !resumed) {
    end(EndCause::kError, resumed.error().message());
    return;
  }
  pump_some();
}

bool Session::sync_behind() const {
  // The current file's own bound, and one finished file in the sync queue besides the one
  // being synced: what is not yet durable stays bounded however slow the disk.
  return sink_->unsynced_room() == 0 || sink_->pending_publishes() >= 2;
}

void Session::sync_progressed() {
  owner_.files_pending(sink_->pending_publishes());
  if (state_ == SessionState::kEnded) {
    if (sink_->pending_publishes() == 0) {
      finalize();
    }
    return;
  }
  if (state_ != SessionState::kPausedForSync || sync_behind()) {
    return;
  }
  if (auto resumed = resume(); !resumed) {
    end(EndCause::kError, resumed.error().message());
    return;
  }
  pump_some();
}

void Session::publish_failed(const sys::Error& error) {
  publish_failed_ = true;
  if (state_ != SessionState::kEnded) {
    // Later files would follow a hole: the stream is cut here.
    end(EndCause::kPublishFailed, "a file could not be published: " + error.message());
    return;
  }
  end_reason_ += "; not published: " + error.message();
  end_level_ = spdlog::level::err;
}

void Session::check_idle() {
  const auto idle_timeout = settings_.idle_timeout;
  if (state_ == SessionState::kPausedForSpace || state_ == SessionState::kPausedForSync ||
      state_ == SessionState::kWaitingForSink) {
    // A paused stream is not idle: its sender is waiting for us (disk_full_timeout governs a
    // pause for space).
    idle_timer_.arm(idle_timeout);
    return;
  }
  // The timer is not re-armed on each read, which would cost a heap operation per pump; when it
  // fires before the real deadline it is armed again for that deadline.
  const auto deadline = last_activity_ + idle_timeout;
  if (event::EventLoop::Clock::now() >= deadline) {
    end(settings_.idle_cause, fmt::format("idle for {} s ({})", sys::seconds(idle_timeout),
                                          settings_.idle_cause == EndCause::kTimeout
                                              ? "--timeout"
                                              : "idle_timeout"));
    return;
  }
  idle_timer_.arm_at(deadline);
}

void Session::end(EndCause cause, const std::string& reason) {
  if (state_ == SessionState::kEnded) {
    return;
  }
  if (watched_sink_ >= 0) {
    (void)loop_.remove(watched_sink_);
    watched_sink_ = -1;
  }
  set_state(SessionState::kEnded);
  cause_ = cause;
  idle_timer_.cancel();
  rotation_timer_.cancel();
  retry_timer_.cancel();
  end_reason_ += reason;
  // Bytes taken from the socket that no sink accepted (normally none: space is reserved before
  // bytes are taken) are lost: they are counted and make the end line an error.
  const std::uint64_t lost = stream_.pending();
  if (lost > 0) {
    end_reason_ += "; " + std::to_string(lost) + " bytes received but never written";
  }
  const output::Completion completion = cause == EndCause::kEndOfStream
                                            ? output::Completion::kComplete
                                            : output::Completion::kIncomplete;
  // A cut stream is worth the operator's attention; a file left unpublished (its bytes stay in
  // the partial file, for recovery) or bytes read but never written are errors.
  if (completion == output::Completion::kIncomplete) {
    end_level_ = std::max(end_level_, cause == EndCause::kError || cause == EndCause::kPublishFailed
                                          ? spdlog::level::err
                                          : spdlog::level::warn);
  }
  // The sink finishes before the owner is told: the end line and the receipt depend on whether the
  // last file went to the sync stage.
  if (auto finished = sink_->finish(completion); !finished) {
    end_reason_ += "; not published: " + finished.error().message();
    end_level_ = spdlog::level::err;
    publish_failed_ = true;
  }
  owner_.files_pending(sink_->pending_publishes());
  if (lost > 0) {
    end_level_ = spdlog::level::err;
  }
  owner_.ended(cause, lost);
  if (settings_.receipt) {
    // The socket stays open for the receipt, written once every file is durable; nothing more
    // is read from it.
    if (registered_) {
      (void)loop_.remove(socket_.get());
      registered_ = false;
    }
    if (sink_->pending_publishes() == 0) {
      finalize();
    }
    return;
  }
  owner_.closing();
  if (sink_->pending_publishes() == 0) {
    finalize();
  }
  // Closed last, once the stream is counted and, unless the sync stage has its files, its end
  // is logged: a sender that waits for the close finds the statistics, the log and (with
  // sync = none) the file in place. With files on the sync stage it is closed now, not when they
  // are durable: a plain close tells the sender nothing about the disk either way.
  close_socket();
}

void Session::finalize() {
  if (finalized_) {
    return;
  }
  finalized_ = true;
  if (settings_.receipt) {
    answer();
    owner_.closing();
  }
  owner_.finished();
  if (settings_.receipt) {
    close_socket();
  }
}

void Session::answer() {
  if (cause_ == EndCause::kPeerReset) {
    end_reason_ += "; no receipt (the peer reset the connection)";
    return;
  }
  const bool stored = cause_ == EndCause::kEndOfStream && !publish_failed_;
  const std::string line =
      stored ? net::receipt_ok(stream_.bytes())
             : net::receipt_err(stream_.bytes(),
                                receipt_reason(publish_failed_ ? EndCause::kPublishFailed : cause_));
  receipt_ = line.substr(0, line.size() - 1);
  if (auto sent = net::send_receipt(socket_.get(), line); !sent) {
    // The peer closed its read side or went away: it learns nothing, which means "send again".
    spdlog::debug("{} not delivered: {}", receipt_, sent.error().message());
    end_reason_ += "; receipt " + receipt_ + " not delivered";
    receipt_ += " (not delivered)";
    return;
  }
  // The line goes before the end of the stream, even if bytes the sender wrote after the limit
  // are still unread, which makes the close a reset.
  (void)sys::shutdown(socket_.get(), SHUT_WR);
  end_reason_ += "; receipt " + receipt_;
}

void Session::close_socket() {
  if (registered_) {
    (void)loop_.close(std::move(socket_));
    registered_ = false;
  } else {
    socket_.reset();
  }
}

}  // namespace zcrecv::stream
