#include "daemon/connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "daemon/worker.hpp"
#include "handoff/handoff_record.hpp"
#include "log/event.hpp"
#include "sys/seconds.hpp"

namespace zcrecv::daemon {
namespace {

// A receipt promises durable bytes: a receipt listener syncs whatever `sync` says. A proxy's
// own connections (health checks) leave no empty file, whatever keep_empty says: a check every
// second would leave 86 400 of them a day.
output::RotationSettings rotation_for(const ConnectionSettings& settings, bool receipt,
                                      const net::PeerIdentity& peer) {
  // A copy: the snapshot is shared by every connection admitted under it and never changes (§4.2).
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

}  // namespace

Connection::Connection(Worker& worker, std::shared_ptr<const ConnectionSettings> settings,
                       std::shared_ptr<metrics::ListenerStats> listener, bool receipt,
                       sys::UniqueFd socket, net::PeerIdentity peer, std::string id)
    : worker_(worker),
      settings_(std::move(settings)),
      listener_(std::move(listener)),
      peer_(std::move(peer)),
      id_(std::move(id)) {
  // The sink is built here, before the session, because the session takes it over at construction
  // and its callbacks must be wired before the first file can be opened.
  auto sink = std::make_unique<stream::RotatingSink>(output::RotatingFile(
      *settings_->directory, settings_->name_template,
      output::ConnectionNames{listener_->name, peer_.file_token, id_, settings_->host,
                              client_cn_of(peer_)},
      rotation_for(*settings_, receipt, peer_)));
  wire_files(*sink);
  stream::SessionSettings session = settings_->session;
  session.receipt = receipt;
  session_ = std::make_unique<stream::Session>(worker_.loop(), worker_.pump(), *this, session,
                                               std::move(socket), std::move(sink),
                                               settings_->copy_mode);
}

Connection::~Connection() {
  // Files still on the sync stage (a worker torn down after a failure) no longer report here.
  files_pending(0);
  // The session goes first: its state gauges and the loop's set are updated while this
  // connection, its owner, is still whole.
  session_.reset();
}

void Connection::wire_files(stream::RotatingSink& sink) {
  output::RotatingFile& files = sink.files();
  output::SyncStage* stage = worker_.sync_stage();
  // Without durable syncs (`sync = "none"` and no receipt) files publish on the spot on this
  // thread (§4.7); only durable publishing goes through the stage.
  const bool on_stage = stage != nullptr && files.syncs_durably();
  if (on_stage) {
    event::EventLoop& loop = worker_.loop();
    // Completions run on a sync thread; posting brings them back to this connection's loop, the
    // only thread that may touch the session (§6).
    files.use_sync_stage(*stage,
                         [&loop](std::function<void()> task) { loop.post(std::move(task)); });
    files.on_sync_progress([this] { session_->sync_progressed(); });
    files.on_publish_failed([this](const sys::Error& error) {
      const std::string peer = peer_.described();
      log::event(spdlog::level::err, "publish_failed",
                 {{"conn", id_}, {"listener", listener_->name}, {"peer", peer},
                  {"error", error.message()}},
                 fmt::format("connection {} on {} from {}: {}", id_, listener_->name, peer,
                             error.message()));
      // The page cache may have dropped what the disk refused, so the file is never published as
      // complete and the stream is cut (§4.7).
      session_->publish_failed(error);
    });
  }
  files.on_published([this, on_stage, &sink](const output::PublishedFile& file) {
    listener_->published(file.completion).fetch_add(1, std::memory_order_relaxed);
    if (on_stage) {
      // Publish latency is the stage's fdatasync, rename and directory fsync; a file published
      // on the spot has none worth observing.
      worker_.stats().publish_duration.observe(sys::seconds(file.latency));
    }
    sink.note_published(file.name);
    if (spdlog::should_log(spdlog::level::debug)) {
      log::event(spdlog::level::debug, "published", {{"conn", id_}, {"path", file.name}},
                 fmt::format("connection {}: published {}", id_, file.name));
    }
    if (settings_->hand_off != nullptr) {
      // Announcing only posts to the main loop: the worker never waits for a hook (§4.9).
      settings_->hand_off->published(settings_->directory, file.name);
    }
  });
  if (settings_->hand_off != nullptr) {
    // Marked before the first byte: whatever happens next (publish, a crash and recovery), the
    // file carries what its hook needs.
    files.on_created([this](int fd, std::uint64_t seq) {
      return handoff::write_record(
          fd, handoff::HandoffRecord{handoff::HandoffState::kPending, listener_->name,
                                     peer_.display, id_, seq});
    });
  }
}

sys::Result<void> Connection::start(bool watched) {
  if (auto started = session_->start(watched); !started) {
    return std::move(started).error().with_context("connection " + id_);
  }
  return {};
}

bool Connection::output_space_low() {
  // The SpaceMonitor's last measure (every 100 ms, §5.2): no system call on the data path.
  return worker_.space_low(*settings_->directory, settings_->limits.min_free_space);
}

void Connection::moved(std::uint64_t bytes, io::DataPath path) {
  listener_->received(path).fetch_add(bytes, std::memory_order_relaxed);
}

void Connection::state_changed(stream::SessionState from, stream::SessionState to) {
  metrics::Stats& stats = worker_.stats();
  // Only the two pause states have gauges; each transition moves one connection from one to the
  // other so the gauges stay exact without a scan.
  auto gauge = [&stats](stream::SessionState state) -> std::atomic<std::uint64_t>* {
    switch (state) {
      case stream::SessionState::kPausedForSpace:
        return &stats.paused_for_output;
      case stream::SessionState::kPausedForSync:
        return &stats.paused_for_sync;
      case stream::SessionState::kReading:
      case stream::SessionState::kWaitingForSink:
      case stream::SessionState::kEnded:
        return nullptr;
    }
    return nullptr;
  };
  if (std::atomic<std::uint64_t>* left = gauge(from)) {
    left->fetch_sub(1, std::memory_order_relaxed);
  }
  if (std::atomic<std::uint64_t>* entered = gauge(to)) {
    entered->fetch_add(1, std::memory_order_relaxed);
  }
  if (from == stream::SessionState::kPausedForSync && to == stream::SessionState::kReading) {
    spdlog::debug("connection {}: reading resumed", id_);
  }
}

void Connection::paused(stream::SessionState state, const std::string& why, bool disk_full) {
  // A sync pause is normal backpressure (§4.7), not a fault: counted and logged at debug only.
  if (state == stream::SessionState::kPausedForSync) {
    worker_.stats().sync_pauses.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("connection {}: reading paused until the disk catches up", id_);
    return;
  }
  if (disk_full) {
    worker_.stats().disk_full_pauses.fetch_add(1, std::memory_order_relaxed);
  }
  // One limiter for the worker, not per connection: a full disk pauses every stream at once, and
  // one line a second says so.
  if (auto suppressed = worker_.disk_full_log().admit(event::EventLoop::Clock::now())) {
    const std::string peer = peer_.described();
    const auto retry_ms = stream::Session::kSpaceRetry.count();
    log::event(spdlog::level::warn, "disk_paused",
               {{"conn", id_}, {"listener", listener_->name}, {"peer", peer}, {"error", why},
                {"retry_ms", retry_ms}, {"suppressed", *suppressed}},
               fmt::format("connection {} on {} from {}: {}; reading paused, retrying every {} "
                           "ms ({} similar lines suppressed)",
                           id_, listener_->name, peer, why, retry_ms, *suppressed));
  }
}

void Connection::record_split(bool first) {
  worker_.stats().records_split.fetch_add(1, std::memory_order_relaxed);
  if (first) {
    const std::string peer = peer_.described();
    const std::uint64_t record_max = settings_->session.record_max;
    log::event(spdlog::level::warn, "record_split",
               {{"conn", id_}, {"listener", listener_->name}, {"peer", peer},
                {"record_max", record_max}},
               fmt::format("connection {} on {} from {}: a record longer than record_max ({} "
                           "bytes) is split across two files (logged once per connection; "
                           "zcrecv_records_split_total counts all)",
                           id_, listener_->name, peer, record_max));
  }
}

void Connection::files_pending(std::uint64_t pending) {
  std::atomic<std::uint64_t>& queue = worker_.stats().sync_queue;
  // The stage's queue gauge is shared by all connections: only this connection's change is applied.
  if (pending > counted_sync_queue_) {
    queue.fetch_add(pending - counted_sync_queue_, std::memory_order_relaxed);
  } else {
    queue.fetch_sub(counted_sync_queue_ - pending, std::memory_order_relaxed);
  }
  counted_sync_queue_ = pending;
}

void Connection::ended(EndCause /*cause*/, std::uint64_t lost) {
  metrics::Stats& stats = worker_.stats();
  if (lost > 0) {
    stats.lost_bytes.fetch_add(lost, std::memory_order_relaxed);
  }
  auto& counter = session_->path() == io::DataPath::kReadWrite ? stats.readwrite_connections
                                                                : stats.splice_connections;
  counter.fetch_add(1, std::memory_order_relaxed);
}

// Called when the socket closes, which with a receipt waits for the files to be durable: the
// connection counts are given back then, not when this object is destroyed.
void Connection::closing() { worker_.connection_closed(*this); }

void Connection::finished() {
  const std::string& receipt = session_->receipt();
  if (!receipt.empty()) {
    auto& counter = receipt.starts_with("OK") ? worker_.stats().receipts_ok
                                              : worker_.stats().receipts_err;
    counter.fetch_add(1, std::memory_order_relaxed);
  }
  log_end();
  // connection_finished destroys this object only after the current batch.
  worker_.connection_finished(*this);
}

void Connection::log_end() const {
  const stream::Session& session = *session_;
  const double duration = sys::seconds(event::EventLoop::Clock::now() - session.started());
  const double rate =
      duration > 0 ? static_cast<double>(session.bytes()) / duration / (1 << 20) : 0.0;
  // A proxy's health checks would otherwise log a line every few seconds, and a warning for
  // each that ends with a reset, as HAProxy's do. Nothing of them is lost: nothing to warn of.
  const bool quiet =
      peer_.proxy_itself && session.bytes() == 0 && session.end_level() < spdlog::level::err;
  const auto& names = session.sink().published();
  std::string files;
  if (names.size() == 1) {
    files = "; file " + names.front();
  } else if (names.size() == 2) {
    files = "; files " + names.front() + " … " + names.back();
  }
  const std::string peer = peer_.described();
  const std::string path = session.path_description();
  const std::string first_file = names.empty() ? std::string() : names.front();
  const std::string last_file = names.empty() ? std::string() : names.back();
  log::event(quiet ? spdlog::level::debug : session.end_level(), "connection_end",
             {{"conn", id_},
              {"listener", listener_->name},
              {"peer", peer},
              {"bytes", session.bytes()},
              {"files", session.sink().files_published()},
              {"first_file", first_file},
              {"last_file", last_file},
              {"seconds", duration},
              {"mib_per_s", rate},
              {"data_path", path},
              {"reason", stream::cause_name(session.cause())},
              {"outcome", session.end_reason()},
              {"receipt", session.receipt()}},
             fmt::format("connection {} on {} from {}: {} bytes, {} files, {:.3f} s, {:.1f} "
                         "MiB/s, {}, {}{}",
                         id_, listener_->name, peer, session.bytes(),
                         session.sink().files_published(), duration, rate, path,
                         session.end_reason(), files));
}

}  // namespace zcrecv::daemon
