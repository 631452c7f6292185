#include "daemon/daemon.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <ctime>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config/units.hpp"
#include "daemon/connection_settings.hpp"
#include "daemon/listener_settings.hpp"
#include "log/logging.hpp"
#include "daemon/shared_listener.hpp"
#include "daemon/shared_state.hpp"
#include "daemon/space_monitor.hpp"
#include "daemon/worker.hpp"
#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "handoff/handoff_record.hpp"
#include "handoff/hook_runner.hpp"
#include "log/event.hpp"
#include "metrics/metrics_server.hpp"
#include "metrics/process_metrics.hpp"
#include "metrics/stats_exposition.hpp"
#include "net/listen_address.hpp"
#include "net/listener.hpp"
#include "output/output_directory.hpp"
#include "retention/retention.hpp"
#include "sys/quoted.hpp"
#include "sys/seconds.hpp"
#include "sys/syscalls.hpp"
#include "systemd/notifier.hpp"

namespace zcrecv::daemon {
namespace {

// A listening socket and the configuration it was opened from.
struct OpenListener {
  std::uint64_t id = 0;
  config::ListenerConfig config;
  std::shared_ptr<SharedListener> shared;
  std::shared_ptr<const ListenerSettings> settings;
};

// Whether `config` can keep `open`'s socket: same address, same socket file options. Its name
// and allow-lists may change with the socket kept.
bool same_socket(const OpenListener& open, const config::ListenerConfig& config) {
  return open.config.address.value == config.address.value && open.config.mode == config.mode &&
         open.config.owner == config.owner && open.config.group == config.group;
}

// A [[listen]] entry for an inherited socket that no entry of the configuration took.
// Fails only if the address the socket is bound to does not read back as a listen address: the
// entry must never fall back to the default address, which would bind a port nobody asked for.
sys::Result<config::ListenerConfig> inherited_entry(const systemd::InheritedSocket& socket) {
  config::ListenerConfig entry;
  const std::string address = socket.local_address.to_string();
  entry.name = config::default_listener_name(address);
  auto parsed =
      config::make_address(address, config::Origin{"socket activation (" + socket.name + ")"});
  if (!parsed) {
    return std::move(parsed).error().with_context("socket activation (" + socket.name + ")");
  }
  entry.address = std::move(*parsed);
  return entry;
}

// Each connection holds a socket and a file: the default soft limit of 1024 descriptors would
// cap the daemon at a few hundred connections.
void raise_file_limit() {
  auto limit = sys::getrlimit(RLIMIT_NOFILE);
  if (!limit) {
    spdlog::warn("{}", limit.error().message());
    return;
  }
  if (limit->rlim_cur == limit->rlim_max) {
    return;
  }
  rlimit raised = *limit;
  raised.rlim_cur = raised.rlim_max;
  if (auto set = sys::setrlimit(RLIMIT_NOFILE, raised); !set) {
    spdlog::warn("raising RLIMIT_NOFILE to {}: {}", raised.rlim_max, set.error().message());
    return;
  }
  spdlog::debug("RLIMIT_NOFILE raised from {} to {}", limit->rlim_cur, raised.rlim_max);
}

// A configuration that cannot work with what it found at start (exit status 2, as for any other
// configuration error).
constexpr int kExitConfiguration = 2;

// The output directory as an absolute path: hooks get absolute paths ({path}), whatever the
// daemon's working directory.
std::filesystem::path absolute_directory(const std::string& directory) {
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(directory, error);
  return error ? std::filesystem::path(directory) : absolute.lexically_normal();
}

// The on_publish settings of `config`; std::nullopt without a hook. With one, the output
// filesystem must take user extended attributes: hand-offs are recorded in them.
sys::Result<std::optional<handoff::HookSettings>> hook_settings(
    const config::Config& config, const output::OutputDirectory& directory) {
  const config::OutputConfig& output = config.output;
  if (output.on_publish.empty()) {
    return std::optional<handoff::HookSettings>();
  }
  std::vector<std::string> argv;
  for (const config::SourcedString& argument : output.on_publish) {
    argv.push_back(argument.value);
  }
  auto command = handoff::HookCommand::parse(argv);
  if (!command) {
    return std::move(command).error();
  }
  if (auto supported = handoff::check_user_xattrs(directory.fd()); !supported) {
    return sys::Error::invalid(
        "output.on_publish: hand-offs are recorded in a user extended attribute of each file, "
        "and the output directory \"" +
        directory.path().string() + "\" cannot take one (" + supported.error().message() +
        "); ext4, xfs, btrfs and tmpfs from Linux 6.6 on can");
  }
  return std::optional<handoff::HookSettings>(handoff::HookSettings{
      std::move(*command), output.on_publish_concurrency, output.on_publish_timeout,
      output.on_publish_done == config::OnPublishDone::kRemove ? handoff::DoneAction::kRemove
                                                               : handoff::DoneAction::kKeep});
}

// What the hand-off settings are, for the log.
std::string describe_hooks(const config::OutputConfig& output) {
  if (output.on_publish.empty()) {
    return "on_publish: off";
  }
  std::string argv;
  for (const config::SourcedString& argument : output.on_publish) {
    argv += (argv.empty() ? "" : " ") + sys::quoted(argument.value);
  }
  return "on_publish: " + argv + " (" + std::to_string(output.on_publish_concurrency) +
         " at once, timeout " + config::format_duration(output.on_publish_timeout) + ", then " +
         std::string(config::to_string(output.on_publish_done)) + ")";
}

retention::RetentionLimits retention_limits(const config::RetentionConfig& config) {
  return retention::RetentionLimits{config.max_bytes, config.max_files, config.max_age};
}

// What the retention settings are, for the log.
std::string describe_retention(const config::RetentionConfig& retention) {
  if (!retention.enabled()) {
    return "retention: off";
  }
  return fmt::format("retention: max_bytes {}, max_files {}, max_age {}, checked every {}",
                     config::format_size(retention.max_bytes), retention.max_files,
                     config::format_duration(retention.max_age),
                     config::format_duration(retention.check_interval));
}

bool same_hooks(const config::OutputConfig& left, const config::OutputConfig& right) {
  return left.on_publish == right.on_publish &&
         left.on_publish_concurrency == right.on_publish_concurrency &&
         left.on_publish_timeout == right.on_publish_timeout &&
         left.on_publish_done == right.on_publish_done;
}

// How long publishing the files of cut connections may take at the end of a stop, on top of
// shutdown_timeout, in the time asked of the service manager.
constexpr std::chrono::seconds kPublishMargin{5};

// How often `systemctl status` gets fresh figures.
constexpr std::chrono::seconds kStatusInterval{5};

// Where [metrics] listen says the endpoint goes; std::nullopt for no endpoint.
std::optional<net::ListenAddress> metrics_address(const config::MetricsConfig& config) {
  return config.listen ? std::optional(config.listen->value) : std::nullopt;
}

// What a configuration asks of the daemon, made ready against what runs. Everything that can
// fail is done while making it (the directory opened, the hooks checked, new listeners and a
// moved metrics endpoint opened, the workers created at start), so that committing it cannot
// fail and a reload that fails changes nothing. Start is the plan applied to nothing.
struct Plan {
  config::Config config;
  std::shared_ptr<output::OutputDirectory> directory;
  std::optional<handoff::HookSettings> hooks;
  std::shared_ptr<const ConnectionSettings> settings;
  std::vector<OpenListener> listeners;
  // Per entry of `listeners`: opened for this plan, else kept from what runs.
  std::vector<bool> opened;
  // Per listener that runs: kept by this plan, else closed.
  std::vector<bool> kept;
  // Entries made for sockets the service manager passed that no [[listen]] entry took.
  std::vector<config::ListenerConfig> inherited;
  // The endpoint to serve from now on (null: none); std::nullopt: it stays as it is.
  std::optional<std::unique_ptr<metrics::MetricsServer>> metrics;
  // At start, the workers, created with `settings`; at a reload none: they take the settings.
  std::vector<std::unique_ptr<Worker>> workers;
};

// The daemon's main thread: owns the listeners, the workers and the signalfd, and runs an
// EventLoop of its own in which signals arrive and workers report their exit.
class Daemon final : public event::Handler {
 public:
  Daemon(event::SignalFd& signals, ReloadFunction reload, DaemonOptions options,
         const DaemonHooks& hooks)
      : signals_(signals),
        reload_(std::move(reload)),
        options_(std::move(options)),
        hooks_(hooks) {}
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon() override;

  int run(const config::Config& config);
  // The signalfd is readable.
  void on_event(std::uint32_t events) override;

 private:
  // 0, or the exit status of a failed start.
  int start(const config::Config& config);
  void start_workers();
  void handle_signal(int signal_number);
  void begin_stop();
  void reload_configuration();
  // The plan for `config` against what runs; on failure, `exit_status` is what it means at
  // start (2 for a configuration that cannot work with what the daemon found, else 1).
  sys::Result<Plan> prepare(const config::Config& config, int& exit_status);
  // Makes `plan` what runs. Fails only when retention's thread cannot start; everything else
  // is applied then too.
  sys::Result<void> commit(Plan plan);
  // A worker has taken the settings of the reload that `commit` started.
  void on_reload_applied();
  void announce(const OpenListener& listener) const;
  // Opens the metrics endpoint on `address`, served on loop_.
  sys::Result<std::unique_ptr<metrics::MetricsServer>> open_metrics(
      const net::ListenAddress& address);
  void announce_metrics() const;
  // What /health answers and zcrecv_health_state exports.
  [[nodiscard]] metrics::HealthState health() const;
  // Opens the listener `config` describes, or serves the socket the service manager passed for
  // it; its connections count into the counters of its name.
  sys::Result<OpenListener> open_listener(const config::ListenerConfig& config);
  void report_listening() const;
  void on_worker_exit(unsigned index, const sys::Result<void>& result);
  // Stops the loop once the workers have stopped and no hook runs.
  void stop_if_done();
  // Tells the service manager (sd_notify), if there is one; a failure is logged, not fatal.
  void notify(const char* what, const sys::Result<void>& sent) const;
  // `config` with the entries of inherited sockets it does not name, which stay for good.
  [[nodiscard]] config::Config with_inherited(const config::Config& config) const;

  event::SignalFd& signals_;
  ReloadFunction reload_;
  DaemonOptions options_;
  const DaemonHooks& hooks_;
  std::vector<config::ListenerConfig> inherited_entries_;
  config::Config config_;
  std::unique_ptr<event::EventLoop> loop_;
  // Measures the output directory on loop_ for the workers, /health and the metrics; after
  // loop_, so it goes first.
  std::unique_ptr<SpaceMonitor> space_;
  // The Prometheus endpoint ([metrics] listen) on loop_, or null; after loop_, so it goes first.
  std::unique_ptr<metrics::MetricsServer> metrics_;
  systemd::Notifier notifier_;
  // Sends WATCHDOG=1 when the service manager asks for it.
  std::optional<event::Timer> watchdog_;
  // Sends STATUS= (connections, bytes) for `systemctl status`, when there is a service manager.
  std::optional<event::Timer> status_;
  std::unique_ptr<SharedState> shared_;
  // Runs on_publish hooks on loop_; after shared_ (its counters) and loop_, so it goes first.
  std::unique_ptr<handoff::HookRunner> hand_off_;
  std::shared_ptr<output::OutputDirectory> directory_;
  // Deletes old published files on a thread of its own; after shared_ (its counters), before
  // the workers (whose files report to it), so that it goes after them.
  std::unique_ptr<retention::Retention> retention_;
  std::string host_;
  std::vector<OpenListener> listeners_;
  std::uint64_t next_listener_id_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  // After the workers, so that it goes first: its jobs post into their loops.
  std::unique_ptr<output::SyncStage> sync_stage_;
  std::size_t workers_stopped_ = 0;
  std::size_t listeners_released_ = 0;
  // Reloads whose settings not every worker has taken yet, oldest first: each is announced (log
  // line, READY=1) once all have, so a connection made after the announcement gets the new
  // settings. Workers take posted tasks in order, so the oldest completes first.
  struct PendingReload {
    std::size_t workers_applied = 0;
    // What the announcement says.
    std::size_t listeners = 0;
    std::size_t opened = 0;
    std::size_t closed = 0;
  };
  std::deque<PendingReload> pending_reloads_;
  bool hand_off_idle_ = false;
  bool signals_watched_ = false;
  bool stopping_ = false;
  int exit_status_ = 0;
};

Daemon::~Daemon() {
  if (signals_watched_) {
    (void)loop_->remove(signals_.fd());
  }
}

int Daemon::run(const config::Config& config) {
  if (const int status = start(config); status != 0) {
    return status;
  }
  start_workers();
  if (auto ran = loop_->run(); !ran) {
    spdlog::error("daemon: {}", ran.error().message());
    exit_status_ = 1;
    for (auto& worker : workers_) {
      worker->shut_down(std::chrono::nanoseconds(0), [] {});
    }
  }
  // Nothing serves it any more: a scraper gets a refusal rather than a connection left hanging.
  metrics_.reset();
  for (auto& worker : workers_) {
    worker->join();
  }
  // What the stopped workers left in it (early writeback of cut files) completes into their
  // loops, which are still there.
  sync_stage_.reset();
  log::event(spdlog::level::info, "stopped", {{"exit_status", exit_status_}}, "stopped");
  return exit_status_;
}

int Daemon::start(const config::Config& config) {
  raise_file_limit();
  // The zone of local-time names is read here, once (TZ, else /etc/localtime): localtime_r
  // never reads it again, so every file of the run follows the same rules.
  ::tzset();

  auto directory = output::OutputDirectory::open(absolute_directory(config.output.directory));
  if (!directory) {
    spdlog::error("{}", directory.error().message());
    return 1;
  }
  directory_ = std::make_shared<output::OutputDirectory>(std::move(*directory));
  // With hooks, a partial file whose hand-off record never reached the disk (created just
  // before a power cut; fdatasync need not write an attribute) gets one, so that its hook runs.
  std::function<sys::Result<void>(int)> mark;
  if (!config.output.on_publish.empty()) {
    mark = [](int fd) -> sys::Result<void> {
      auto record = handoff::read_record(fd);
      if (!record) {
        return std::move(record).error();
      }
      if (record->has_value()) {
        return {};
      }
      return handoff::write_record(fd, handoff::HandoffRecord{});
    };
  }
  output::Recovery recovery = directory_->recover(mark);
  for (const output::RecoveredFile& file : recovery.files) {
    const std::string cut =
        file.cut == 0 ? std::string()
                      : fmt::format("; cut {} bytes the disk never got (from the first hole on)",
                                    file.cut);
    log::event(spdlog::level::warn, "recovered",
               {{"path", file.path}, {"bytes", file.size}, {"cut", file.cut}},
               fmt::format("recovered a partial file left by an unclean stop: {} ({} bytes{})",
                           file.path, file.size, cut));
  }
  for (const sys::Error& error : recovery.errors) {
    spdlog::error("{}", error.message());
  }
  auto prefix = ConnectionIds::random_prefix();
  if (!prefix) {
    spdlog::error("{}", prefix.error().message());
    return 1;
  }
  auto stage = output::SyncStage::start(config.output.sync_threads,
                                       hooks_.sync_calls.value_or(output::SyncCalls::system()));
  if (!stage) {
    spdlog::error("{}", stage.error().message());
    return 1;
  }
  sync_stage_ = std::move(*stage);
  shared_ = std::make_unique<SharedState>(*prefix, sync_stage_.get());
  auto loop = event::EventLoop::create();
  if (!loop) {
    spdlog::error("daemon: {}", loop.error().message());
    return 1;
  }
  loop_ = std::move(*loop);
  space_ = std::make_unique<SpaceMonitor>(*loop_);
  hand_off_ = std::make_unique<handoff::HookRunner>(*loop_, shared_->stats.hooks);
  retention_ = std::make_unique<retention::Retention>(shared_->stats.retention);
  auto host = sys::gethostname();
  host_ = host ? *host : "localhost";
  auto notifier = systemd::Notifier::from_environment();
  if (notifier) {
    notifier_ = std::move(*notifier);
  } else {
    spdlog::warn("{}; not notifying the service manager", notifier.error().message());
  }

  int status = 1;
  auto plan = prepare(config, status);
  if (!plan) {
    spdlog::error("{}", plan.error().message());
    return status;
  }
  if (auto committed = commit(std::move(*plan)); !committed) {
    spdlog::error("{}", committed.error().message());
    return 1;
  }
  if (auto watched = loop_->add(signals_.fd(), EPOLLIN, *this); !watched) {
    spdlog::error("signalfd: {}", watched.error().message());
    return 1;
  }
  signals_watched_ = true;
  return 0;
}

void Daemon::start_workers() {
  for (auto& worker : workers_) {
    unsigned index = worker->index();
    worker->start([this, index](sys::Result<void> result) {
      loop_->post([this, index, result = std::move(result)] { on_worker_exit(index, result); });
    });
  }
  log::event(spdlog::level::info, "started",
             {{"workers", workers_.size()}, {"directory", directory_->path().string()}},
             fmt::format("started {} workers, output directory {}", workers_.size(),
                         directory_->path().string()));
  report_listening();
  notify("READY=1", notifier_.ready());
  if (auto interval = notifier_.watchdog_interval()) {
    watchdog_.emplace(*loop_, [this] { notify("WATCHDOG=1", notifier_.watchdog()); });
    watchdog_->arm(*interval, *interval);
  }
  if (notifier_.enabled()) {
    status_.emplace(*loop_,
                    [this] { notify("STATUS", notifier_.status(shared_->stats.summary())); });
    status_->arm(kStatusInterval, kStatusInterval);
  }
}

void Daemon::on_event(std::uint32_t /*events*/) {
  for (;;) {
    auto signal_number = signals_.read_signal();
    if (!signal_number) {
      spdlog::error("{}", signal_number.error().message());
      return;
    }
    if (!signal_number->has_value()) {
      return;
    }
    handle_signal(**signal_number);
  }
}

void Daemon::handle_signal(int signal_number) {
  switch (signal_number) {
    case SIGTERM:
    case SIGINT:
      if (!stopping_) {
        begin_stop();
        return;
      }
      spdlog::info("second stop signal: cutting every open connection and hook now");
      for (auto& worker : workers_) {
        worker->cut_all();
      }
      hand_off_->cut();
      return;
    case SIGHUP:
      reload_configuration();
      return;
    case SIGUSR1:
      log::event(spdlog::level::info, "rotate_all", {{"signal", "SIGUSR1"}},
                 "SIGUSR1: rotating every open file");
      for (auto& worker : workers_) {
        worker->rotate_all();
      }
      return;
    case SIGUSR2:
      spdlog::info("statistics: {}", shared_->stats.summary());
      return;
    default:
      spdlog::debug("signal {} ignored", signal_number);
      return;
  }
}

void Daemon::begin_stop() {
  stopping_ = true;
  // Load balancers take the daemon out while it drains; the endpoint serves until it exits.
  if (metrics_) {
    metrics_->set_stopping();
  }
  // The stop takes shutdown_timeout, plus the time to publish what was cut.
  notify("STOPPING=1", notifier_.stopping(std::chrono::duration_cast<std::chrono::microseconds>(
                           config_.limits.shutdown_timeout + kPublishMargin)));
  log::event(spdlog::level::info, "stopping",
             {{"timeout_seconds", sys::seconds(config_.limits.shutdown_timeout)},
              {"connections", shared_->stats.connections_open.load(std::memory_order_relaxed)}},
             "stopping: closing the listeners; open connections have " +
                 sys::seconds_text(config_.limits.shutdown_timeout) + " to end");
  // The workers let go of the sockets as they stop accepting; the last one closes each, so
  // the sockets are closed once every worker has said so.
  listeners_.clear();
  // No hook starts from now on: the files published meanwhile keep their pending mark for the
  // next start. Those running get the connections' time.
  hand_off_->stop(config_.limits.shutdown_timeout, [this] {
    hand_off_idle_ = true;
    stop_if_done();
  });
  for (auto& worker : workers_) {
    worker->shut_down(config_.limits.shutdown_timeout, [this] {
      loop_->post([this] {
        if (++listeners_released_ == workers_.size()) {
          const std::uint64_t open = shared_->stats.connections_open.load(std::memory_order_relaxed);
          log::event(spdlog::level::info, "listeners_closed", {{"connections", open}},
                     fmt::format("stopping: listeners closed, {} connections still open", open));
        }
      });
    });
  }
}

void Daemon::reload_configuration() {
  if (stopping_) {
    spdlog::info("SIGHUP ignored: stopping");
    return;
  }
  // RELOADING=1 then READY=1 whatever the outcome: the manager waits for both.
  notify("RELOADING=1", notifier_.reloading());
  if (!reload_) {
    spdlog::info("SIGHUP: no configuration file, nothing to reload");
    notify("READY=1", notifier_.ready());
    return;
  }
  auto loaded = reload_();
  int status = 1;
  sys::Result<Plan> plan =
      loaded ? prepare(with_inherited(*loaded), status) : sys::Result<Plan>(loaded.error());
  if (plan) {
    if (auto committed = commit(std::move(*plan)); !committed) {
      spdlog::error("{}; files are not deleted until a reload starts it",
                    committed.error().message());
    }
    // READY=1 follows once every worker has the new settings (on_reload_applied).
    return;
  }
  log::event(spdlog::level::err, "reload_failed", {{"error", plan.error().message()}},
             "reload failed, keeping the old configuration:");
  std::istringstream lines(plan.error().message());
  for (std::string line; std::getline(lines, line);) {
    spdlog::error("  {}", line);
  }
  notify("READY=1", notifier_.ready());
}

sys::Result<Plan> Daemon::prepare(const config::Config& config, int& exit_status) {
  Plan plan;
  plan.config = config;
  plan.directory = directory_;
  // A directory removed and created again is opened anew on reload: without that, files would
  // keep going to the removed one. (Not automatically: after an unmount the path names the
  // mount point's own directory, where writing would fill the wrong filesystem.) At start it is
  // open already: recovery ran in it before anything else.
  const std::filesystem::path path = absolute_directory(config.output.directory);
  if (path != directory_->path() || !directory_->is_current()) {
    auto opened = output::OutputDirectory::open(path);
    if (!opened) {
      return std::move(opened).error();
    }
    plan.directory = std::make_shared<output::OutputDirectory>(std::move(*opened));
  }
  auto hooks = hook_settings(config, *plan.directory);
  if (!hooks) {
    exit_status = kExitConfiguration;
    return std::move(hooks).error();
  }
  plan.hooks = std::move(*hooks);
  auto settings = make_connection_settings(config, plan.directory, host_, options_.copy_mode,
                                           plan.hooks ? hand_off_.get() : nullptr,
                                           retention_->observer(plan.directory));
  if (!settings) {
    return std::move(settings).error();
  }
  plan.settings = std::move(*settings);

  plan.kept.assign(listeners_.size(), false);
  for (const config::ListenerConfig& entry : config.listeners) {
    auto same = std::find_if(listeners_.begin(), listeners_.end(), [&](const OpenListener& open) {
      return !plan.kept[static_cast<std::size_t>(&open - listeners_.data())] &&
             same_socket(open, entry);
    });
    if (same != listeners_.end()) {
      plan.kept[static_cast<std::size_t>(same - listeners_.begin())] = true;
      plan.listeners.push_back(OpenListener{
          same->id, entry, same->shared,
          make_listener_settings(entry, shared_->stats.listeners.find_or_make(entry.name))});
      plan.opened.push_back(false);
      continue;
    }
    auto opened = open_listener(entry);
    if (!opened) {
      return std::move(opened).error();
    }
    plan.listeners.push_back(std::move(*opened));
    plan.opened.push_back(true);
  }
  // A socket the service manager passed is served even when no entry names it: the manager
  // accepts connections on it whatever the configuration says. (At start: by the first reload
  // every inherited socket has been taken.)
  while (!options_.inherited.empty()) {
    auto made = inherited_entry(options_.inherited.sockets().front());
    if (!made) {
      return std::move(made).error();
    }
    config::ListenerConfig entry = std::move(*made);
    spdlog::warn(
        "the socket {} passed by the service manager matches no [[listen]] entry; "
        "serving it as listener {}",
        entry.address.text, entry.name);
    auto opened = open_listener(entry);
    if (!opened) {
      return std::move(opened).error();
    }
    plan.listeners.push_back(std::move(*opened));
    plan.opened.push_back(true);
    plan.config.listeners.push_back(entry);
    plan.inherited.push_back(std::move(entry));
  }

  // The metrics endpoint moves by opening the new one first: if it cannot open, the old one
  // stays with everything else.
  if (metrics_address(config_.metrics) != metrics_address(config.metrics)) {
    plan.metrics.emplace();
    if (config.metrics.listen) {
      auto opened = open_metrics(config.metrics.listen->value);
      if (!opened) {
        return std::move(opened).error();
      }
      *plan.metrics = std::move(*opened);
    }
  }

  if (workers_.empty()) {
    unsigned count = config.workers != 0 ? config.workers : std::thread::hardware_concurrency();
    count = std::max(count, 1U);
    for (unsigned index = 0; index < count; ++index) {
      auto worker = Worker::create(index, *shared_, plan.settings);
      if (!worker) {
        return std::move(worker).error();
      }
      plan.workers.push_back(std::move(*worker));
    }
  }
  return plan;
}

sys::Result<void> Daemon::commit(Plan plan) {
  const bool starting = !plan.workers.empty();
  if (starting) {
    workers_ = std::move(plan.workers);
  }
  // Measured before any connection is read, and warned about first if it cannot take data: the
  // warning comes before the listeners and the endpoint are announced.
  space_->watch(plan.directory, plan.config.limits.min_free_space);
  std::size_t closed = 0;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    if (!plan.kept[i]) {
      ++closed;
      const std::string address = listeners_[i].shared->listener.local_address().to_string();
      log::event(spdlog::level::info, "listener_closed",
                 {{"address", address}, {"listener", listeners_[i].config.name}},
                 fmt::format("closing listener {} ({}); its connections carry on", address,
                             listeners_[i].config.name));
      for (auto& worker : workers_) {
        worker->remove_listener(listeners_[i].id);
      }
    }
  }
  std::size_t opened = 0;
  for (std::size_t i = 0; i < plan.listeners.size(); ++i) {
    const OpenListener& listener = plan.listeners[i];
    for (auto& worker : workers_) {
      if (plan.opened[i]) {
        worker->add_listener(listener.id, listener.shared, listener.settings);
      } else {
        worker->update_listener(listener.id, listener.settings);
      }
    }
    if (plan.opened[i]) {
      ++opened;
      announce(listener);
    }
  }
  if (!starting) {
    // The workers created at start have these settings already.
    for (auto& worker : workers_) {
      worker->set_connection_settings(plan.settings, [this] {
        loop_->post([this] { on_reload_applied(); });
      });
    }
    if (plan.config.workers != config_.workers) {
      spdlog::warn("workers: the new value {} takes effect at the next start",
                   plan.config.workers);
    }
    if (plan.config.output.sync_threads != config_.output.sync_threads) {
      spdlog::warn("output.sync_threads: the new value {} takes effect at the next start",
                   plan.config.output.sync_threads);
    }
    if (plan.config.log_format != config_.log_format) {
      spdlog::warn("log_format: the new value {} takes effect at the next start",
                   config::to_string(plan.config.log_format));
    }
  }
  log::set_log_level(plan.config.log_level);
  if (starting ? !plan.config.output.on_publish.empty()
               : !same_hooks(plan.config.output, config_.output)) {
    spdlog::info("{}{}", describe_hooks(plan.config.output),
                 starting ? "" : "; applies to the hooks started from now on");
  }
  // Hooks start once the loop runs; at start, the walk for files left pending starts now, off
  // the loop.
  hand_off_->configure(std::move(plan.hooks), plan.directory);
  if (starting ? plan.config.retention.enabled() : plan.config.retention != config_.retention) {
    spdlog::info("{}", describe_retention(plan.config.retention));
  }
  // Its walk starts now, on its own thread.
  sys::Result<void> retained =
      retention_->configure(plan.directory, retention_limits(plan.config.retention),
                            plan.config.retention.check_interval);
  for (const OpenListener& listener : plan.listeners) {
    shared_->stats.listeners.add(listener.settings->stats);
  }
  if (plan.metrics) {
    if (metrics_) {
      spdlog::info("metrics endpoint {} closed", metrics_->listener().local_address().to_string());
    }
    metrics_ = std::move(*plan.metrics);
    announce_metrics();
  }
  listeners_ = std::move(plan.listeners);
  directory_ = std::move(plan.directory);
  inherited_entries_.insert(inherited_entries_.end(), plan.inherited.begin(),
                            plan.inherited.end());
  config_ = std::move(plan.config);
  if (!starting) {
    pending_reloads_.push_back(PendingReload{0, listeners_.size(), opened, closed});
  }
  return retained;
}

void Daemon::on_reload_applied() {
  PendingReload& oldest = pending_reloads_.front();
  if (++oldest.workers_applied < workers_.size()) {
    return;
  }
  log::event(spdlog::level::info, "reloaded",
             {{"listeners", oldest.listeners}, {"opened", oldest.opened}, {"closed", oldest.closed}},
             fmt::format("configuration reloaded: {} listeners ({} opened, {} closed); new "
                         "settings apply to connections accepted from now on",
                         oldest.listeners, oldest.opened, oldest.closed));
  pending_reloads_.pop_front();
  report_listening();
  if (!stopping_) {
    notify("READY=1", notifier_.ready());
  }
}

void Daemon::announce(const OpenListener& listener) const {
  const std::string address = listener.shared->listener.local_address().to_string();
  log::event(spdlog::level::info, "listening",
             {{"address", address}, {"listener", listener.config.name}},
             fmt::format("listening on {} ({})", address, listener.config.name));
}

sys::Result<std::unique_ptr<metrics::MetricsServer>> Daemon::open_metrics(
    const net::ListenAddress& address) {
  auto server = metrics::MetricsServer::open(*loop_, address, [this] {
    return metrics::expose(shared_->stats, health(), space_->health(),
                           metrics::ProcessMetrics::read());
  });
  if (server) {
    // "stopping" is the server's own (set_stopping); the disk's state is read, never measured.
    (*server)->set_health([this]() -> std::optional<std::string> {
      const metrics::DirectoryHealth& directory = space_->health();
      if (!directory.problem) {
        return std::nullopt;
      }
      return std::string(to_string(metrics::HealthState::kDiskFull)) + " " + directory.path + ": " +
             *directory.problem;
    });
  }
  return server;
}

metrics::HealthState Daemon::health() const {
  if (stopping_) {
    return metrics::HealthState::kStopping;
  }
  return space_->health().problem ? metrics::HealthState::kDiskFull : metrics::HealthState::kOk;
}

void Daemon::announce_metrics() const {
  if (metrics_) {
    const std::string address = metrics_->listener().local_address().to_string();
    log::event(spdlog::level::info, "metrics_listening", {{"address", address}},
               fmt::format("metrics listening on {}", address));
  }
}

sys::Result<OpenListener> Daemon::open_listener(const config::ListenerConfig& config) {
  const net::ListenAddress& address = config.address.value;
  auto taken = options_.inherited.take(config.name, address);
  if (!taken) {
    return std::move(taken).error();
  }
  if (taken->has_value()) {
    spdlog::info("listener {}: using the socket passed by the service manager ({}, fd {})",
                 config.name, (*taken)->name, (*taken)->fd.get());
  }
  net::ListenerOptions options;
  options.mode = config.mode;
  options.owner = config.owner;
  options.group = config.group;
  auto listener = taken->has_value() ? net::Listener::adopt(std::move((*taken)->fd), address)
                                     : net::Listener::open(address, options);
  if (!listener) {
    return std::move(listener).error();
  }
  return OpenListener{
      next_listener_id_++, config, std::make_shared<SharedListener>(std::move(*listener)),
      make_listener_settings(config, shared_->stats.listeners.find_or_make(config.name))};
}

void Daemon::report_listening() const {
  if (!hooks_.on_listening) {
    return;
  }
  std::vector<net::SocketAddress> addresses;
  addresses.reserve(listeners_.size());
  for (const OpenListener& listener : listeners_) {
    addresses.push_back(listener.shared->listener.local_address());
  }
  hooks_.on_listening(addresses);
}

void Daemon::on_worker_exit(unsigned index, const sys::Result<void>& result) {
  if (!result) {
    spdlog::error("worker {}: {}", index, result.error().message());
    exit_status_ = 1;
    if (!stopping_) {
      begin_stop();
    }
  }
  if (++workers_stopped_ == workers_.size()) {
    stop_if_done();
  }
}

void Daemon::stop_if_done() {
  if (workers_stopped_ == workers_.size() && hand_off_idle_) {
    loop_->stop();
  }
}

config::Config Daemon::with_inherited(const config::Config& config) const {
  config::Config full = config;
  full.listeners.insert(full.listeners.end(), inherited_entries_.begin(), inherited_entries_.end());
  return full;
}

void Daemon::notify(const char* what, const sys::Result<void>& sent) const {
  if (!sent) {
    spdlog::warn("notifying the service manager ({}): {}", what, sent.error().message());
  }
}

}  // namespace

int run_daemon(const config::Config& config, event::SignalFd& signals, ReloadFunction reload,
               DaemonOptions options, const DaemonHooks& hooks) {
  Daemon daemon(signals, std::move(reload), std::move(options), hooks);
  return daemon.run(config);
}

}  // namespace zcrecv::daemon
