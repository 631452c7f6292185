#include "oneshot/one_shot.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "io/pipe.hpp"
#include "io/splice_pump.hpp"
#include "net/listener.hpp"
#include "net/peer_identity.hpp"
#include "net/receipt.hpp"
#include "net/socket_address.hpp"
#include "oneshot/progress_meter.hpp"
#include "output/name_template.hpp"
#include "output/output_faults.hpp"
#include "output/rotating_file.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::oneshot {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();
constexpr std::size_t kFallbackBufferSize = std::size_t{256} << 10;
constexpr const char* kStalled = "the stream stalled for --timeout";
constexpr const char* kOutputStalled = "the output took no byte for --timeout";

// Where the bytes of the one stream go: standard output, one file, or a rotating sequence of
// files in a directory. The receive loop sees only this.
class Destination {
 public:
  virtual ~Destination() = default;
  /// Called once the connection is accepted, before sink(): its peer, for file names.
  virtual void bind_peer(const std::string& /*peer_token*/) {}
  /// The descriptor to move bytes into now, opening a file if needed.
  virtual sys::Result<int> sink() = 0;
  /// Bytes the current file may still take before a rotation.
  [[nodiscard]] virtual std::uint64_t room() const { return kUnlimited; }
  virtual void add_written(std::uint64_t /*bytes*/) {}
  [[nodiscard]] virtual std::optional<std::chrono::system_clock::time_point> rotation_deadline()
      const {
    return std::nullopt;
  }
  virtual sys::Result<void> rotate() { return {}; }
  /// Publishes what was written and returns the names it got.
  virtual sys::Result<std::vector<std::string>> finish(output::Completion completion) = 0;
};

class StdoutDestination final : public Destination {
 public:
  sys::Result<int> sink() override { return STDOUT_FILENO; }
  sys::Result<std::vector<std::string>> finish(output::Completion /*completion*/) override {
    return std::vector<std::string>{"stdout"};
  }
};

// One named file, written as .NAME.part beside it and renamed when the stream ends.
class FileDestination final : public Destination {
 public:
  FileDestination(output::OutputDirectory directory, std::string name, mode_t mode,
                  output::SyncMode sync)
      : directory_(std::move(directory)), name_(std::move(name)), mode_(mode), sync_(sync) {}

  sys::Result<int> sink() override {
    if (!file_) {
      auto created = directory_.create(name_, mode_);
      if (!created) {
        return std::move(created).error();
      }
      file_.emplace(std::move(created).value());
    }
    return file_->fd();
  }

  void add_written(std::uint64_t bytes) override {
    if (file_) {
      file_->add_written(bytes);
    }
  }

  sys::Result<std::vector<std::string>> finish(output::Completion completion) override {
    // A stream that sent nothing still leaves its (empty) file, as `nc -l > file` would.
    if (auto opened = sink(); !opened) {
      return std::move(opened).error();
    }
    auto published = directory_.publish(std::move(*file_), completion, sync_);
    if (!published) {
      return std::move(published).error();
    }
    return std::vector<std::string>{(directory_.path() / *published).string()};
  }

 private:
  output::OutputDirectory directory_;
  std::string name_;
  mode_t mode_;
  output::SyncMode sync_;
  std::optional<output::PartialFile> file_;
};

// A directory: the daemon's rotating file sequence, for one connection.
class DirectoryDestination final : public Destination {
 public:
  DirectoryDestination(output::OutputDirectory directory, output::NameTemplate name_template,
                       const OneShotSettings& settings)
      : directory_(std::move(directory)),
        name_template_(std::move(name_template)),
        settings_(settings) {}

  void bind_peer(const std::string& peer_token) override {
    output::ConnectionNames names{settings_.listener_name, peer_token, "0", host_name(), {}};
    output::RotationSettings rotation;
    rotation.max_file_size = settings_.max_file_size;
    rotation.rotate_interval = settings_.rotate_interval;
    rotation.file_mode = settings_.file_mode;
    rotation.sync = settings_.sync;
    rotation.keep_empty = settings_.keep_empty;
    files_.emplace(directory_, name_template_, std::move(names), rotation);
    files_->on_published([this](const output::PublishedFile& file) {
      published_.push_back((directory_.path() / file.name).string());
    });
  }
  sys::Result<int> sink() override { return files_->sink(); }
  [[nodiscard]] std::uint64_t room() const override { return files_->room(); }
  void add_written(std::uint64_t bytes) override { files_->add_written(bytes); }
  [[nodiscard]] std::optional<std::chrono::system_clock::time_point> rotation_deadline()
      const override {
    return files_->rotation_deadline();
  }
  sys::Result<void> rotate() override { return files_->rotate(); }
  sys::Result<std::vector<std::string>> finish(output::Completion completion) override {
    auto finished = files_->finish(completion);
    if (!finished) {
      return std::move(finished).error();
    }
    return published_;
  }

 private:
  static std::string host_name() {
    std::array<char, 256> name{};
    if (::gethostname(name.data(), name.size() - 1) != 0) {
      return "localhost";
    }
    return name.data();
  }

  output::OutputDirectory directory_;
  output::NameTemplate name_template_;
  const OneShotSettings& settings_;
  std::optional<output::RotatingFile> files_;
  std::vector<std::string> published_;
};

// Picks the destination for `--out` before anything is accepted, so that a refused output fails
// at start rather than after the sender has begun.
sys::Result<std::unique_ptr<Destination>> open_destination(const OneShotSettings& settings) {
  namespace fs = std::filesystem;
  if (settings.out == "-") {
    return std::unique_ptr<Destination>(std::make_unique<StdoutDestination>());
  }
  fs::path out(settings.out);
  std::error_code error;
  bool is_directory = fs::is_directory(out, error) || settings.out.ends_with('/');
  if (is_directory) {
    auto directory = output::OutputDirectory::open(out);
    if (!directory) {
      return std::move(directory).error().with_context("--out " + settings.out);
    }
    auto name_template = output::NameTemplate::parse(settings.name_template);
    if (!name_template) {
      return std::move(name_template).error();
    }
    return std::unique_ptr<Destination>(std::make_unique<DirectoryDestination>(
        std::move(directory).value(), std::move(name_template).value(), settings));
  }
  if (fs::symlink_status(out, error).type() != fs::file_type::not_found) {
    return sys::Error::invalid("--out " + settings.out +
                               ": the file exists, and zcrecv never overwrites a file");
  }
  fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  auto directory = output::OutputDirectory::open(parent);
  if (!directory) {
    return std::move(directory).error().with_context("--out " + settings.out);
  }
  return std::unique_ptr<Destination>(std::make_unique<FileDestination>(
      std::move(directory).value(), out.filename().string(), settings.file_mode, settings.sync));
}

// The single connection's receive loop.
class Receiver {
 public:
  Receiver(const OneShotSettings& settings, event::SignalFd& signals)
      : settings_(settings), signals_(signals), progress_(settings.progress) {}

  sys::Result<OneShotReport> run();

 private:
  enum class Woken { kReady, kTimer, kSignal };

  sys::Result<sys::UniqueFd> accept_one();
  sys::Result<void> receive(int source, Destination& destination);
  // Waits for `events` on `fd` (none for a negative `fd`), a signal, `at_most` (if not
  // negative), or the next timed duty (stall deadline, rotation, progress redraw), whichever
  // comes first.
  sys::Result<Woken> wait_for(int fd, short events, const Destination* destination,
                              std::chrono::milliseconds at_most = std::chrono::milliseconds(-1));
  // wait_for, then ends the receive on a signal or a stall past --timeout (`stalled_reason`
  // says which wait stalled). False when the receive has ended.
  sys::Result<bool> wait_or_end(int fd, short events, const Destination* destination,
                                const char* stalled_reason,
                                std::chrono::milliseconds at_most = std::chrono::milliseconds(-1));
  sys::Result<void> end_at_limit(int source);
  // The receive loop: pumps `stream` into `destination` until the stream ends or the receive
  // does.
  sys::Result<void> pump_all(io::SplicePump& pump, io::PumpStream& stream,
                             Destination& destination);
  [[nodiscard]] bool stalled(Clock::time_point now) const {
    return settings_.timeout.count() > 0 && now - last_activity_ >= settings_.timeout;
  }
  void log_summary() const;
  // Writes the receipt for how the receive ended on `socket`; none after a reset.
  void answer(int socket, bool publish_failed);
  void end(OneShotEnd how, std::string reason) {
    report_.end = how;
    report_.reason = std::move(reason);
  }

  const OneShotSettings& settings_;
  event::SignalFd& signals_;
  ProgressMeter progress_;
  OneShotReport report_;
  Clock::time_point started_{};
  Clock::time_point last_activity_{};
};

sys::Result<Receiver::Woken> Receiver::wait_for(int fd, short events,
                                                const Destination* destination,
                                                std::chrono::milliseconds at_most) {
  auto now = Clock::now();
  auto timeout = std::chrono::milliseconds(-1);
  auto lower_to = [&](std::chrono::nanoseconds left) {
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(std::max(left, {}));
    if (timeout.count() < 0 || ms < timeout) {
      timeout = ms;
    }
  };
  if (at_most.count() >= 0) {
    lower_to(at_most);
  }
  if (settings_.timeout.count() > 0) {
    lower_to(last_activity_ + settings_.timeout - now);
  }
  if (destination != nullptr) {
    if (auto deadline = destination->rotation_deadline()) {
      lower_to(*deadline - std::chrono::system_clock::now());
    }
  }
  if (auto tick = progress_.until_next(now); tick != std::chrono::milliseconds::max()) {
    lower_to(tick);
  }
  std::array<pollfd, 2> fds{pollfd{fd, events, 0}, pollfd{signals_.fd(), POLLIN, 0}};
  auto ready = sys::poll(fds, static_cast<int>(std::min<std::int64_t>(
                                  timeout.count(), std::numeric_limits<int>::max())));
  if (!ready) {
    return std::move(ready).error();
  }
  if ((fds[1].revents & POLLIN) != 0) {
    auto signal_number = signals_.read_signal();
    if (!signal_number) {
      return std::move(signal_number).error();
    }
    if (signal_number->has_value()) {
      return Woken::kSignal;
    }
  }
  if (fds[0].revents != 0) {
    return Woken::kReady;
  }
  return Woken::kTimer;
}

sys::Result<bool> Receiver::wait_or_end(int fd, short events, const Destination* destination,
                                        const char* stalled_reason,
                                        std::chrono::milliseconds at_most) {
  auto woken = wait_for(fd, events, destination, at_most);
  if (!woken) {
    return std::move(woken).error();
  }
  if (*woken == Woken::kSignal) {
    end(OneShotEnd::kInterrupted, "interrupted by a signal");
    return false;
  }
  if (*woken == Woken::kTimer && stalled(Clock::now())) {
    end(OneShotEnd::kTimedOut, stalled_reason);
    return false;
  }
  return true;
}

// Why the peer at `address`, described by `peer`, may not connect: the daemon's check
// (ListenerSettings::refusal) for the one connection of --once; std::nullopt if it may.
std::optional<std::string> refusal(const OneShotSettings& settings,
                                   const net::SocketAddress& address,
                                   const net::PeerIdentity& peer) {
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

sys::Result<sys::UniqueFd> Receiver::accept_one() {
  if (!settings_.listen) {
    // --stdin: the connection is already there; only its blocking mode is ours to set.
    if (auto made = sys::set_nonblocking(STDIN_FILENO, true); !made) {
      return std::move(made).error().with_context("standard input");
    }
    auto duplicate = sys::UniqueFd(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3));
    if (!duplicate) {
      return sys::Error::from_errno(errno, "fcntl(F_DUPFD_CLOEXEC) standard input");
    }
    auto peer = net::SocketAddress::peer_of(duplicate.get());
    if (!peer && settings_.receipt) {
      return std::move(peer).error().with_context(
          "--receipt: a receipt goes back on the connection, and standard input is not one");
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
  auto listener = net::Listener::open(*settings_.listen);
  if (!listener) {
    return std::move(listener).error();
  }
  spdlog::info("listening on {}", listener->local_address().to_string());
  last_activity_ = Clock::now();
  for (;;) {
    auto accepted = listener->accept();
    if (!accepted) {
      return std::move(accepted).error().with_context("accept on " +
                                                      listener->local_address().to_string());
    }
    if (accepted->has_value()) {
      auto& connection = **accepted;
      auto identity = net::identify_peer(connection.fd.get(), connection.peer);
      if (auto refused = refusal(settings_, connection.peer, identity)) {
        // Not the one connection: closed unread, and the next one may be.
        spdlog::warn("rejected {}: {}", identity.display, *refused);
        continue;
      }
      report_.peer = identity.display;
      report_.peer_token = identity.file_token;
      return std::move(connection.fd);
    }
    auto waiting =
        wait_or_end(listener->fd(), POLLIN, nullptr, "no connection arrived within --timeout");
    if (!waiting) {
      return std::move(waiting).error();
    }
    if (!*waiting) {
      return sys::UniqueFd();
    }
  }
}

sys::Result<void> Receiver::end_at_limit(int source) {
  // The limit is reached exactly. Whether the stream was longer decides between complete and
  // cut, so wait for the sender's next move: its end of stream, or one byte more.
  for (;;) {
    std::array<std::byte, 1> probe{};
    auto got = sys::read(source, probe);
    if (!got) {
      if (got.error().errno_value() == ECONNRESET) {
        end(OneShotEnd::kReset, "connection reset by peer");
        return {};
      }
      return std::move(got).error().with_context("connection from " + report_.peer);
    }
    if (got->has_value()) {
      if (**got == 0) {
        end(OneShotEnd::kComplete, "");
      } else {
        end(OneShotEnd::kLimitExceeded,
            "the stream was longer than --max-bytes " + std::to_string(settings_.max_bytes));
      }
      return {};
    }
    auto waiting = wait_or_end(source, POLLIN, nullptr, kStalled);
    if (!waiting || !*waiting) {
      return waiting ? sys::Result<void>() : std::move(waiting).error();
    }
  }
}

sys::Result<void> Receiver::receive(int source, Destination& destination) {
  auto pipe = io::Pipe::create();
  if (!pipe) {
    return std::move(pipe).error();
  }
  std::vector<std::byte> buffer(kFallbackBufferSize);
  io::SplicePump pump(*pipe, buffer);
  auto first_sink = destination.sink();
  if (!first_sink) {
    return std::move(first_sink).error();
  }
  io::PumpStream stream(source, *first_sink, settings_.copy_mode);
  auto received = pump_all(pump, stream, destination);
  report_.unwritten = stream.pending();
  return received;
}

sys::Result<void> Receiver::pump_all(io::SplicePump& pump, io::PumpStream& stream,
                                     Destination& destination) {
  const int source = stream.source();
  int sink = stream.sink();
  bool fallback_logged = false;
  bool paused = false;
  // As in the daemon: the bytes the output refused wait in the stream, the sender is held back
  // by TCP, and the output is tried again until space returns or --timeout passes. False once
  // the receive has ended (a signal, the timeout).
  auto wait_for_space = [&](const sys::Error& error) -> sys::Result<bool> {
    if (!paused) {
      spdlog::warn("{}; reading paused, retrying every {} ms", error.message(),
                   output::kDiskFullRetry.count());
      paused = true;
    }
    return wait_or_end(-1, 0, &destination, kOutputStalled, output::kDiskFullRetry);
  };
  for (;;) {
    auto now = Clock::now();
    if (auto deadline = destination.rotation_deadline();
        deadline && *deadline <= std::chrono::system_clock::now()) {
      if (auto rotated = destination.rotate(); !rotated) {
        end(OneShotEnd::kFailed, rotated.error().message());
        return {};
      }
    }
    std::uint64_t limit = destination.room();
    if (settings_.max_bytes != 0) {
      limit = std::min(limit, settings_.max_bytes - report_.bytes);
      if (limit == 0) {
        return end_at_limit(source);
      }
    }
    if (limit == 0) {
      if (auto rotated = destination.rotate(); !rotated) {
        end(OneShotEnd::kFailed, rotated.error().message());
        return {};
      }
      continue;
    }
    auto next_sink = destination.sink();
    if (!next_sink && output::is_disk_full(next_sink.error())) {
      auto waiting = wait_for_space(next_sink.error());
      if (!waiting || !*waiting) {
        return waiting ? sys::Result<void>() : std::move(waiting).error();
      }
      continue;
    }
    if (!next_sink) {
      end(OneShotEnd::kFailed, next_sink.error().message());
      return {};
    }
    if (*next_sink != sink) {
      sink = *next_sink;
      stream.set_sink(sink);
    }
    auto pumped = pump.pump(stream, static_cast<std::size_t>(limit));
    // Count from the stream, not from the call: a call that failed may have moved bytes first.
    std::uint64_t moved = stream.bytes() - report_.bytes;
    if (moved > 0) {
      destination.add_written(moved);
      report_.bytes += moved;
      last_activity_ = now;
      if (paused) {
        spdlog::info("the output takes bytes again; reading resumed");
        paused = false;
      }
    }
    report_.path = stream.path();
    if (!fallback_logged && stream.fallback_reason()) {
      spdlog::warn("{}", *stream.fallback_reason());
      fallback_logged = true;
    }
    progress_.update(report_.bytes, Clock::now());
    if (!pumped) {
      const auto& error = pumped.error();
      if (output::is_disk_full(error)) {
        auto waiting = wait_for_space(error);
        if (!waiting || !*waiting) {
          return waiting ? sys::Result<void>() : std::move(waiting).error();
        }
        continue;
      }
      if (error.errno_value() == ECONNRESET) {
        end(OneShotEnd::kReset, "connection reset by peer");
      } else {
        end(OneShotEnd::kFailed, error.message());
      }
      return {};
    }
    short wait_events = 0;
    int wait_fd = source;
    switch (pumped->status) {
      case io::PumpStatus::kEndOfStream:
        end(OneShotEnd::kComplete, "");
        return {};
      case io::PumpStatus::kLimit:
        continue;
      case io::PumpStatus::kWouldBlock:
        wait_events = POLLIN;
        break;
      case io::PumpStatus::kSinkFull:
        wait_fd = sink;
        wait_events = POLLOUT;
        break;
    }
    auto waiting = wait_or_end(wait_fd, wait_events, &destination, kStalled);
    if (!waiting || !*waiting) {
      return waiting ? sys::Result<void>() : std::move(waiting).error();
    }
  }
}

sys::Result<OneShotReport> Receiver::run() {
  // The destination is opened before the listener: a refused output fails at start, before a
  // sender has begun.
  auto destination = open_destination(settings_);
  if (!destination) {
    return std::move(destination).error();
  }
  auto connection = accept_one();
  if (!connection) {
    return std::move(connection).error();
  }
  if (!connection->valid()) {
    spdlog::info("no stream received: {}", report_.reason);
    return report_;
  }
  spdlog::info("connection from {}", report_.peer);
  started_ = Clock::now();
  last_activity_ = started_;
  progress_.start(started_);
  (*destination)->bind_peer(report_.peer_token);
  if (auto received = receive(connection->get(), **destination); !received) {
    end(OneShotEnd::kFailed, received.error().message());
  }
  if (!settings_.receipt) {
    // Closing the socket now, before the files are synced and renamed, tells the sender at
    // once. A receipt waits for them.
    connection->reset();
  }
  auto completion = report_.end == OneShotEnd::kComplete ? output::Completion::kComplete
                                                         : output::Completion::kIncomplete;
  auto published = (*destination)->finish(completion);
  bool publish_failed = false;
  if (published) {
    report_.outputs = std::move(published).value();
  } else {
    end(OneShotEnd::kFailed, published.error().message());
    publish_failed = true;
  }
  if (settings_.receipt) {
    answer(connection->get(), publish_failed);
  }
  auto finished = Clock::now();
  progress_.finish(report_.bytes, finished);
  report_.elapsed = finished - started_;
  log_summary();
  return report_;
}

void Receiver::answer(int socket, bool publish_failed) {
  const char* reason = nullptr;
  switch (report_.end) {
    case OneShotEnd::kComplete:
      break;
    case OneShotEnd::kReset:
      // Nothing can reach a peer that reset the connection.
      return;
    case OneShotEnd::kLimitExceeded:
      reason = "max_connection_bytes";
      break;
    case OneShotEnd::kTimedOut:
      reason = "timeout";
      break;
    case OneShotEnd::kInterrupted:
      reason = "shutdown";
      break;
    case OneShotEnd::kFailed:
      reason = publish_failed ? "publish_failed" : "error";
      break;
  }
  const std::string line = reason == nullptr ? net::receipt_ok(report_.bytes)
                                             : net::receipt_err(report_.bytes, reason);
  report_.receipt = line.substr(0, line.size() - 1);
  if (auto sent = net::send_receipt(socket, line); !sent) {
    spdlog::debug("{} not delivered: {}", report_.receipt, sent.error().message());
    report_.receipt += " (not delivered)";
    return;
  }
  (void)sys::shutdown(socket, SHUT_WR);
}

void Receiver::log_summary() const {
  double seconds = std::chrono::duration<double>(report_.elapsed).count();
  double mib_per_second =
      seconds > 0 ? static_cast<double>(report_.bytes) / seconds / (1024.0 * 1024.0) : 0.0;
  std::string into;
  for (const auto& output : report_.outputs) {
    into += (into.empty() ? "" : ", ") + output;
  }
  auto level = report_.end == OneShotEnd::kComplete ? spdlog::level::info : spdlog::level::warn;
  std::string lost;
  if (report_.unwritten > 0) {
    level = spdlog::level::err;
    lost = "; " + std::to_string(report_.unwritten) + " bytes received but never written";
  }
  spdlog::log(level,
              "received {} bytes in {:.3f} s ({:.1f} MiB/s) via {} from {} into {}: {}{}{}{}{}{}",
              report_.bytes, seconds, mib_per_second, io::to_string(report_.path), report_.peer,
              into.empty() ? "nothing" : into, to_string(report_.end),
              report_.reason.empty() ? "" : ", ", report_.reason, lost,
              report_.receipt.empty() ? "" : "; receipt ", report_.receipt);
}

}  // namespace

sys::Result<OneShotReport> receive_once(const OneShotSettings& settings, event::SignalFd& signals) {
  Receiver receiver(settings, signals);
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
