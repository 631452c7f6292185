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

  /// fdatasync(2), sync_file_range(2) and fsync(2).
  static SyncCalls system();
};

/// The threads on which files become durable with sync = publish (DESIGN.md §9): fdatasync,
/// rename, the directory fsync and early writeback run here, never on an event loop, which hears
/// back through whatever the job posts to it (libuv's threadpool: uv__work_submit, then the
/// completion through uv_async).
///
/// Jobs of one Strand run one at a time, in the order they were submitted (a connection's files
/// publish in {seq} order); different strands run side by side. Directory fsyncs are shared:
/// commit_directory() waits for the first fsync of the directory that starts after the call,
/// so the renames that land in one directory together pay for one fsync (group commit).
/// Thread-safe.
class SyncStage {
 public:
  using Job = std::function<void()>;
  using Committed = std::function<void(const sys::Result<void>&)>;

  /// A queue of jobs that run one at a time, in order. It may be dropped with jobs queued:
  /// they still run.
  class Strand {
   private:
    friend class SyncStage;
    std::deque<Job> waiting_;
    bool running_ = false;
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
  /// Runs `job` on a sync thread once the jobs submitted to `strand` before it have run.
  void submit(const std::shared_ptr<Strand>& strand, Job job);
  /// fsyncs the directory `directory` is open on — the first fsync of that directory to start
  /// after this call — then calls `committed` with its result, on a sync thread. Directories are
  /// told apart by device and inode, so two descriptors of one directory share fsyncs.
  void commit_directory(std::shared_ptr<const sys::UniqueFd> directory, Committed committed);

  [[nodiscard]] const SyncCalls& calls() const noexcept { return calls_; }

 private:
  struct Task {
    std::shared_ptr<Strand> strand;
    Job job;
  };
  struct Waiter {
    std::shared_ptr<const sys::UniqueFd> directory;
    Committed committed;
  };
  // The fsyncs of one directory: at most one runs; the waiters that came meanwhile share the
  // next.
  struct DirectoryCommits {
    bool running = false;
    std::vector<Waiter> waiting;
  };
  using DirectoryKey = std::pair<dev_t, ino_t>;

  explicit SyncStage(SyncCalls calls) : calls_(std::move(calls)) {}

  void run_thread();
  // Queues a task for the threads; the caller holds mutex_.
  void enqueue(Task task);
  void fsync_directory(DirectoryKey key);

  SyncCalls calls_;
  std::mutex mutex_;
  std::condition_variable ready_changed_;
  std::deque<Task> ready_;
  std::map<DirectoryKey, DirectoryCommits> directories_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace zcrecv::output
