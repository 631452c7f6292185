#include "handoff/pending_scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <system_error>
#include <utility>

#include "handoff/handoff_record.hpp"
#include "sys/directory.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::handoff {
namespace {

std::string join(const std::string& directory, const std::string& name) {
  return directory.empty() ? name : directory + "/" + name;
}

std::string in_quotes(const std::string& path) { return "\"" + (path.empty() ? "." : path) + "\""; }

}  // namespace

sys::Result<std::unique_ptr<PendingScan>> PendingScan::start(event::EventLoop& loop, int root_fd,
                                                             FoundCallback found,
                                                             DoneCallback done) {
  // A descriptor of its own: reading entries moves the descriptor's offset, and the output
  // directory's descriptor is shared by every worker and by the next walk.
  auto root = sys::openat(root_fd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (!root) {
    return std::move(root).error().with_context("on_publish: walking the output directory");
  }
  auto channel = std::make_shared<Channel>();
  channel->found = std::move(found);
  channel->done = std::move(done);
  std::unique_ptr<PendingScan> scan(new PendingScan(loop, std::move(*root), std::move(channel)));
  // start() runs on the daemon's loop, where nothing may throw: a thread the system cannot give
  // (EAGAIN past RLIMIT_NPROC or the threads-max sysctl) is an error like any other.
  try {
    scan->thread_ = std::thread([raw = scan.get()] { raw->run(); });
  } catch (const std::system_error& error) {
    return sys::Error::from_errno(error.code().value(), "on_publish: starting the walk's thread");
  }
  return scan;
}

PendingScan::PendingScan(event::EventLoop& loop, sys::UniqueFd root,
                         std::shared_ptr<Channel> channel)
    : loop_(loop), root_(std::move(root)), channel_(std::move(channel)) {}

PendingScan::~PendingScan() {
  // Set before the thread is told to stop: tasks it posted and that have not run yet must do
  // nothing, since the runner that would receive them may be gone.
  channel_->cancelled = true;
  {
    std::lock_guard lock(channel_->mutex);
    channel_->stop = true;
  }
  channel_->changed.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void PendingScan::run() {
  // The walk runs on a thread of its own because a large tree takes long to read and getxattr on
  // each file can wait on the disk: on the main loop it would hold up signals, hooks and /metrics.
  report_.complete = walk(root_.get(), "") && (batch_.empty() || deliver());
  loop_.post([channel = channel_, report = std::move(report_)] {
    if (!channel->cancelled) {
      channel->done(report);
    }
  });
}

bool PendingScan::walk(int dir_fd, const std::string& prefix) {
  auto walked = sys::for_each_entry(dir_fd, [&](std::string_view entry, unsigned char type) {
    const std::string name(entry);
    const std::string path = join(prefix, name);
    if (type == DT_UNKNOWN) {
      // Some filesystems (XFS without ftype, some FUSE) do not fill d_type.
      auto info = sys::fstatat(dir_fd, name.c_str(), AT_SYMLINK_NOFOLLOW);
      if (!info) {
        add_error(std::move(info).error().with_context(in_quotes(path)));
        return true;
      }
      type = S_ISDIR(info->st_mode) ? DT_DIR : S_ISREG(info->st_mode) ? DT_REG : DT_UNKNOWN;
    }
    if (type == DT_DIR) {
      auto child =
          sys::openat(dir_fd, name.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (!child) {
        add_error(std::move(child).error().with_context("directory " + in_quotes(path)));
        return true;
      }
      return walk(child->get(), path);
    }
    // Dot-files are partial files (or nothing of zcrecv's): never handed off.
    return type != DT_REG || name.front() == '.' || consider(dir_fd, name, path);
  });
  if (!walked) {
    add_error(std::move(walked).error().with_context("directory " + in_quotes(prefix)));
    return true;
  }
  return *walked;
}

bool PendingScan::consider(int dir_fd, const std::string& name, const std::string& path) {
  // O_NONBLOCK: a FIFO put in place of the file since getdents must not hang the walk.
  auto file =
      sys::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (!file) {
    // Removed since getdents (a hook with on_publish_done = "remove"): nothing to do.
    if (file.error().errno_value() != ENOENT) {
      add_error(std::move(file).error().with_context(in_quotes(path)));
    }
    return true;
  }
  auto record = read_record(file->get());
  if (!record) {
    add_error(std::move(record).error().with_context(in_quotes(path)));
    return true;
  }
  if (!record->has_value() || (*record)->state != HandoffState::kPending) {
    return true;
  }
  batch_.push_back(path);
  ++report_.found;
  return batch_.size() < kBatchSize || deliver();
}

bool PendingScan::deliver() {
  {
    std::lock_guard lock(channel_->mutex);
    channel_->verdict.reset();
  }
  // The runner is single-threaded on the main loop: the batch goes there, and this thread waits for
  // the verdict before it reads on, so at most one batch is in memory (docs/design.md §6).
  loop_.post([channel = channel_, names = std::move(batch_)]() mutable {
    if (channel->cancelled) {
      return;
    }
    const bool go_on = channel->found(std::move(names));
    {
      std::lock_guard lock(channel->mutex);
      channel->verdict = go_on;
    }
    channel->changed.notify_all();
  });
  batch_.clear();
  std::unique_lock lock(channel_->mutex);
  channel_->changed.wait(lock, [this] { return channel_->stop || channel_->verdict.has_value(); });
  return !channel_->stop && *channel_->verdict;
}

void PendingScan::add_error(sys::Error error) {
  if (report_.errors.size() < kMaxErrors) {
    report_.errors.push_back(std::move(error));
  }
  ++report_.error_count;
}

}  // namespace zcrecv::handoff
