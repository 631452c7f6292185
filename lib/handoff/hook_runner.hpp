#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "handoff/handoff_record.hpp"
#include "handoff/hook_command.hpp"
#include "handoff/hook_process.hpp"
#include "handoff/hook_stats.hpp"
#include "handoff/pending_scan.hpp"
#include "output/output_directory.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::handoff {

/// What to do with a file once its hook has exited 0.
enum class DoneAction {
  /// Keep it, its record marked done.
  kKeep,
  /// Remove it (spool semantics).
  kRemove,
};

/// The [output] on_publish settings.
struct HookSettings {
  HookCommand command;
  /// Hooks running at once, at least 1.
  unsigned concurrency = 4;
  /// Then SIGTERM to the hook's process group, and SIGKILL kKillGrace later.
  std::chrono::nanoseconds timeout = std::chrono::minutes(5);
  DoneAction done = DoneAction::kKeep;
};

/// Runs the on_publish hook of every published file whose hand-off record is pending, at least
/// once: on the daemon's main EventLoop, never on a worker, so that no hook ever delays a
/// connection.
///
/// A file enters by published() (from a worker, when it is published) or by a walk of the
/// output tree (when hand-off is switched on, at start or by a reload, and after an overflow).
/// Hooks start in arrival order, at most `concurrency` at once. Before each run the file is
/// opened again and its record read: a file gone, or already done, is let go. Exit 0 marks the
/// record done (or removes the file); anything else runs the hook again after backoff_delay().
///
/// Memory is bounded: at most kMaxBacklog files are held (queued, running or waiting to be
/// retried); files beyond that stay pending on disk, and a walk takes them in once the backlog
/// has fallen to half of it.
///
/// Threads: published() may be called from any thread; everything else on the loop thread.
class HookRunner {
 public:
  static constexpr std::size_t kMaxBacklog = 4096;
  /// Between SIGTERM and SIGKILL, at a hook's timeout and at a stop.
  static constexpr std::chrono::seconds kKillGrace{5};

  /// A runner with hand-off off, until configure(). `loop` and `stats` must outlive it.
  /// `max_backlog` is for tests, which need to overflow it without thousands of files.
  HookRunner(event::EventLoop& loop, HookStats& stats, std::size_t max_backlog = kMaxBacklog);
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;
  /// Kills the hooks still running (a stop has given them their time already).
  ~HookRunner();

  /// Hooks started from now on follow `settings` (files already queued included); std::nullopt
  /// switches hand-off off: running hooks finish, the files held in memory are let go (they
  /// stay pending on disk). Switching it on walks `directory` for pending files.
  void configure(std::optional<HookSettings> settings,
                 std::shared_ptr<output::OutputDirectory> directory);
  /// `name` (relative to `directory`) was just published. Callable from any thread.
  void published(std::shared_ptr<output::OutputDirectory> directory, std::string name);
  /// Starts no more hooks; those running get until `deadline`, then SIGTERM (and SIGKILL
  /// kKillGrace later). `idle` runs once none is left (at once if none runs).
  void stop(std::chrono::nanoseconds deadline, std::function<void()> idle);
  /// SIGTERM to every running hook now (a second stop signal).
  void cut();

 private:
  enum class State { kQueued, kRunning, kWaiting };

  struct Entry {
    Entry(HookRunner& runner, std::string path, std::shared_ptr<output::OutputDirectory> where,
          std::string relative)
        : key(std::move(path)),
          directory(std::move(where)),
          name(std::move(relative)),
          retry(runner.loop_, [this, &runner] { runner.retry(*this); }) {}

    // The absolute path: the key in entries_, and the file in log lines.
    std::string key;
    std::shared_ptr<output::OutputDirectory> directory;
    std::string name;
    State state = State::kQueued;
    unsigned failures = 0;
    // While running: the file (for the done mark), its record, and what to do after success.
    sys::UniqueFd file;
    HandoffRecord record;
    DoneAction done = DoneAction::kKeep;
    std::unique_ptr<HookProcess> process;
    event::Timer retry;
  };

  void add(std::shared_ptr<output::OutputDirectory> directory, std::string name);
  void start_ready();
  void start(Entry& entry);
  void finished(Entry& entry, const HookExit& exit);
  void retry(Entry& entry);
  void fail(Entry& entry, const std::string& why);
  void mark_done(Entry& entry);
  void forget(Entry& entry);
  void walk();
  void maybe_walk();
  void update_backlog();
  void check_idle();

  event::EventLoop& loop_;
  HookStats& stats_;
  std::size_t max_backlog_;
  std::optional<HookSettings> settings_;
  std::shared_ptr<output::OutputDirectory> directory_;
  // Keyed by absolute path: a reload may change the output directory.
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  std::deque<Entry*> ready_;
  std::size_t running_ = 0;
  std::unique_ptr<PendingScan> scan_;
  bool scanning_ = false;
  // A file was turned away for want of room: another walk is due once there is room again.
  bool overflowed_ = false;
  // Hand-off was switched on, or its directory changed: a walk is due as soon as possible.
  bool walk_due_ = false;
  bool stopping_ = false;
  std::function<void()> idle_;
  event::Timer stop_timer_;
};

}  // namespace zcrecv::handoff
