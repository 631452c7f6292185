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
      [](int fd) { return sys::fsync(fd); },
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
  std::lock_guard lock(mutex_);
  if (strand->busy_) {
    strand->waiting_.push_back(std::move(job));
    return;
  }
  strand->busy_ = true;
  strand->job_running_ = true;
  enqueue(Task{strand, std::move(job)});
}

void SyncStage::commit_in_directory(const std::shared_ptr<Strand>& strand,
                                    std::shared_ptr<const sys::UniqueFd> directory, Step step,
                                    Committed committed) {
  auto info = sys::fstat(directory->get());
  if (!info) {
    committed(std::move(info).error());
    return;
  }
  const DirectoryKey key{info->st_dev, info->st_ino};
  std::lock_guard lock(mutex_);
  ++strand->steps_held_;
  DirectoryBatch& batch = directories_[key];
  batch.waiting.push_back(Waiter{strand, std::move(directory), std::move(step),
                                 std::move(committed)});
  if (!batch.running) {
    batch.running = true;
    enqueue(Task{nullptr, [this, key] { run_batch(key); }});
  }
}

void SyncStage::enqueue(Task task) {
  ready_.push_back(std::move(task));
  ready_changed_.notify_one();
}

void SyncStage::advance(const std::shared_ptr<Strand>& strand) {
  if (strand->job_running_ || strand->steps_held_ > 0) {
    return;
  }
  if (strand->waiting_.empty()) {
    strand->busy_ = false;
    return;
  }
  strand->job_running_ = true;
  ready_.push_back(Task{strand, std::move(strand->waiting_.front())});
  strand->waiting_.pop_front();
  ready_changed_.notify_one();
}

void SyncStage::run_thread() {
  std::unique_lock lock(mutex_);
  for (;;) {
    // A stop waits for the queue to empty: a running job may still queue the next of its strand
    // or a directory batch, and the thread that ran it takes that up.
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
      task.strand->job_running_ = false;
      advance(task.strand);
    }
  }
}

void SyncStage::run_batch(DirectoryKey key) {
  std::vector<Waiter> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(directories_[key].waiting);
  }
  // One thread renames them all, in the order they came: no two contend for the directory's
  // lock, and each strand may go on as soon as its rename is done.
  std::vector<bool> done(batch.size());
  std::size_t renamed = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    done[i] = batch[i].step();
    renamed += done[i] ? 1 : 0;
    std::lock_guard lock(mutex_);
    --batch[i].strand->steps_held_;
    advance(batch[i].strand);
  }
  // Every rename of the batch came before this fsync starts; the ones that come while it runs
  // wait for the next.
  if (renamed > 0) {
    const sys::Result<void> synced = calls_.fsync_directory(batch.front().directory->get());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (done[i]) {
        batch[i].committed(synced);
      }
    }
  }
  std::lock_guard lock(mutex_);
  auto found = directories_.find(key);
  if (found->second.waiting.empty()) {
    directories_.erase(found);
  } else {
    enqueue(Task{nullptr, [this, key] { run_batch(key); }});
  }
}

}  // namespace zcrecv::output
