#include "daemon/connection.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>

#include "output/output_faults.hpp"
#include "daemon/worker.hpp"
#include "handoff/handoff_record.hpp"
#include "net/receipt.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::daemon {
namespace {

double seconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

// A receipt promises durable bytes: a receipt listener syncs whatever `sync` says. A proxy's
// own connections (health checks) leave no empty file, whatever keep_empty says: a check every
// second would leave 86 400 of them a day.
output::RotationSettings rotation_for(const ConnectionSettings& settings, bool receipt,
                                      const net::PeerIdentity& peer) {
  output::RotationSettings rotation = settings.rotation;
  if (receipt) {
    rotation.sync = output::SyncMode::kPublish;
  }
  rotation.keep_empty = rotation.keep_empty && !peer.proxy_itself;
  return rotation;
}

// {client_cn} from what the proxy said of the client's certificate.
output::ClientCn client_cn_of(const net::PeerIdentity& peer) {
  switch (peer.client_certificate) {
    case net::PeerIdentity::Certificate::kNone:
      break;
    case net::PeerIdentity::Certificate::kUnverified:
      return {output::ClientCn::Kind::kUnverified, {}};
    case net::PeerIdentity::Certificate::kVerified:
      return {output::ClientCn::Kind::kVerified, peer.client_cn};
  }
  return {};
}

// The word a receipt gives for a cut.
const char* receipt_reason(EndCause cause) {
  switch (cause) {
    case EndCause::kIdleTimeout:
      return "idle_timeout";
    case EndCause::kByteLimit:
      return "max_connection_bytes";
    case EndCause::kDiskFull:
      return "disk_full";
    case EndCause::kShutdown:
      return "shutdown";
    case EndCause::kPublishFailed:
      return "publish_failed";
    case EndCause::kEndOfStream:
    case EndCause::kPeerReset:
    case EndCause::kError:
      break;
  }
  return "error";
}

}  // namespace

Connection::Connection(Worker& worker, std::shared_ptr<const ConnectionSettings> settings,
                       std::shared_ptr<ListenerStats> listener, bool receipt,
                       sys::UniqueFd socket, net::PeerIdentity peer, std::string id)
    : worker_(worker),
      settings_(std::move(settings)),
      listener_(std::move(listener)),
      socket_(std::move(socket)),
      peer_(std::move(peer)),
      id_(std::move(id)),
      file_(*settings_->directory, settings_->name_template,
            output::ConnectionNames{listener_->name, peer_.file_token, id_, settings_->host,
                                    client_cn_of(peer_)},
            rotation_for(*settings_, receipt, peer_)),
      // No file yet: the pump opens one when the first bytes arrive.
      stream_(socket_.get(), -1, settings_->copy_mode),
      receipt_(receipt),
      started_(worker.loop().now()),
      last_activity_(started_),
      idle_timer_(worker.loop(), [this] { check_idle(); }),
      rotation_timer_(worker.loop(),
                      [this] {
                        if (state_ != State::kEnded) {
                          rotate();
                        }
                      }),
      retry_timer_(worker.loop(), [this] { retry_after_pause(); }) {
  stream_.set_file_opener([this] { return open_file(); });
  output::SyncStage* stage = worker_.sync_stage();
  const bool on_stage = stage != nullptr && rotation_for(*settings_, receipt_, peer_).sync ==
                                                output::SyncMode::kPublish;
  if (on_stage) {
    event::EventLoop& loop = worker_.loop();
    file_.use_sync_stage(*stage, [&loop](std::function<void()> task) { loop.post(std::move(task)); });
    file_.on_sync_progress([this] { sync_progressed(); });
    file_.on_publish_failed([this](const sys::Error& error) { publish_failed(error); });
  }
  file_.on_published([this, on_stage](const output::PublishedFile& file) {
    listener_->published(file.completion).fetch_add(1, std::memory_order_relaxed);
    if (on_stage) {
      worker_.stats().publish_duration.observe(seconds(file.latency));
    }
    spdlog::debug("connection {}: published {}", id_, file.name);
    if (settings_->hand_off != nullptr) {
      settings_->hand_off->published(settings_->directory, file.name);
    }
  });
  if (settings_->hand_off != nullptr) {
    // Marked before the first byte: whatever happens next (publish, a crash and recovery), the
    // file carries what its hook needs.
    file_.on_created([this](int fd, std::uint64_t seq) {
      return handoff::write_record(
          fd, handoff::HandoffRecord{handoff::HandoffState::kPending, listener_->name,
                                     peer_.display, id_, seq});
    });
  }
}

Connection::~Connection() {
  // Files still on the sync stage (a worker torn down after a failure) no longer report here.
  count_sync_queue(0);
  if (registered_) {
    (void)worker_.loop().remove(socket_.get());
  }
}

sys::Result<void> Connection::start(bool watched) {
  if (watched) {
    if (auto taken = worker_.loop().hand_over(socket_.get(), *this); !taken) {
      return std::move(taken).error().with_context("connection " + id_);
    }
    registered_ = true;
  }
  if (settings_->limits.idle_timeout.count() > 0) {
    idle_timer_.arm(settings_->limits.idle_timeout);
  }
  // A short connection's bytes, often its end too, are there by the time it is accepted: read
  // first, and watch the socket only for what has not arrived yet.
  pump_some();
  if (state_ != State::kReading) {
    return {};
  }
  // Level-triggered: a pump that stops at its budget leaves bytes that must wake the loop again.
  auto watching = registered_ ? worker_.loop().modify(socket_.get(), EPOLLIN)
                              : worker_.loop().add(socket_.get(), EPOLLIN, *this);
  if (!watching) {
    return std::move(watching).error().with_context("connection " + id_);
  }
  registered_ = true;
  return {};
}

void Connection::on_event(std::uint32_t /*events*/) {
  // EPOLLERR and EPOLLHUP need no case of their own: the next splice or read reports them.
  if (state_ == State::kReading) {
    pump_some();
  }
}

void Connection::pump_some() {
  const std::uint64_t max_bytes = settings_->limits.max_connection_bytes;
  std::uint64_t budget = kEventBudget;
  while (budget > 0) {
    if (worker_.space_low(*settings_->directory, settings_->limits.min_free_space)) {
      pause_for_space("free space below min_free_space");
      return;
    }
    if (sync_behind()) {
      pause_for_sync();
      return;
    }
    std::uint64_t limit = std::min({budget, file_.room(), file_.unsynced_room()});
    if (max_bytes != 0) {
      limit = std::min(limit, max_bytes - stream_.bytes());
    }
    const std::uint64_t before = stream_.bytes();
    auto pumped = worker_.pump().pump(stream_, static_cast<std::size_t>(limit));
    const std::uint64_t moved = stream_.bytes() - before;
    if (moved > 0) {
      file_.add_written(moved);
      listener_->received(stream_.path()).fetch_add(moved, std::memory_order_relaxed);
      last_activity_ = worker_.loop().now();
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
      case io::PumpStatus::kSinkFull:
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
    if (file_.room() == 0 && !rotate()) {
      return;
    }
  }
}

sys::Result<std::optional<bool>> Connection::peek() {
  std::byte byte{};
  auto got = sys::recv(socket_.get(), std::span(&byte, 1), MSG_PEEK | MSG_DONTWAIT);
  if (!got) {
    return std::move(got).error().with_context("socket");
  }
  if (!got->has_value()) {
    return std::optional<bool>();
  }
  return std::optional<bool>(**got > 0);
}

sys::Result<int> Connection::open_file() {
  auto sink = file_.sink();
  if (!sink) {
    return sink;
  }
  if (auto deadline = file_.rotation_deadline()) {
    rotation_timer_.arm(std::chrono::duration_cast<std::chrono::nanoseconds>(
        *deadline - std::chrono::system_clock::now()));
  }
  return sink;
}

bool Connection::rotate() {
  rotation_timer_.cancel();
  auto rotated = file_.rotate();
  count_sync_queue(file_.pending_publishes());
  if (!rotated) {
    publish_failed_ = true;
    end(EndCause::kPublishFailed, rotated.error().message());
    return false;
  }
  stream_.clear_sink();
  return true;
}

void Connection::rotate_now() {
  if (state_ != State::kEnded && file_.has_open_file()) {
    rotate();
  }
}

void Connection::cut(EndCause cause, const std::string& reason) { end(cause, reason); }

void Connection::handle_pump_error(const sys::Error& error) {
  if (output::is_disk_full(error)) {
    // The bytes the file refused are pending in the stream; nothing is lost while we wait.
    pause_for_space(error.message());
    return;
  }
  if (output::is_out_of_descriptors(error)) {
    // The socket was accepted but its file cannot be opened yet: wait for a descriptor rather
    // than close a connection whose sender is ready.
    pause_for_space(error.message(), false);
    return;
  }
  const int err = error.errno_value();
  end(err == ECONNRESET || err == EPIPE ? EndCause::kPeerReset : EndCause::kError,
      error.message());
}

void Connection::end_at_byte_limit() {
  // A sender that stopped exactly at the limit and closed has sent a complete stream.
  auto more = peek();
  if (more && more->has_value() && !**more) {
    end(EndCause::kEndOfStream, "end of stream");
    return;
  }
  end(EndCause::kByteLimit, "max_connection_bytes (" +
                                std::to_string(settings_->limits.max_connection_bytes) +
                                ") reached");
}

void Connection::pause_for_space(const std::string& why, bool disk_full) {
  const auto now = event::EventLoop::Clock::now();
  if (state_ == State::kReading) {
    stop_reading(State::kPausedForSpace);
  }
  if (!paused_since_) {
    paused_since_ = now;
    if (disk_full) {
      worker_.stats().disk_full_pauses.fetch_add(1, std::memory_order_relaxed);
    }
    if (auto suppressed = worker_.disk_full_log().admit(now)) {
      spdlog::warn(
          "connection {} on {} from {}: {}; reading paused, retrying every {} ms ({} similar "
          "lines suppressed)",
          id_, listener_->name, peer_.described(), why, output::kDiskFullRetry.count(),
          *suppressed);
    }
  }
  const auto timeout = settings_->limits.shutdown_timeout;
  if (now - *paused_since_ >= timeout) {
    end(disk_full ? EndCause::kDiskFull : EndCause::kError,
        fmt::format("the output took no byte for {} s ({})", seconds(timeout), why));
    return;
  }
  retry_timer_.arm(output::kDiskFullRetry);
}

void Connection::stop_reading(State paused) {
  // Not reading makes TCP push back on the sender. Out of the epoll set rather than watched
  // for no event: EPOLLERR and EPOLLHUP cannot be masked and would wake the loop for ever.
  if (registered_) {
    (void)worker_.loop().remove(socket_.get());
    registered_ = false;
  }
  set_state(paused);
}

void Connection::set_state(State next) {
  Stats& stats = worker_.stats();
  auto gauge = [&stats](State state) -> std::atomic<std::uint64_t>* {
    switch (state) {
      case State::kPausedForSpace:
        return &stats.paused_for_output;
      case State::kPausedForSync:
        return &stats.paused_for_sync;
      case State::kReading:
      case State::kEnded:
        return nullptr;
    }
    return nullptr;
  };
  if (std::atomic<std::uint64_t>* left = gauge(state_)) {
    left->fetch_sub(1, std::memory_order_relaxed);
  }
  if (std::atomic<std::uint64_t>* entered = gauge(next)) {
    entered->fetch_add(1, std::memory_order_relaxed);
  }
  state_ = next;
}

sys::Result<void> Connection::resume() {
  if (auto added = worker_.loop().add(socket_.get(), EPOLLIN, *this); !added) {
    return added;
  }
  registered_ = true;
  set_state(State::kReading);
  return {};
}

void Connection::retry_after_pause() {
  if (state_ != State::kPausedForSpace) {
    return;
  }
  if (auto resumed = resume(); !resumed) {
    end(EndCause::kError, resumed.error().message());
    return;
  }
  pump_some();
}

bool Connection::sync_behind() const {
  // The current file's own bound, and one finished file in the sync queue besides the one
  // being synced: what is not yet durable stays bounded however slow the disk.
  return file_.unsynced_room() == 0 || file_.pending_publishes() >= 2;
}

void Connection::pause_for_sync() {
  stop_reading(State::kPausedForSync);
  worker_.stats().sync_pauses.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("connection {}: reading paused until the disk catches up ({} files syncing)", id_,
                file_.pending_publishes());
}

void Connection::sync_progressed() {
  count_sync_queue(file_.pending_publishes());
  if (state_ == State::kEnded) {
    if (file_.pending_publishes() == 0) {
      finalize();
    }
    return;
  }
  if (state_ != State::kPausedForSync || sync_behind()) {
    return;
  }
  spdlog::debug("connection {}: reading resumed", id_);
  if (auto resumed = resume(); !resumed) {
    end(EndCause::kError, resumed.error().message());
    return;
  }
  pump_some();
}

void Connection::count_sync_queue(std::uint64_t pending) {
  std::atomic<std::uint64_t>& queue = worker_.stats().sync_queue;
  if (pending > counted_sync_queue_) {
    queue.fetch_add(pending - counted_sync_queue_, std::memory_order_relaxed);
  } else {
    queue.fetch_sub(counted_sync_queue_ - pending, std::memory_order_relaxed);
  }
  counted_sync_queue_ = pending;
}

void Connection::publish_failed(const sys::Error& error) {
  spdlog::error("connection {} on {} from {}: {}", id_, listener_->name, peer_.described(),
                error.message());
  publish_failed_ = true;
  if (state_ != State::kEnded) {
    // Later files would follow a hole: the stream is cut here.
    end(EndCause::kPublishFailed, "a file could not be published");
    return;
  }
  end_reason_ += "; not published: " + error.message();
  end_level_ = spdlog::level::err;
}

void Connection::check_idle() {
  const auto idle_timeout = settings_->limits.idle_timeout;
  if (state_ == State::kPausedForSpace || state_ == State::kPausedForSync) {
    // A paused connection is not idle: its sender is waiting for us (the disk-full deadline
    // governs a pause for space).
    idle_timer_.arm(idle_timeout);
    return;
  }
  const auto deadline = last_activity_ + idle_timeout;
  if (event::EventLoop::Clock::now() >= deadline) {
    end(EndCause::kIdleTimeout,
        "idle for " + std::to_string(seconds(idle_timeout)) + " s (idle_timeout)");
    return;
  }
  idle_timer_.arm_at(deadline);
}

void Connection::end(EndCause cause, const std::string& reason) {
  if (state_ == State::kEnded) {
    return;
  }
  set_state(State::kEnded);
  cause_ = cause;
  idle_timer_.cancel();
  rotation_timer_.cancel();
  retry_timer_.cancel();
  end_reason_ += reason;
  if (stream_.pending() > 0) {
    end_reason_ += "; " + std::to_string(stream_.pending()) + " bytes received but never written";
  }
  const output::Completion completion = cause == EndCause::kEndOfStream
                                            ? output::Completion::kComplete
                                            : output::Completion::kIncomplete;
  // A cut stream is worth the operator's attention; a file left unpublished (its bytes stay in
  // the partial file, for recovery) or bytes read but never written are errors.
  if (completion == output::Completion::kIncomplete) {
    end_level_ = std::max(end_level_, spdlog::level::warn);
  }
  if (auto finished = file_.finish(completion); !finished) {
    end_reason_ += "; not published: " + finished.error().message();
    end_level_ = spdlog::level::err;
    publish_failed_ = true;
  }
  count_sync_queue(file_.pending_publishes());
  if (stream_.pending() > 0) {
    end_level_ = spdlog::level::err;
    worker_.stats().lost_bytes.fetch_add(stream_.pending(), std::memory_order_relaxed);
  }
  auto& counter = stream_.path() == io::DataPath::kReadWrite ? worker_.stats().readwrite_connections
                                                             : worker_.stats().splice_connections;
  counter.fetch_add(1, std::memory_order_relaxed);
  if (receipt_) {
    // The socket stays open for the receipt, written once every file is durable; nothing more
    // is read from it.
    if (registered_) {
      (void)worker_.loop().remove(socket_.get());
      registered_ = false;
    }
    if (file_.pending_publishes() == 0) {
      finalize();
    }
    return;
  }
  worker_.connection_closed(*this);
  if (file_.pending_publishes() == 0) {
    finalize();
  }
  // Closed last, once the connection is counted and, unless the sync stage has its files, its
  // end is logged: a sender that waits for the close finds the statistics, the log and (with
  // sync = none) the file in place. With files on the sync stage it is closed now, not when they
  // are durable: a plain close tells the sender nothing about the disk either way, so it does
  // not wait for the disk. finalize() destroys this object only after the current batch.
  close_socket();
}

void Connection::finalize() {
  if (finalized_) {
    return;
  }
  finalized_ = true;
  if (receipt_) {
    answer();
    worker_.connection_closed(*this);
  }
  log_end();
  // connection_finished destroys this object only after the current batch.
  worker_.connection_finished(*this);
  if (receipt_) {
    close_socket();
  }
}

void Connection::answer() {
  if (cause_ == EndCause::kPeerReset) {
    end_reason_ += "; no receipt (the peer reset the connection)";
    return;
  }
  const bool stored = cause_ == EndCause::kEndOfStream && !publish_failed_;
  const std::string line =
      stored ? net::receipt_ok(stream_.bytes())
             : net::receipt_err(stream_.bytes(), receipt_reason(publish_failed_
                                                                     ? EndCause::kPublishFailed
                                                                     : cause_));
  auto& counter = stored ? worker_.stats().receipts_ok : worker_.stats().receipts_err;
  counter.fetch_add(1, std::memory_order_relaxed);
  const std::string shown = line.substr(0, line.size() - 1);
  if (auto sent = net::send_receipt(socket_.get(), line); !sent) {
    // The peer closed its read side or went away: it learns nothing, which means "send again".
    spdlog::debug("connection {}: {} not delivered: {}", id_, shown, sent.error().message());
    end_reason_ += "; receipt " + shown + " not delivered";
    return;
  }
  // The line goes before the end of the stream, even if bytes the sender wrote after the limit
  // are still unread, which makes the close a reset.
  (void)sys::shutdown(socket_.get(), SHUT_WR);
  end_reason_ += "; receipt " + shown;
}

void Connection::close_socket() {
  if (registered_) {
    (void)worker_.loop().close(std::move(socket_));
    registered_ = false;
  } else {
    socket_.reset();
  }
}

void Connection::log_end() const {
  const double duration = seconds(event::EventLoop::Clock::now() - started_);
  const double rate =
      duration > 0 ? static_cast<double>(stream_.bytes()) / duration / (1 << 20) : 0.0;
  std::string path(io::to_string(stream_.path()));
  if (stream_.fallback_reason()) {
    path += " (" + *stream_.fallback_reason() + ")";
  }
  // A proxy's health checks would otherwise log a line every few seconds, and a warning for
  // each that ends with a reset, as HAProxy's do. Nothing of them is lost: nothing to warn of.
  const bool quiet = peer_.proxy_itself && stream_.bytes() == 0 && end_level_ < spdlog::level::err;
  spdlog::log(quiet ? spdlog::level::debug : end_level_,
              "connection {} on {} from {}: {} bytes, {} files, {:.3f} s, {:.1f} MiB/s, {}, {}",
              id_, listener_->name, peer_.described(), stream_.bytes(), file_.files_published(),
              duration, rate, path, end_reason_);
}

}  // namespace zcrecv::daemon
