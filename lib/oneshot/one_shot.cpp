#include "oneshot/one_shot.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <utility>

#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "io/pipe.hpp"
#include "io/splice_pump.hpp"
#include "net/listener.hpp"
#include "net/peer_identity.hpp"
#include "net/socket_address.hpp"
#include "oneshot/named_file_sink.hpp"
#include "oneshot/progress_meter.hpp"
#include "oneshot/stdout_sink.hpp"
#include "output/name_template.hpp"
#include "output/rotating_file.hpp"
#include "stream/rotating_sink.hpp"
#include "stream/session.hpp"
#include "sys/seconds.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::oneshot {
namespace {

constexpr const char* kNoConnection = "no connection arrived within --timeout";
// The read/write fallback's buffer, as a daemon worker's.
constexpr std::size_t kFallbackBufferSize = std::size_t{256} << 10;

// The output named by --out, checked and opened before anything is accepted, so that a refused
// output fails at start rather than after the sender has begun. The sink itself is made once the
// peer is known: a directory's file names may hold it.
struct Destination {
  enum class Kind { kStdout, kFile, kDirectory };
  Kind kind = Kind::kStdout;
  std::optional<output::OutputDirectory> directory;
  std::optional<output::NameTemplate> name_template;
  std::string file_name;
};

sys::Result<Destination> open_destination(const OneShotSettings& settings) {
  namespace fs = std::filesystem;
  Destination destination;
  if (settings.out == "-") {
    return destination;
  }
  fs::path out(settings.out);
  std::error_code error;
  // A trailing '/' asks for a directory even when it does not exist yet: OutputDirectory::open
  // creates it, like mkdir -p.
  if (fs::is_directory(out, error) || settings.out.ends_with('/')) {
    auto directory = output::OutputDirectory::open(out);
    if (!directory) {
      return std::move(directory).error().with_context("--out " + settings.out);
    }
    auto name_template = output::NameTemplate::parse(settings.name_template, settings.time_zone);
    if (!name_template) {
      return std::move(name_template).error();
    }
    destination.kind = Destination::Kind::kDirectory;
    destination.directory.emplace(std::move(directory).value());
    destination.name_template.emplace(std::move(name_template).value());
    return destination;
  }
  // symlink_status: a dangling symlink at the path also counts as taken, since opening through it
  // would create a file elsewhere. The file itself is created later with O_EXCL, which closes the
  // race with another process that creates it meanwhile.
  if (fs::symlink_status(out, error).type() != fs::file_type::not_found) {
    return sys::Error::invalid("--out " + settings.out +
                               ": the file exists, and zcrecv never overwrites a file");
  }
  fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  auto directory = output::OutputDirectory::open(parent);
  if (!directory) {
    return std::move(directory).error().with_context("--out " + settings.out);
  }
  destination.kind = Destination::Kind::kFile;
  destination.directory.emplace(std::move(directory).value());
  destination.file_name = out.filename().string();
  return destination;
}

std::unique_ptr<stream::Sink> make_sink(Destination& destination,
                                        const OneShotSettings& settings,
                                        const std::string& peer_token) {
  switch (destination.kind) {
    case Destination::Kind::kStdout:
      break;
    case Destination::Kind::kFile:
      return std::make_unique<NamedFileSink>(std::move(*destination.directory),
                                             destination.file_name, settings.file_mode,
                                             settings.sync);
    case Destination::Kind::kDirectory: {
      output::RotationSettings rotation;
      rotation.max_file_size = settings.max_file_size;
      rotation.rotate_interval = settings.rotate_interval;
      rotation.file_mode = settings.file_mode;
      rotation.sync = settings.sync;
      rotation.keep_empty = settings.keep_empty;
      // {host} falls back to "localhost" rather than failing the receive: the name is decoration,
      // the bytes are what matters.
      auto host = sys::gethostname();
      // {conn} is "0": a one-shot receive has exactly one connection.
      auto sink = std::make_unique<stream::RotatingSink>(output::RotatingFile(
          *destination.directory, *destination.name_template,
          output::ConnectionNames{settings.listener_name, peer_token, "0",
                                  host ? *host : std::string("localhost"), {}},
          rotation));
      stream::RotatingSink& files = *sink;
      files.files().on_published([&files, &destination](const output::PublishedFile& file) {
        files.note_published((destination.directory->path() / file.name).string());
      });
      return sink;
    }
  }
  return std::make_unique<StdoutSink>();
}

// Why the peer at `address`, described by `peer`, may not connect: the daemon's check
// (ListenerSettings::refusal) for the one connection of --once; std::nullopt if it may.
std::optional<std::string> refusal(const OneShotSettings& settings,
                                   const net::SocketAddress& address,
                                   const net::PeerIdentity& peer) {
  // The same rules as the daemon's admission (docs/design.md §4.2), on the one connection only.
  if (address.family() == AF_UNIX) {
    if (settings.allow_uids.empty()) {
      return std::nullopt;
    }
    if (!peer.credentials) {
      return std::string("peer credentials unknown and allow_uids is set");
    }
    if (std::find(settings.allow_uids.begin(), settings.allow_uids.end(),
                  peer.credentials->uid) == settings.allow_uids.end()) {
      return "uid " + std::to_string(peer.credentials->uid) + " is not in allow_uids";
    }
    return std::nullopt;
  }
  if (settings.allow.empty() ||
      std::any_of(settings.allow.begin(), settings.allow.end(),
                  [&](const net::Cidr& network) { return network.contains(address); })) {
    return std::nullopt;
  }
  return std::string("address not in the allow list");
}

// The one-shot receive: an EventLoop that waits for the connection, then runs its Session,
// with SIGINT/SIGTERM and the progress line on the same loop.
class Receiver final : public stream::SessionOwner {
 public:
  Receiver(const OneShotSettings& settings, event::SignalFd& signals,
           std::unique_ptr<event::EventLoop> loop, Destination destination)
      : settings_(settings),
        signals_(signals),
        loop_(std::move(loop)),
        destination_(std::move(destination)),
        progress_(settings.progress),
        accept_timer_(*loop_,
                      [this] {
                        report_.end = OneShotEnd::kTimedOut;
                        report_.reason = kNoConnection;
                        loop_->stop();
                      }),
        progress_timer_(*loop_, [this] { redraw(); }) {}

  sys::Result<OneShotReport> run();

  // stream::SessionOwner
  void moved(std::uint64_t bytes, io::DataPath /*path*/) override;
  void paused(stream::SessionState state, const std::string& why, bool disk_full) override;
  void record_split(bool first) override;
  void ended(stream::EndCause /*cause*/, std::uint64_t lost) override { report_.unwritten = lost; }
  void finished() override { loop_->stop(); }

 private:
  // Calls Receiver::*on_ready when its descriptor is ready.
  class Watch final : public event::Handler {
   public:
    Watch(Receiver& receiver, void (Receiver::*on_ready)())
        : receiver_(receiver), on_ready_(on_ready) {}
    void on_event(std::uint32_t /*events*/) override { (receiver_.*on_ready_)(); }

   private:
    Receiver& receiver_;
    void (Receiver::*on_ready_)();
  };

  sys::Result<void> listen();
  sys::Result<sys::UniqueFd> take_stdin();
  void accept_ready();
  void signal_ready();
  sys::Result<void> start(sys::UniqueFd connection);
  void redraw();
  void collect();
  void log_summary() const;

  const OneShotSettings& settings_;
  event::SignalFd& signals_;
  std::unique_ptr<event::EventLoop> loop_;
  Destination destination_;
  ProgressMeter progress_;
  OneShotReport report_;
  std::chrono::steady_clock::time_point started_{};
  io::SplicePump* pump_ = nullptr;
  std::optional<net::Listener> listener_;
  std::unique_ptr<stream::Session> session_;
  std::optional<sys::Error> failure_;
  bool paused_ = false;
  Watch signal_watch_{*this, &Receiver::signal_ready};
  Watch listener_watch_{*this, &Receiver::accept_ready};
  event::Timer accept_timer_;
  event::Timer progress_timer_;
};

sys::Result<void> Receiver::listen() {
  auto listener = net::Listener::open(*settings_.listen);
  if (!listener) {
    return std::move(listener).error();
  }
  listener_.emplace(std::move(listener).value());
  spdlog::info("listening on {}", listener_->local_address().to_string());
  if (settings_.timeout.count() > 0) {
    accept_timer_.arm(settings_.timeout);
  }
  return loop_->add(listener_->fd(), EPOLLIN, listener_watch_);
}

sys::Result<sys::UniqueFd> Receiver::take_stdin() {
  // --stdin: the connection is already there; only its blocking mode is ours to set.
  if (auto made = sys::set_nonblocking(STDIN_FILENO, true); !made) {
    return std::move(made).error().with_context("standard input");
  }
  // A close-on-exec duplicate, from 3 up: the session closes its descriptor at the end, and
  // descriptor 0 must stay open, or the next file opened would take the number 0.
  auto duplicate = sys::UniqueFd(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3));
  if (!duplicate) {
    return sys::Error::from_errno(errno, "fcntl(F_DUPFD_CLOEXEC) standard input");
  }
  // getpeername fails with ENOTSOCK on a pipe or file, and with ENOTCONN on an unconnected socket:
  // either way there is no peer to answer or to peek at.
  auto peer = net::SocketAddress::peer_of(duplicate.get());
  if (!peer && settings_.receipt) {
    return std::move(peer).error().with_context(
        "--receipt: a receipt goes back on the connection, and standard input is not one");
  }
  if (!peer && !settings_.record_delimiter.empty()) {
    // Record boundaries are found by peeking at the socket (MSG_PEEK), which a pipe cannot do.
    return std::move(peer).error().with_context(
        "--record-delimiter: standard input must be a socket");
  }
  if (peer) {
    auto identity = net::identify_peer(duplicate.get(), *peer);
    report_.peer = identity.display;
    report_.peer_token = identity.file_token;
  } else {
    report_.peer = "stdin";
    report_.peer_token = "stdin";
  }
  return duplicate;
}

void Receiver::accept_ready() {
  auto accepted = listener_->accept();
  if (!accepted) {
    failure_ = std::move(accepted).error().with_context(
        "accept on " + listener_->local_address().to_string());
    loop_->stop();
    return;
  }
  if (!accepted->has_value()) {
    return;
  }
  auto& connection = **accepted;
  auto identity = net::identify_peer(connection.fd.get(), connection.peer);
  if (auto refused = refusal(settings_, connection.peer, identity)) {
    // Not the one connection: closed unread, and the next one may be.
    spdlog::warn("rejected {}: {}", identity.display, *refused);
    return;
  }
  report_.peer = identity.display;
  report_.peer_token = identity.file_token;
  accept_timer_.cancel();
  // One connection: the listener closes now, so a second sender is refused, not queued.
  (void)loop_->remove(listener_->fd());
  listener_.reset();
  if (auto started = start(std::move(connection.fd)); !started) {
    failure_ = std::move(started).error();
    loop_->stop();
  }
}

void Receiver::signal_ready() {
  auto signal_number = signals_.read_signal();
  if (!signal_number || !signal_number->has_value()) {
    return;
  }
  // With a session, a signal cuts the stream like the daemon's shutdown: the file is published as
  // .incomplete, and the receipt, if any, says so. Without one there is nothing to keep.
  if (session_) {
    session_->cut(stream::EndCause::kShutdown, "interrupted by a signal");
    return;
  }
  report_.end = OneShotEnd::kInterrupted;
  report_.reason = "interrupted by a signal";
  loop_->stop();
}

sys::Result<void> Receiver::start(sys::UniqueFd connection) {
  spdlog::info("connection from {}", report_.peer);
  started_ = std::chrono::steady_clock::now();
  progress_.start(started_);
  if (settings_.progress) {
    progress_timer_.arm(ProgressMeter::kInterval);
  }
  stream::SessionSettings session;
  session.idle_timeout = settings_.timeout;
  session.idle_cause = stream::EndCause::kTimeout;
  session.max_bytes = settings_.max_bytes;
  // --timeout bounds a full output too; without it the receive waits for space, as `nc` would.
  session.disk_full_timeout = settings_.timeout;
  session.receipt = settings_.receipt;
  if (!settings_.record_delimiter.empty()) {
    session.record_delimiter = static_cast<std::byte>(settings_.record_delimiter.front());
  }
  session.record_max = settings_.record_max;
  session_ = std::make_unique<stream::Session>(
      *loop_, *pump_, *this, session, std::move(connection),
      make_sink(destination_, settings_, report_.peer_token), settings_.copy_mode);
  return session_->start();
}

void Receiver::moved(std::uint64_t bytes, io::DataPath /*path*/) {
  report_.bytes += bytes;
  if (paused_) {
    spdlog::info("the output takes bytes again; reading resumed");
    paused_ = false;
  }
}

void Receiver::paused(stream::SessionState state, const std::string& why, bool /*disk_full*/) {
  if (state == stream::SessionState::kPausedForSpace && !paused_) {
    spdlog::warn("{}; reading paused, retrying every {} ms", why,
                 stream::Session::kSpaceRetry.count());
    paused_ = true;
  }
}

void Receiver::record_split(bool first) {
  if (first) {
    spdlog::warn("a record longer than {} bytes (record_max) is split across two files",
                 settings_.record_max);
  }
}

void Receiver::redraw() {
  progress_.update(report_.bytes, std::chrono::steady_clock::now());
  progress_timer_.arm(ProgressMeter::kInterval);
}

// The report from how the session ended.
void Receiver::collect() {
  const stream::Session& session = *session_;
  report_.bytes = session.bytes();
  report_.path = session.path();
  report_.receipt = session.receipt();
  report_.outputs = session.sink().published();
  switch (session.cause()) {
    case stream::EndCause::kEndOfStream:
      report_.end = OneShotEnd::kComplete;
      break;
    case stream::EndCause::kPeerReset:
      report_.end = OneShotEnd::kReset;
      break;
    case stream::EndCause::kByteLimit:
      report_.end = OneShotEnd::kLimitExceeded;
      break;
    case stream::EndCause::kTimeout:
    case stream::EndCause::kDiskFull:
      report_.end = OneShotEnd::kTimedOut;
      break;
    case stream::EndCause::kShutdown:
      report_.end = OneShotEnd::kInterrupted;
      break;
    case stream::EndCause::kIdleTimeout:
    case stream::EndCause::kPublishFailed:
    case stream::EndCause::kError:
      report_.end = OneShotEnd::kFailed;
      break;
  }
  // A file that failed to publish fails the receive whatever the stream's end: its bytes may not be
  // on disk, and a script must not delete its copy on exit status 0.
  if (session.publish_has_failed()) {
    report_.end = OneShotEnd::kFailed;
  }
  if (report_.end != OneShotEnd::kComplete) {
    report_.reason = session.end_reason();
  }
}

sys::Result<OneShotReport> Receiver::run() {
  auto pipe = io::Pipe::create();
  if (!pipe) {
    return std::move(pipe).error();
  }
  // The pipe and the buffer live on this frame for the whole receive: the session uses them through
  // the pump, which holds references only.
  std::vector<std::byte> buffer(kFallbackBufferSize);
  io::SplicePump pump(*pipe, buffer);
  pump_ = &pump;
  if (auto watched = loop_->add(signals_.fd(), EPOLLIN, signal_watch_); !watched) {
    return std::move(watched).error();
  }
  if (settings_.listen) {
    if (auto listening = listen(); !listening) {
      return std::move(listening).error();
    }
  } else {
    auto connection = take_stdin();
    if (!connection) {
      return std::move(connection).error();
    }
    if (auto started = start(std::move(connection).value()); !started) {
      return std::move(started).error();
    }
  }
  if (auto ran = loop_->run(); !ran) {
    return std::move(ran).error();
  }
  if (failure_) {
    return std::move(*failure_);
  }
  if (!session_) {
    spdlog::info("no stream received: {}", report_.reason);
    return report_;
  }
  collect();
  const auto finished = std::chrono::steady_clock::now();
  progress_.finish(report_.bytes, finished);
  report_.elapsed = finished - started_;
  log_summary();
  return report_;
}

void Receiver::log_summary() const {
  double seconds = sys::seconds(report_.elapsed);
  double mib_per_second =
      seconds > 0 ? static_cast<double>(report_.bytes) / seconds / (1024.0 * 1024.0) : 0.0;
  std::string into;
  for (const auto& output : report_.outputs) {
    into += (into.empty() ? "" : " … ") + output;
  }
  auto level = report_.end == OneShotEnd::kComplete ? spdlog::level::info : spdlog::level::warn;
  level = std::max(level, session_->end_level());
  spdlog::log(level, "received {} bytes in {:.3f} s ({:.1f} MiB/s) via {} from {} into {}: {}{}{}",
              report_.bytes, seconds, mib_per_second, session_->path_description(), report_.peer,
              into.empty() ? "nothing" : into, to_string(report_.end),
              report_.reason.empty() ? "" : ", ", report_.reason);
}

}  // namespace

sys::Result<OneShotReport> receive_once(const OneShotSettings& settings, event::SignalFd& signals) {
  // The output is checked before the listener opens: a refused output fails at start, before a
  // sender has begun.
  auto destination = open_destination(settings);
  if (!destination) {
    return std::move(destination).error();
  }
  auto loop = event::EventLoop::create();
  if (!loop) {
    return std::move(loop).error();
  }
  Receiver receiver(settings, signals, std::move(loop).value(), std::move(destination).value());
  return receiver.run();
}

int exit_status(OneShotEnd end) {
  switch (end) {
    case OneShotEnd::kComplete:
      return 0;
    case OneShotEnd::kTimedOut:
      return 3;
    case OneShotEnd::kReset:
    case OneShotEnd::kLimitExceeded:
    case OneShotEnd::kInterrupted:
    case OneShotEnd::kFailed:
      return 1;
  }
  return 1;
}

const char* to_string(OneShotEnd end) {
  switch (end) {
    case OneShotEnd::kComplete:
      return "complete";
    case OneShotEnd::kReset:
      return "reset by peer";
    case OneShotEnd::kLimitExceeded:
      return "cut at --max-bytes";
    case OneShotEnd::kTimedOut:
      return "timed out";
    case OneShotEnd::kInterrupted:
      return "interrupted";
    case OneShotEnd::kFailed:
      return "failed";
  }
  return "failed";
}

}  // namespace zcrecv::oneshot
