#include "retention/retention.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <optional>
#include <set>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "handoff/handoff_record.hpp"
#include "log/event.hpp"
#include "sys/directory.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::retention {
namespace {

// Wall-clock time, because ages are compared with the files' modification times, which are
// wall-clock times too.
using Clock = std::chrono::system_clock;

// Names come from the daemon's own template, but the tree is open to others: a deletion never
// leaves it and never follows a link planted in it.
constexpr std::uint64_t kResolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;

std::string join(const std::string& directory, std::string_view name) {
  return directory.empty() ? std::string(name) : directory + "/" + std::string(name);
}

Clock::time_point modified_time(const struct stat& info) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::seconds(info.st_mtim.tv_sec) + std::chrono::nanoseconds(info.st_mtim.tv_nsec)));
}

// The published files under the output directory, oldest first, with their totals.
class Index {
 public:
  void put(const std::string& name, std::uint64_t bytes, Clock::time_point modified) {
    erase(name);
    files_.emplace(name, Info{bytes, modified, false});
    // The name is part of the key: files with the same modification time (several per second on a
    // busy listener) are all kept, in name order.
    order_.emplace(modified, name);
    bytes_ += bytes;
  }

  void erase(const std::string& name) {
    auto found = files_.find(name);
    if (found == files_.end()) {
      return;
    }
    order_.erase(Key{found->second.modified, name});
    bytes_ -= found->second.bytes;
    files_.erase(found);
  }

  void clear() {
    files_.clear();
    order_.clear();
    bytes_ = 0;
  }

  [[nodiscard]] std::size_t files() const { return files_.size(); }
  [[nodiscard]] std::uint64_t bytes() const { return bytes_; }

  // Oldest first: (modification time, name).
  using Key = std::pair<Clock::time_point, std::string>;
  struct Info {
    std::uint64_t bytes;
    Clock::time_point modified;
    // Its hand-off was pending when last looked at; looked at again after the next walk.
    bool held;
  };
  [[nodiscard]] const std::set<Key>& order() const { return order_; }
  Info& info(const std::string& name) { return files_.at(name); }

 private:
  std::unordered_map<std::string, Info> files_;
  std::set<Key> order_;
  std::uint64_t bytes_ = 0;
};

enum class Removal { kDeleted, kGone, kHeld, kFailed };

}  // namespace

class Retention::Observer final : public output::PublishObserver {
 public:
  Observer(std::shared_ptr<Shared> shared, const output::OutputDirectory* directory)
      : shared_(std::move(shared)), directory_(directory) {}

  void published(const output::PublishedFile& file) override {
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->directory.get() != directory_ || !shared_->limits.enabled()) {
        return;
      }
      // Called on the workers' threads, so it only queues: a full inbox drops the name and asks for
      // a walk instead, which finds the file anyway, so publishing never waits for retention.
      if (shared_->inbox.size() >= kMaxInbox) {
        shared_->inbox_overflowed = true;
        return;
      }
      shared_->inbox.push_back(Published{directory_, file.name, file.bytes, Clock::now()});
    }
    shared_->changed.notify_one();
  }

 private:
  std::shared_ptr<Shared> shared_;
  // Identity only: the connection settings that hold this observer hold the directory too, so
  // no other directory can take its address while this observer exists.
  const output::OutputDirectory* directory_;
};

// The retention thread: the index, the walks, the checks and the deletions.
class Retention::Worker {
 public:
  explicit Worker(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  void run() {
    std::uint64_t seen_generation = 0;
    std::optional<std::chrono::steady_clock::time_point> next_check;
    for (;;) {
      std::vector<Published> inbox;
      bool reconfigured = false;
      bool overflowed = false;
      {
        std::unique_lock lock(shared_->mutex);
        auto ready = [&] {
          return shared_->stop || !shared_->inbox.empty() || shared_->inbox_overflowed ||
                 shared_->generation != seen_generation;
        };
        if (next_check) {
          shared_->changed.wait_until(lock, *next_check, ready);
        } else {
          shared_->changed.wait(lock, ready);
        }
        if (shared_->stop) {
          return;
        }
        reconfigured = shared_->generation != seen_generation;
        seen_generation = shared_->generation;
        if (reconfigured && shared_->directory != directory_) {
          directory_ = shared_->directory;
          walked_ = false;
        }
        limits_ = shared_->limits;
        interval_ = shared_->check_interval;
        inbox.swap(shared_->inbox);
        overflowed = std::exchange(shared_->inbox_overflowed, false);
      }
      if (!limits_.enabled() || !directory_) {
        index_.clear();
        walked_ = false;
        next_check.reset();
        publish_gauges();
        continue;
      }
      // The timer check walks the tree again: one getdents per directory and one stat per file,
      // as cheap as a stat of every indexed file, and it also takes in what others changed (a
      // hook's removals and its new .zst files, an operator's touch).
      const auto now = std::chrono::steady_clock::now();
      if (!walked_ || overflowed || reconfigured || now >= next_check.value_or(now)) {
        if (!walk(!walked_)) {
          return;
        }
        walked_ = true;
        next_check = now + interval_;
      }
      for (Published& file : inbox) {
        if (file.directory == directory_.get()) {
          // Announced files are indexed with the time of their announcement, which is close to
          // their modification time, without a stat of each new file.
          index_.put(file.name, file.bytes, file.at);
        }
      }
      enforce();
    }
  }

 private:
  // Builds the index anew from the tree (logging its size when `announce`); false when a stop
  // came first.
  bool walk(bool announce) {
    index_.clear();
    auto root = sys::openat(directory_->fd(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (!root) {
      report(std::move(root).error().with_context("retention: walking the output directory"));
      return true;
    }
    const bool finished = walk(root->get(), "");
    if (!finished) {
      return false;
    }
    log::event(announce ? spdlog::level::info : spdlog::level::debug, "retention_index",
               {{"directory", directory_->path().string()},
                {"files", index_.files()},
                {"bytes", index_.bytes()}},
               fmt::format("retention: {} published files ({} bytes) in {}", index_.files(),
                           index_.bytes(), directory_->path().string()));
    return true;
  }

  bool walk(int dir_fd, const std::string& prefix) {
    auto walked = sys::for_each_entry(dir_fd, [&](std::string_view entry, unsigned char type) {
      if (stopping()) {
        return false;
      }
      const std::string name(entry);
      // Dot-files are partial files, the files of open streams: never retention's.
      if (name.front() == '.') {
        return true;
      }
      const std::string path = join(prefix, name);
      if (type == DT_DIR) {
        auto child =
            sys::openat(dir_fd, name.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (!child) {
          report(std::move(child).error().with_context("retention: directory \"" + path + "\""));
          return true;
        }
        return walk(child->get(), path);
      }
      if (type != DT_REG && type != DT_UNKNOWN) {
        return true;
      }
      // The size and time are needed anyway; DT_UNKNOWN (XFS without ftype) is settled here.
      auto info = sys::fstatat(dir_fd, name.c_str(), AT_SYMLINK_NOFOLLOW);
      if (!info) {
        if (info.error().errno_value() != ENOENT) {
          report(std::move(info).error().with_context("retention: \"" + path + "\""));
        }
        return true;
      }
      if (S_ISDIR(info->st_mode)) {
        auto child =
            sys::openat(dir_fd, name.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        return !child || walk(child->get(), path);
      }
      if (S_ISREG(info->st_mode)) {
        index_.put(path, static_cast<std::uint64_t>(info->st_size), modified_time(*info));
      }
      return true;
    });
    if (!walked) {
      report(std::move(walked).error().with_context("retention: directory \"" +
                                                    (prefix.empty() ? "." : prefix) + "\""));
      return !stopping();
    }
    return *walked;
  }

  // Deletes the oldest files while a limit says so.
  void enforce() {
    RetentionPolicy policy(limits_, Clock::now(), index_.files(), index_.bytes());
    std::uint64_t held = 0;
    auto it = index_.order().begin();
    while (it != index_.order().end()) {
      const std::string name = it->second;
      Index::Info& info = index_.info(name);
      const RetainedFile file{name, info.bytes, info.modified};
      const std::optional<RetentionReason> reason = policy.reason(file);
      // Oldest first, so the first file no limit asks to delete ends the pass: every later one is
      // newer and the counts only fall as files go.
      if (!reason) {
        break;
      }
      // A held file is skipped, not waited for: a file whose hook is pending must not be deleted,
      // but it must not stop the deletion of the files after it either.
      if (info.held) {
        ++held;
        ++it;
        continue;
      }
      switch (remove(name)) {
        case Removal::kDeleted:
          shared_->stats.deleted(*reason).fetch_add(1, std::memory_order_relaxed);
          shared_->stats.deleted_bytes[static_cast<std::size_t>(*reason)].fetch_add(
              info.bytes, std::memory_order_relaxed);
          log::event(spdlog::level::info, "retention_delete",
                     {{"path", name}, {"reason", to_string(*reason)}, {"bytes", info.bytes}},
                     fmt::format("retention: deleted {} ({} bytes): {}", name, info.bytes,
                                 to_string(*reason)));
          [[fallthrough]];
        case Removal::kGone:
          policy.deleted(file);
          it = std::next(it);
          index_.erase(name);
          break;
        case Removal::kHeld:
          info.held = true;
          ++held;
          ++it;
          break;
        case Removal::kFailed:
          // It still counts: the next check tries again.
          ++it;
          break;
      }
    }
    shared_->stats.held.store(held, std::memory_order_relaxed);
    publish_gauges();
  }

  // Deletes `name` unless its hand-off is pending.
  Removal remove(const std::string& name) {
    const std::size_t slash = name.rfind('/');
    const std::string parent = slash == std::string::npos ? "." : name.substr(0, slash);
    const std::string base = slash == std::string::npos ? name : name.substr(slash + 1);
    auto directory =
        sys::openat2(directory_->fd(), parent.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC, kResolve);
    if (!directory) {
      return failed_or_gone(std::move(directory).error(), name);
    }
    // O_NONBLOCK: a FIFO put in the file's place must not hang the thread.
    auto file = sys::openat(directory->get(), base.c_str(),
                            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (!file) {
      return failed_or_gone(std::move(file).error(), name);
    }
    // The file is opened without following a link (O_NOFOLLOW), in a directory reached by openat2
    // with kResolve: nothing planted in the tree leads retention outside it.
    auto record = handoff::read_record(file->get());
    if (!record) {
      // An attribute that is not a record of ours: whether its hand-off is done is unknown,
      // so the file stays.
      spdlog::debug("retention: {}: {}; kept", name, record.error().message());
      return Removal::kHeld;
    }
    if (record->has_value() && (*record)->state == handoff::HandoffState::kPending) {
      return Removal::kHeld;
    }
    if (auto unlinked = sys::unlinkat(directory->get(), base.c_str(), 0); !unlinked) {
      return failed_or_gone(std::move(unlinked).error(), name);
    }
    return Removal::kDeleted;
  }

  Removal failed_or_gone(sys::Error error, const std::string& name) {
    if (error.errno_value() == ENOENT) {
      return Removal::kGone;
    }
    report(std::move(error).with_context("retention: deleting \"" + name + "\""));
    return Removal::kFailed;
  }

  void report(const sys::Error& error) {
    shared_->stats.errors.fetch_add(1, std::memory_order_relaxed);
    log::event(spdlog::level::warn, "retention_error", {{"error", error.message()}},
               error.message());
  }

  void publish_gauges() {
    shared_->stats.files.store(index_.files(), std::memory_order_relaxed);
    shared_->stats.bytes.store(index_.bytes(), std::memory_order_relaxed);
  }

  [[nodiscard]] bool stopping() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->stop;
  }

  std::shared_ptr<Shared> shared_;
  std::shared_ptr<output::OutputDirectory> directory_;
  RetentionLimits limits_;
  std::chrono::nanoseconds interval_{0};
  Index index_;
  bool walked_ = false;
};

Retention::Retention(RetentionStats& stats) : shared_(std::make_shared<Shared>(stats)) {}

Retention::~Retention() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stop = true;
  }
  shared_->changed.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

sys::Result<void> Retention::configure(std::shared_ptr<output::OutputDirectory> directory,
                          RetentionLimits limits, std::chrono::nanoseconds check_interval) {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->directory = std::move(directory);
    shared_->limits = limits;
    shared_->check_interval = check_interval;
    ++shared_->generation;
  }
  shared_->changed.notify_all();
  // The thread starts the first time a limit is set, and then stays: a daemon without
  // retention has no thread for it.
  // configure() runs on the daemon's loop (start and reload), where nothing may throw.
  if (limits.enabled() && !thread_.joinable()) {
    try {
      thread_ = std::thread([shared = shared_] { Worker(shared).run(); });
    } catch (const std::system_error& error) {
      return sys::Error::from_errno(error.code().value(), "retention: starting its thread");
    }
  }
  return {};
}

std::shared_ptr<output::PublishObserver> Retention::observer(
    const std::shared_ptr<output::OutputDirectory>& directory) {
  return std::make_shared<Observer>(shared_, directory.get());
}

}  // namespace zcrecv::retention
