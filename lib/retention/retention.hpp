#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "output/output_directory.hpp"
#include "output/rotating_file.hpp"
#include "retention/retention_policy.hpp"
#include "retention/retention_stats.hpp"
#include "sys/result.hpp"

namespace zcrecv::retention {

/// Deletes the oldest published files under the output directory when they are past the
/// `[retention]` limits (README "Retention"), on a thread of its own: no event loop ever walks
/// the tree, reads a hand-off record or unlinks a file for it.
///
/// The thread keeps an index of the published files (name, bytes, modification time), built by
/// a walk of the tree when retention is switched on (at start, or by a reload) and kept up to
/// date by the publishes it is told of, so that a publish costs no walk. It checks the limits
/// after each batch of publishes, and every `check_interval` after a new walk, which takes in
/// what others changed (files removed or added by a hook, modification times changed). A file
/// is deleted only after its hand-off record is read again:
/// a file whose hook has not succeeded stays (and still counts), as do dot-files (`.NAME.part`,
/// the files of open streams), which are never indexed. Each deletion is logged (event
/// `retention_delete`) and counted in `stats`.
class Retention {
 public:
  /// Retention off until configure(); `stats` must outlive it.
  explicit Retention(RetentionStats& stats);
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;
  /// Stops the thread (a walk in progress stops at its next entry) and joins it.
  ~Retention();

  /// From now on, keeps the files under `directory` within `limits`, checked every
  /// `check_interval` too. Limits with none set switch retention off (nothing is deleted, the
  /// index is dropped). Callable on any one thread (the daemon's). Fails only when the thread
  /// that keeps them cannot be started; the limits are kept, and the next configure() tries again.
  sys::Result<void> configure(std::shared_ptr<output::OutputDirectory> directory,
                              RetentionLimits limits, std::chrono::nanoseconds check_interval);

  /// What the files of connections writing into `directory` report their publishes to (in
  /// RotationSettings); publishes into any other directory than the configured one are ignored.
  std::shared_ptr<output::PublishObserver> observer(
      const std::shared_ptr<output::OutputDirectory>& directory);

  /// Most publishes held between two passes of the thread; beyond that the index is rebuilt by
  /// a walk, so that memory stays bounded when the thread falls behind.
  static constexpr std::size_t kMaxInbox = std::size_t{1} << 16;

 private:
  struct Published {
    const output::OutputDirectory* directory;
    std::string name;
    std::uint64_t bytes;
    std::chrono::system_clock::time_point at;
  };
  // What the daemon's thread, the publishers and the retention thread share.
  struct Shared {
    explicit Shared(RetentionStats& counters) : stats(counters) {}

    RetentionStats& stats;
    std::mutex mutex;
    std::condition_variable changed;
    bool stop = false;
    std::uint64_t generation = 0;
    std::shared_ptr<output::OutputDirectory> directory;
    RetentionLimits limits;
    std::chrono::nanoseconds check_interval{0};
    std::vector<Published> inbox;
    bool inbox_overflowed = false;
  };
  class Observer;
  class Worker;

  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace zcrecv::retention
