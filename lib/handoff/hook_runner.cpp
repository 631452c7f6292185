#include "handoff/hook_runner.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <utility>

#include "handoff/backoff.hpp"
#include "log/event.hpp"
#include "sys/seconds.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::handoff {
namespace {

// Names come from the daemon's own template, but the tree is open to others: never leave it,
// never follow a link planted in it.
constexpr std::uint64_t kResolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;

constexpr std::string_view kIncompleteSuffix = ".incomplete";

}  // namespace

HookRunner::HookRunner(event::EventLoop& loop, HookStats& stats, std::size_t max_backlog)
    : loop_(loop), stats_(stats), max_backlog_(max_backlog), stop_timer_(loop, [this] { cut(); }) {}

HookRunner::~HookRunner() {
  scan_.reset();
  // Each running hook's process is killed and reaped as its entry goes.
  ready_.clear();
  entries_.clear();
}

void HookRunner::configure(std::optional<HookSettings> settings,
                           std::shared_ptr<output::OutputDirectory> directory) {
  const bool was_enabled = settings_.has_value();
  const bool moved = directory_ != directory;
  settings_ = std::move(settings);
  directory_ = std::move(directory);
  if (!settings_) {
    // Running hooks finish; the rest stay pending on disk for the next time hand-off is on.
    ready_.clear();
    std::erase_if(entries_, [](const auto& item) { return item.second->state != State::kRunning; });
    overflowed_ = false;
    walk_due_ = false;
    update_backlog();
    return;
  }
  // Files published while hooks were off, or under another output directory, are pending on disk
  // only: a walk takes them in.
  walk_due_ = walk_due_ || !was_enabled || moved;
  start_ready();
}

void HookRunner::published(std::shared_ptr<output::OutputDirectory> directory, std::string name) {
  // Called from sync-stage threads and workers: everything the runner holds lives on the main loop,
  // so the name is posted there and the caller never waits for a hook (docs/design.md §4.9).
  loop_.post([this, directory = std::move(directory), name = std::move(name)]() mutable {
    add(std::move(directory), std::move(name));
    start_ready();
  });
}

void HookRunner::stop(std::chrono::nanoseconds deadline, std::function<void()> idle) {
  stopping_ = true;
  idle_ = std::move(idle);
  scan_.reset();
  scanning_ = false;
  ready_.clear();
  std::erase_if(entries_, [](const auto& item) { return item.second->state != State::kRunning; });
  update_backlog();
  if (running_ > 0) {
    spdlog::info("stopping: {} hooks running; they have {} to end", running_,
                 sys::seconds_text(deadline));
    stop_timer_.arm(deadline);
  }
  check_idle();
}

void HookRunner::cut() {
  for (auto& [key, entry] : entries_) {
    if (entry->process) {
      entry->process->terminate();
    }
  }
}

void HookRunner::add(std::shared_ptr<output::OutputDirectory> directory, std::string name) {
  if (!settings_ || stopping_) {
    return;
  }
  // Keyed by full path: the same file announced twice (published, then found again by a walk) is
  // held once, and its hook runs once per attempt.
  std::string key = (directory->path() / name).string();
  if (entries_.contains(key)) {
    return;
  }
  // Beyond the bound the name is dropped from memory, not from disk: the file keeps its pending
  // record, and a walk takes it in once the backlog is down to half (maybe_walk).
  if (entries_.size() >= max_backlog_) {
    if (!overflowed_) {
      spdlog::info(
          "on_publish: {} files held for their hooks; the next ones stay pending on disk until "
          "a walk of the output directory takes them in",
          max_backlog_);
    }
    overflowed_ = true;
    return;
  }
  auto entry = std::make_unique<Entry>(*this, key, std::move(directory), std::move(name));
  ready_.push_back(entry.get());
  entries_.emplace(std::move(key), std::move(entry));
  update_backlog();
}

void HookRunner::start_ready() {
  while (settings_ && !stopping_ && running_ < settings_->concurrency && !ready_.empty()) {
    Entry* entry = ready_.front();
    ready_.pop_front();
    start(*entry);
  }
  maybe_walk();
}

void HookRunner::start(Entry& entry) {
  // Opened again rather than trusting the name: the record read through this descriptor and the
  // file the hook is given are the same file. O_NONBLOCK and O_NOCTTY make the open harmless should
  // a FIFO or a device have been put under the name.
  auto file = sys::openat2(entry.directory->fd(), entry.name.c_str(),
                           O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, kResolve);
  if (!file && file.error().errno_value() == ENOENT) {
    spdlog::debug("on_publish {}: gone before its hook ran", entry.key);
    forget(entry);
    return;
  }
  std::optional<HandoffRecord> record;
  if (file) {
    auto read = read_record(file->get());
    if (!read) {
      // Someone else's attribute, or a damaged one: retrying would not mend it. The file is left
      // as it is (a restart looks at it again).
      spdlog::warn("on_publish {}: {}; not handed off", entry.key, read.error().message());
      forget(entry);
      return;
    }
    if (!read->has_value() || (*read)->state != HandoffState::kPending) {
      spdlog::debug("on_publish {}: {}", entry.key,
                    read->has_value() ? "already handed off" : "no hand-off record");
      forget(entry);
      return;
    }
    record = std::move(*read);
  }
  stats_.started.fetch_add(1, std::memory_order_relaxed);
  if (!file) {
    fail(entry, file.error().message());
    return;
  }
  auto info = sys::fstat(file->get());
  if (!info) {
    fail(entry, info.error().message());
    return;
  }
  HookFields fields;
  fields.path = entry.key;
  fields.name = entry.name;
  // The size now, from the descriptor: the file is published and no longer written, so this is what
  // the stream stored.
  fields.bytes = static_cast<std::uint64_t>(info->st_size);
  fields.listener = record->listener;
  fields.peer = record->peer;
  fields.conn = record->conn;
  fields.seq = record->seq;
  fields.complete = !entry.name.ends_with(kIncompleteSuffix);
  auto process = HookProcess::spawn(
      loop_, settings_->command.render(fields), HookCommand::environment(fields, environ),
      HookProcess::Limits{settings_->timeout, kKillGrace},
      [this, &entry](const HookExit& exit) { finished(entry, exit); });
  if (!process) {
    fail(entry, process.error().message());
    return;
  }
  spdlog::debug("on_publish {}: started, pid {}", entry.key, (*process)->pid());
  entry.state = State::kRunning;
  // The descriptor is held while the hook runs: the done mark goes on this file, and a removal
  // checks that the name still refers to it (mark_done).
  entry.file = std::move(*file);
  entry.record = std::move(*record);
  entry.done = settings_->done;
  entry.process = std::move(*process);
  ++running_;
}

void HookRunner::finished(Entry& entry, const HookExit& exit) {
  --running_;
  // finished() runs inside the process's own handler: it is destroyed after the batch.
  loop_.defer([process = std::shared_ptr<HookProcess>(std::move(entry.process))] {});
  std::string outcome = exit.describe() + " after " + sys::seconds_text(exit.duration);
  if (!exit.last_line.empty()) {
    outcome += ": " + exit.last_line;
  }
  if (exit.succeeded()) {
    stats_.succeeded.fetch_add(1, std::memory_order_relaxed);
    // Marked first: a success in the log is a file whose hook will not run again.
    mark_done(entry);
    log::event(spdlog::level::info, "handoff_done",
               {{"path", entry.key},
                {"outcome", exit.describe()},
                {"seconds", sys::seconds(exit.duration)},
                {"last_line", exit.last_line}},
               fmt::format("on_publish {}: {}", entry.key, outcome));
    forget(entry);
  } else {
    fail(entry, outcome);
  }
  check_idle();
  start_ready();
}

void HookRunner::fail(Entry& entry, const std::string& why) {
  stats_.failed.fetch_add(1, std::memory_order_relaxed);
  ++entry.failures;
  if (!settings_ || stopping_) {
    log::event(spdlog::level::warn, "handoff_failed",
               {{"path", entry.key}, {"error", why}, {"failures", entry.failures}},
               fmt::format("on_publish {}: {}; it stays pending for the next start", entry.key,
                           why));
    forget(entry);
    return;
  }
  const std::chrono::nanoseconds delay = backoff_delay(entry.failures);
  log::event(spdlog::level::warn, "handoff_failed",
             {{"path", entry.key},
              {"error", why},
              {"failures", entry.failures},
              {"retry_seconds", sys::seconds(delay)}},
             fmt::format("on_publish {}: {}; failure {}, retrying in {:.0f} s", entry.key, why,
                         entry.failures, sys::seconds(delay)));
  entry.state = State::kWaiting;
  // No descriptor is held while waiting: thousands of files may be.
  entry.file.reset();
  entry.retry.arm(delay);
}

void HookRunner::retry(Entry& entry) {
  entry.state = State::kQueued;
  ready_.push_back(&entry);
  start_ready();
}

void HookRunner::mark_done(Entry& entry) {
  // The done mark is one fsetxattr, not synced: losing it in a crash only runs the hook once more,
  // which hooks must tolerate anyway (docs/design.md §8.4).
  if (entry.done == DoneAction::kKeep) {
    entry.record.state = HandoffState::kDone;
    if (auto marked = write_record(entry.file.get(), entry.record); !marked) {
      spdlog::error(
          "on_publish {}: the hook succeeded but the file could not be marked done ({}); its "
          "hook will run again after a restart",
          entry.key, marked.error().message());
    }
    return;
  }
  auto not_removed = [&entry](const sys::Error& error) {
    spdlog::error(
        "on_publish {}: the hook succeeded but the file could not be removed ({}); its hook "
        "will run again after a restart",
        entry.key, error.message());
  };
  const std::size_t slash = entry.name.rfind('/');
  const std::string parent = slash == std::string::npos ? "." : entry.name.substr(0, slash);
  const std::string base = slash == std::string::npos ? entry.name : entry.name.substr(slash + 1);
  // O_PATH: the directory is needed only as an anchor for fstatat and unlinkat, which O_PATH allows
  // without read permission on it.
  auto directory = sys::openat2(entry.directory->fd(), parent.c_str(),
                                O_DIRECTORY | O_PATH | O_CLOEXEC, kResolve);
  if (!directory) {
    not_removed(directory.error());
    return;
  }
  // The hook may have moved the file, and another may have taken its name since: remove the
  // name only while it is still the file the hook was given.
  auto named = sys::fstatat(directory->get(), base.c_str(), AT_SYMLINK_NOFOLLOW);
  if (!named) {
    if (named.error().errno_value() == ENOENT) {
      spdlog::debug("on_publish {}: already gone after its hook", entry.key);
    } else {
      not_removed(named.error());
    }
    return;
  }
  auto held = sys::fstat(entry.file.get());
  if (held && (named->st_dev != held->st_dev || named->st_ino != held->st_ino)) {
    spdlog::debug("on_publish {}: replaced by another file after its hook; kept", entry.key);
    return;
  }
  if (auto removed = sys::unlinkat(directory->get(), base.c_str(), 0); !removed) {
    not_removed(removed.error());
  }
}

void HookRunner::forget(Entry& entry) {
  entries_.erase(entry.key);
  update_backlog();
}

void HookRunner::maybe_walk() {
  if (!settings_ || stopping_ || scanning_) {
    return;
  }
  // Half, not the bound itself: a walk then brings in a batch of files, instead of one walk per
  // file that frees a place.
  if (!walk_due_ && !(overflowed_ && entries_.size() <= max_backlog_ / 2)) {
    return;
  }
  walk_due_ = false;
  overflowed_ = false;
  walk();
}

void HookRunner::walk() {
  auto scan = PendingScan::start(
      loop_, directory_->fd(),
      [this, directory = directory_](std::vector<std::string> names) {
        for (std::string& name : names) {
          add(directory, std::move(name));
        }
        start_ready();
        return settings_ && !stopping_ && !overflowed_;
      },
      [this, directory = directory_](const ScanReport& report) {
        scanning_ = false;
        for (const sys::Error& error : report.errors) {
          spdlog::warn("on_publish: {}", error.message());
        }
        if (report.error_count > report.errors.size()) {
          spdlog::warn("on_publish: {} more problems walking {}",
                       report.error_count - report.errors.size(), directory->path().string());
        }
        log::event(spdlog::level::info, "handoff_scan",
                   {{"files", report.found},
                    {"directory", directory->path().string()},
                    {"complete", report.complete}},
                   fmt::format("on_publish: {} pending files found in {}{}", report.found,
                               directory->path().string(),
                               report.complete
                                   ? ""
                                   : " (walk stopped early; the rest stay pending on disk)"));
        maybe_walk();
      });
  if (!scan) {
    spdlog::error("{}", scan.error().message());
    return;
  }
  scan_ = std::move(*scan);
  scanning_ = true;
}

void HookRunner::update_backlog() {
  stats_.backlog.store(entries_.size(), std::memory_order_relaxed);
}

void HookRunner::check_idle() {
  if (stopping_ && running_ == 0 && idle_) {
    stop_timer_.cancel();
    std::function<void()> idle = std::move(idle_);
    idle_ = nullptr;
    idle();
  }
}

}  // namespace zcrecv::handoff
