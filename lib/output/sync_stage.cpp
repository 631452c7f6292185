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
  // A busy strand queues the job behind its others instead of handing it to a free thread: jobs of
  // one strand (a connection's files) must run one at a time and in order, so that its files
  // publish in {seq} order and a receipt counts them all (docs/design.md §4.7).
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
  // Directories are told apart by device and inode, not by descriptor or path: two files of one
  // directory may hold different descriptors (a reload reopened the output directory), and a path
  // may name another directory after a rename.
  const DirectoryKey key{info->st_dev, info->st_ino};
  std::lock_guard lock(mutex_);
  // The strand stays held until its rename is done, so its next job (the next file's fdatasync) may
  // run only then: a later file of the connection cannot be renamed before this one.
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
    // The job's captures (file and directory descriptors, the completion) are released here,
    // outside the lock, so that a destructor that closes a descriptor never runs under the stage's
    // mutex.
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
  // A batch whose renames all failed changed nothing in the directory: there is nothing to make
  // durable, and each failure was already reported by its step.
  if (renamed > 0) {
    // Any descriptor of the batch will do: they all refer to the same directory, and fsync makes
    // its entries durable whichever descriptor asks. A failure fails every rename of the batch:
    // none of them is known to be durable.
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
