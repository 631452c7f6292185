#include "output/sync_stage.hpp"

#include <system_error>

#include "sys/syscalls.hpp"

namespace zcrecv::output {

SyncCalls SyncCalls::system() {
  return SyncCalls{
      [](int fd) { return sys::fdatasync(fd); },
      [](int fd, std::uint64_t offset, std::uint64_t length, unsigned int flags) {
        return sys::sync_file_range(fd, offset, length, flags);
      },
      [](int directory_fd) { return sys::fsync(directory_fd); },
  };
}

sys::Result<std::unique_ptr<SyncStage>> SyncStage::start(unsigned threads, SyncCalls calls) {
  if (threads == 0) {
    return sys::Error::invalid("sync stage: needs at least one thread");
  }
  std::unique_ptr<SyncStage> stage(new SyncStage(std::move(calls)));
  for (unsigned i = 0; i < threads; ++i) {
    try {
      stage->threads_.emplace_back([raw = stage.get()] { raw->run_thread(); });
    } catch (const std::system_error& error) {
      // The threads already started finish (there is nothing to run) when `stage` goes.
      return sys::Error::from_errno(error.code().value(), "sync stage: starting a thread");
    }
  }
  return stage;
}

SyncStage::~SyncStage() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_changed_.notify_all();
  for (std::thread& thread : threads_) {
    thread.join();
  }
}

std::shared_ptr<SyncStage::Strand> SyncStage::make_strand() const {
  return std::make_shared<Strand>();
}

void SyncStage::submit(const std::shared_ptr<Strand>& strand, Job job) {
  {
    std::lock_guard lock(mutex_);
    if (strand->running_) {
      strand->waiting_.push_back(std::move(job));
      return;
    }
    strand->running_ = true;
    enqueue(Task{strand, std::move(job)});
  }
}

void SyncStage::commit_directory(std::shared_ptr<const sys::UniqueFd> directory,
                                 Committed committed) {
  auto info = sys::fstat(directory->get());
  if (!info) {
    committed(std::move(info).error());
    return;
  }
  const DirectoryKey key{info->st_dev, info->st_ino};
  std::lock_guard lock(mutex_);
  DirectoryCommits& commits = directories_[key];
  commits.waiting.push_back(Waiter{std::move(directory), std::move(committed)});
  if (!commits.running) {
    commits.running = true;
    enqueue(Task{nullptr, [this, key] { fsync_directory(key); }});
  }
}

void SyncStage::enqueue(Task task) {
  ready_.push_back(std::move(task));
  ready_changed_.notify_one();
}

void SyncStage::run_thread() {
  std::unique_lock lock(mutex_);
  for (;;) {
    // A stop waits for the queue to empty: a running job may still queue the next of its strand
    // or a directory fsync, and the thread that ran it takes that up.
    ready_changed_.wait(lock, [this] { return !ready_.empty() || stopping_; });
    if (ready_.empty()) {
      return;
    }
    Task task = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    task.job();
    task.job = nullptr;
    lock.lock();
    if (task.strand) {
      Strand& strand = *task.strand;
      if (strand.waiting_.empty()) {
        strand.running_ = false;
      } else {
        ready_.push_back(Task{std::move(task.strand), std::move(strand.waiting_.front())});
        strand.waiting_.pop_front();
      }
    }
  }
}

void SyncStage::fsync_directory(DirectoryKey key) {
  std::vector<Waiter> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(directories_[key].waiting);
  }
  // Every waiter of the batch renamed before this fsync starts; those that come while it runs
  // wait for the next one.
  const sys::Result<void> synced = calls_.fsync_directory(batch.front().directory->get());
  for (Waiter& waiter : batch) {
    waiter.committed(synced);
  }
  std::lock_guard lock(mutex_);
  auto found = directories_.find(key);
  if (found->second.waiting.empty()) {
    directories_.erase(found);
  } else {
    enqueue(Task{nullptr, [this, key] { fsync_directory(key); }});
  }
}

}  // namespace zcrecv::output
