#include "output/sync_stage.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "support/error_text.hpp"
#include "support/gate.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::output {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<SyncStage> start_stage(unsigned threads, SyncCalls calls = SyncCalls::system()) {
  auto stage = SyncStage::start(threads, std::move(calls));
  REQUIRE_MESSAGE(stage.ok(), test::error_text(stage));
  return std::move(*stage);
}

std::shared_ptr<const sys::UniqueFd> open_directory(const std::filesystem::path& path) {
  auto fd = sys::open(path.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  REQUIRE_MESSAGE(fd.ok(), test::error_text(fd));
  return std::make_shared<const sys::UniqueFd>(std::move(*fd));
}

// Results that sync threads report, waited for by the test.
class Outcomes {
 public:
  void add(int value) {
    std::lock_guard lock(mutex_);
    values_.push_back(value);
    changed_.notify_all();
  }
  bool wait_for(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 20s, [&] { return values_.size() >= count; });
  }
  std::vector<int> values() {
    std::lock_guard lock(mutex_);
    return values_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<int> values_;
};

TEST_CASE("sync stage: the jobs of one strand run one at a time, in order") {
  auto stage = start_stage(4);
  auto strand = stage->make_strand();
  Outcomes order;
  std::atomic<int> running{0};
  std::atomic<int> most_at_once{0};
  for (int i = 0; i < 50; ++i) {
    stage->submit(strand, [&, i] {
      int now = ++running;
      int seen = most_at_once.load();
      while (now > seen && !most_at_once.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(1ms);  // Work that takes time, so overlaps would show.
      --running;
      order.add(i);
    });
  }
  REQUIRE(order.wait_for(50));
  std::vector<int> expected(50);
  for (int i = 0; i < 50; ++i) {
    expected[static_cast<std::size_t>(i)] = i;
  }
  CHECK(order.values() == expected);
  CHECK(most_at_once.load() == 1);
}

TEST_CASE("sync stage: strands run side by side: a held job does not hold another strand") {
  auto stage = start_stage(2);
  auto held_strand = stage->make_strand();
  auto free_strand = stage->make_strand();
  test::Gate gate;
  Outcomes done;
  stage->submit(held_strand, [&] {
    gate.pass();
    done.add(1);
  });
  stage->submit(held_strand, [&] { done.add(2); });
  REQUIRE(gate.wait_for_arrivals(1));
  stage->submit(free_strand, [&] { done.add(3); });
  REQUIRE(done.wait_for(1));
  CHECK(done.values() == std::vector<int>{3});
  gate.open();
  REQUIRE(done.wait_for(3));
  CHECK(done.values() == std::vector<int>{3, 1, 2});
}

// What the stage's threads did, in order.
class Events {
 public:
  void add(std::string event) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  std::vector<std::string> list() {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> events_;
};

TEST_CASE("sync stage: steps queued on a directory together share one fsync (group commit)") {
  test::TempDir dir;
  test::Gate first_fsync;
  Events events;
  std::atomic<int> fsyncs{0};
  SyncCalls calls = SyncCalls::system();
  calls.fsync_directory = [&](int fd) {
    const int n = ++fsyncs;
    events.add("fsync " + std::to_string(n));
    if (n == 1) {
      first_fsync.pass();
    }
    return sys::fsync(fd);
  };
  auto stage = start_stage(4, calls);
  Outcomes committed;
  auto commit = [&](int i) {
    // Each through a descriptor of its own, as files in a subdirectory have.
    stage->commit_in_directory(
        stage->make_strand(), open_directory(dir.path()),
        [&events, i] {
          events.add("step " + std::to_string(i));
          return true;
        },
        [&committed, i](const sys::Result<void>& result) { committed.add(result ? i : -i); });
  };
  // The first step's fsync is held; two more steps come meanwhile: they wait for an fsync that
  // starts after them, and share it.
  commit(1);
  REQUIRE(first_fsync.wait_for_arrivals(1));
  commit(2);
  commit(3);
  CHECK(committed.values().empty());
  first_fsync.open();
  REQUIRE(committed.wait_for(3));
  CHECK(committed.values() == std::vector<int>{1, 2, 3});
  CHECK(events.list() ==
        std::vector<std::string>{"step 1", "fsync 1", "step 2", "step 3", "fsync 2"});
}

TEST_CASE("sync stage: a strand's next job waits until the step its job queued has run") {
  test::TempDir dir;
  auto stage = start_stage(3);
  auto strand = stage->make_strand();
  test::Gate step_gate;
  Events events;
  Outcomes done;
  stage->submit(strand, [&, raw = stage.get()] {
    // Before the step is queued: another thread may run it at once.
    events.add("job 1");
    raw->commit_in_directory(
        strand, open_directory(dir.path()),
        [&] {
          step_gate.pass();
          events.add("step");
          return true;
        },
        [&](const sys::Result<void>&) { done.add(1); });
  });
  stage->submit(strand, [&] {
    events.add("job 2");
    done.add(2);
  });
  REQUIRE(step_gate.wait_for_arrivals(1));
  CHECK(events.list() == std::vector<std::string>{"job 1"});
  step_gate.open();
  REQUIRE(done.wait_for(2));
  CHECK(events.list() == std::vector<std::string>{"job 1", "step", "job 2"});
}

TEST_CASE("sync stage: different directories are fsynced separately, each once") {
  test::TempDir dir;
  std::filesystem::create_directory(dir / "a");
  std::filesystem::create_directory(dir / "b");
  std::mutex mutex;
  std::vector<int> synced;
  SyncCalls calls = SyncCalls::system();
  calls.fsync_directory = [&](int fd) {
    std::lock_guard lock(mutex);
    synced.push_back(fd);
    return sys::fsync(fd);
  };
  auto stage = start_stage(2, calls);
  Outcomes committed;
  auto a = open_directory(dir / "a");
  auto b = open_directory(dir / "b");
  stage->commit_in_directory(stage->make_strand(), a, [] { return true; },
                             [&](const sys::Result<void>&) { committed.add(1); });
  stage->commit_in_directory(stage->make_strand(), b, [] { return true; },
                             [&](const sys::Result<void>&) { committed.add(2); });
  REQUIRE(committed.wait_for(2));
  std::lock_guard lock(mutex);
  REQUIRE(synced.size() == 2);
  CHECK(synced[0] != synced[1]);
}

TEST_CASE("sync stage: a failed directory fsync is reported, a failed step waits for none") {
  test::TempDir dir;
  std::atomic<int> fsyncs{0};
  SyncCalls calls = SyncCalls::system();
  calls.fsync_directory = [&](int /*fd*/) -> sys::Result<void> {
    ++fsyncs;
    return sys::Error::from_errno(EIO, "fsync");
  };
  auto stage = start_stage(1, calls);
  Outcomes committed;
  auto strand = stage->make_strand();
  stage->commit_in_directory(strand, open_directory(dir.path()), [] { return false; },
                             [&](const sys::Result<void>&) { committed.add(-1); });
  stage->submit(strand, [&] { committed.add(0); });
  REQUIRE(committed.wait_for(1));
  CHECK(fsyncs.load() == 0);
  stage->commit_in_directory(strand, open_directory(dir.path()), [] { return true; },
                             [&](const sys::Result<void>& result) {
                               committed.add(result ? 1 : result.error().errno_value());
                             });
  REQUIRE(committed.wait_for(2));
  CHECK(committed.values() == std::vector<int>{0, EIO});
}

TEST_CASE("sync stage: destroying it runs every job queued first, and what they lead to") {
  test::TempDir dir;
  std::atomic<int> ran{0};
  std::atomic<int> committed{0};
  {
    auto stage = start_stage(2);
    std::vector<std::shared_ptr<SyncStage::Strand>> strands{stage->make_strand(),
                                                            stage->make_strand()};
    for (int i = 0; i < 40; ++i) {
      const auto& strand = strands[static_cast<std::size_t>(i % 2)];
      stage->submit(strand, [&, strand, raw = stage.get()] {
        std::this_thread::sleep_for(1ms);  // Work that takes time: most jobs are still queued.
        ++ran;
        raw->commit_in_directory(strand, open_directory(dir.path()), [] { return true; },
                                 [&](const sys::Result<void>&) { ++committed; });
      });
    }
  }
  CHECK(ran.load() == 40);
  CHECK(committed.load() == 40);
}

}  // namespace
}  // namespace zcrecv::output
