#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::output {

/// The calls that make data durable, as the sync stage makes them. Tests replace them to count
/// the calls or to hold one; system() makes the real system calls.
struct SyncCalls {
  std::function<sys::Result<void>(int fd)> fdatasync;
  std::function<sys::Result<void>(int fd, std::uint64_t offset, std::uint64_t length,
                                  unsigned int flags)>
      sync_file_range;
  std::function<sys::Result<void>(int directory_fd)> fsync_directory;
  /// Before a rename: a file with a hand-off record (its attribute must be durable too), and
  /// the directories between the output directory and the file's
  /// (OutputDirectory::sync_before_rename).
  std::function<sys::Result<void>(int fd)> fsync;

  /// fdatasync(2), sync_file_range(2) and fsync(2) (for directories and for files).
  static SyncCalls system();
};

/// The threads on which files become durable with sync = publish (docs/design.md §4.7): fdatasync,
/// rename, the directory fsync and early writeback run here, never on an event loop, which hears
/// back through whatever the job posts to it (libuv's threadpool: uv__work_submit, then the
/// completion through uv_async).
///
/// Jobs of one Strand run one at a time, in the order they were submitted (a connection's files
/// publish in {seq} order); different strands run side by side. Publishes into one directory
/// are batched (group commit): commit_in_directory() queues a step (the rename) on the
/// directory, and one thread runs every step queued there, in order, then fsyncs the directory
/// once for all of them. The renames never contend for the directory's lock with each other, and
/// each publish waits for the first fsync of its directory that starts after its rename.
/// Thread-safe.
class SyncStage {
 public:
  using Job = std::function<void()>;
  /// A publish's work inside its directory's batch, before the shared fsync: the rename. Returns
  /// false when it failed (having reported it): it then waits for no fsync.
  using Step = std::function<bool()>;
  using Committed = std::function<void(const sys::Result<void>&)>;

  /// A queue of jobs that run one at a time, in order. It may be dropped with jobs queued:
  /// they still run.
  class Strand {
   private:
    friend class SyncStage;
    std::deque<Job> waiting_;
    // A job of the strand is queued or running, or holds it (below).
    bool busy_ = false;
    bool job_running_ = false;
    // Steps queued by the strand's job that have not run yet: the next job waits for them.
    std::size_t steps_held_ = 0;
  };

  /// Starts `threads` (at least 1) sync threads. They inherit the caller's signal mask.
  static sys::Result<std::unique_ptr<SyncStage>> start(unsigned threads,
                                                      SyncCalls calls = SyncCalls::system());
  SyncStage(const SyncStage&) = delete;
  SyncStage& operator=(const SyncStage&) = delete;
  /// Runs every job submitted so far, and those they lead to, then joins the threads: a stop
  /// publishes everything that was queued.
  ~SyncStage();

  [[nodiscard]] std::shared_ptr<Strand> make_strand() const;
  /// Runs `job` on a sync thread once the jobs submitted to `strand` before it, and the steps
  /// they queued, have run.
  void submit(const std::shared_ptr<Strand>& strand, Job job);
  /// From a job of `strand`: queues `step` on the directory `directory` is open on, and holds
  /// the strand until it has run. The directory's batch runs it, fsyncs the directory (the first
  /// fsync there to start after the step), and calls `committed` with the result if the step
  /// succeeded, on a sync thread. Directories are told apart by device and inode, so two
  /// descriptors of one directory share batches.
  void commit_in_directory(const std::shared_ptr<Strand>& strand,
                           std::shared_ptr<const sys::UniqueFd> directory, Step step,
                           Committed committed);

  [[nodiscard]] const SyncCalls& calls() const noexcept { return calls_; }

 private:
  struct Task {
    std::shared_ptr<Strand> strand;
    Job job;
  };
  struct Waiter {
    std::shared_ptr<Strand> strand;
    std::shared_ptr<const sys::UniqueFd> directory;
    Step step;
    Committed committed;
  };
  // The batches of one directory: at most one runs; the waiters that come meanwhile make the
  // next.
  struct DirectoryBatch {
    bool running = false;
    std::vector<Waiter> waiting;
  };
  using DirectoryKey = std::pair<dev_t, ino_t>;

  explicit SyncStage(SyncCalls calls) : calls_(std::move(calls)) {}

  void run_thread();
  // Queues a task for the threads; the caller holds mutex_.
  void enqueue(Task task);
  // Starts the strand's next job, or marks it idle, once nothing holds it; mutex_ held.
  void advance(const std::shared_ptr<Strand>& strand);
  void run_batch(DirectoryKey key);

  SyncCalls calls_;
  std::mutex mutex_;
  std::condition_variable ready_changed_;
  std::deque<Task> ready_;
  std::map<DirectoryKey, DirectoryBatch> directories_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace zcrecv::output
