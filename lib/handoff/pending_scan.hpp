#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "event/event_loop.hpp"
#include "sys/error.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::handoff {

/// What a walk of the output tree met.
struct ScanReport {
  /// Pending files found (and handed to the found callback).
  std::size_t found = 0;
  /// The first kMaxErrors problems, each naming its directory or file; error_count counts all.
  std::vector<sys::Error> errors;
  std::size_t error_count = 0;
  /// False when the walk was stopped before the end of the tree.
  bool complete = true;
};

/// Walks the output tree on a thread of its own for files whose hand-off record says pending,
/// and hands them to the EventLoop in batches, so that a large tree neither delays the loop nor
/// makes it wait. Dot-files (partial files) are skipped, symlinks never followed.
///
/// The walk goes at the loop's pace: after each batch it waits for the found callback's verdict
/// (go on, or stop), so at most one batch is in memory whatever the size of the tree.
class PendingScan {
 public:
  static constexpr std::size_t kBatchSize = 256;
  static constexpr std::size_t kMaxErrors = 16;

  /// On the loop thread, with up to kBatchSize names relative to the root; returns whether the
  /// walk should go on.
  using FoundCallback = std::function<bool(std::vector<std::string> names)>;
  /// On the loop thread, once, when the walk has ended.
  using DoneCallback = std::function<void(const ScanReport& report)>;

  /// Starts walking the directory `root_fd` refers to (it is reopened: the walk has a
  /// descriptor of its own).
  static sys::Result<std::unique_ptr<PendingScan>> start(event::EventLoop& loop, int root_fd,
                                                         FoundCallback found, DoneCallback done);

  PendingScan(const PendingScan&) = delete;
  PendingScan& operator=(const PendingScan&) = delete;
  /// Stops the walk and joins its thread; callbacks not yet run are never run. On the loop
  /// thread, or once the loop no longer runs.
  ~PendingScan();

 private:
  // What the walk thread and the tasks it posts share; the tasks hold it, so it outlives the
  // PendingScan if the loop runs them late.
  struct Channel {
    FoundCallback found;
    DoneCallback done;
    // Loop thread only: set by the destructor, so that late tasks do nothing.
    bool cancelled = false;
    std::mutex mutex;
    std::condition_variable changed;
    std::optional<bool> verdict;
    bool stop = false;
  };

  PendingScan(event::EventLoop& loop, sys::UniqueFd root, std::shared_ptr<Channel> channel);

  void run();
  // Walks `dir_fd` (`prefix` is its path relative to the root, "" for the root); false once
  // the walk is to stop.
  bool walk(int dir_fd, const std::string& prefix);
  bool consider(int dir_fd, const std::string& name, const std::string& path);
  // Hands the batch to the loop and waits for the verdict; false when the walk is to stop.
  bool deliver();
  void add_error(sys::Error error);

  event::EventLoop& loop_;
  sys::UniqueFd root_;
  std::shared_ptr<Channel> channel_;
  std::vector<std::string> batch_;
  ScanReport report_;
  std::thread thread_;
};

}  // namespace zcrecv::handoff
