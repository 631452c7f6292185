#include "output/rotating_file.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "output/test_files.hpp"
#include "support/error_text.hpp"
#include "support/gate.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::output {
namespace {

using namespace std::chrono;
using test_files::read_file;
using test_files::tree;

constexpr system_clock::time_point kStart =
    sys_days{year{2026} / November / 24} + hours{10} + minutes{55} + microseconds{123456};

// An output directory, a template and a clock the test moves by hand.
class Fixture {
 public:
  Fixture() {
    auto opened = OutputDirectory::open(temp_.path());
    REQUIRE_MESSAGE(opened.ok(), test::error_text(opened));
    directory_.emplace(std::move(*opened));
  }

  RotatingFile make(RotationSettings settings, std::string_view text = "{conn}-{seq}.bin",
                    ConnectionNames names = {"ingest", "peer", "c1", "host",
                                             {ClientCn::Kind::kVerified, "cn"}}) {
    auto parsed = NameTemplate::parse(text);
    REQUIRE_MESSAGE(parsed.ok(), test::error_text(parsed));
    RotatingFile file(*directory_, *parsed, std::move(names), settings, [this] { return now; });
    file.on_published([this](const PublishedFile& done) { published.push_back(done.name); });
    return file;
  }

  // Writes `data` the way the connection does: never more than room(), rotating when due.
  void feed(RotatingFile& file, const std::string& data, std::size_t chunk) {
    std::size_t offset = 0;
    while (offset < data.size()) {
      if (file.rotation_due(now)) {
        auto rotated = file.rotate();
        REQUIRE_MESSAGE(rotated.ok(), test::error_text(rotated));
      }
      auto fd = file.sink();
      REQUIRE_MESSAGE(fd.ok(), test::error_text(fd));
      std::size_t length = std::min<std::uint64_t>({chunk, data.size() - offset, file.room()});
      REQUIRE(length > 0);
      REQUIRE(::write(*fd, data.data() + offset, length) == static_cast<ssize_t>(length));
      file.add_written(length);
      offset += length;
    }
    if (file.rotation_due(now)) {
      auto rotated = file.rotate();
      REQUIRE_MESSAGE(rotated.ok(), test::error_text(rotated));
    }
  }

  void finish(RotatingFile& file, Completion completion = Completion::kComplete) {
    auto finished = file.finish(completion);
    REQUIRE_MESSAGE(finished.ok(), test::error_text(finished));
  }

  // The published files in {seq} order, concatenated.
  [[nodiscard]] std::string concatenation() const {
    std::string all;
    for (const std::string& name : published) {
      all += read_file(temp_ / name);
    }
    return all;
  }

  [[nodiscard]] std::set<std::string> files() const { return tree(temp_.path()); }
  [[nodiscard]] std::string content(const std::string& name) const {
    return read_file(temp_ / name);
  }

  [[nodiscard]] const std::filesystem::path& root() const { return temp_.path(); }

  system_clock::time_point now = kStart;
  std::vector<std::string> published;

 private:
  test::TempDir temp_;
  std::optional<OutputDirectory> directory_;
};

std::string pattern(std::size_t size) {
  std::string data;
  for (std::size_t i = 0; i < size; ++i) {
    data += static_cast<char>('a' + (i * 7) % 26);
  }
  return data;
}

RotationSettings no_sync() {
  RotationSettings settings;
  settings.sync = SyncMode::kNone;
  return settings;
}

TEST_CASE("size rotation: full files of max_file_size, then the remainder, nothing lost") {
  Fixture fixture;
  RotationSettings settings = no_sync();
  settings.max_file_size = 10;
  RotatingFile file = fixture.make(settings);
  CHECK(file.room() == 10);
  std::string data = pattern(35);
  fixture.feed(file, data, 7);
  CHECK(file.room() == 5);
  fixture.finish(file);

  CHECK(fixture.published == std::vector<std::string>{"c1-000000.bin", "c1-000001.bin",
                                                      "c1-000002.bin", "c1-000003.bin"});
  CHECK(fixture.content("c1-000000.bin") == data.substr(0, 10));
  CHECK(fixture.content("c1-000001.bin") == data.substr(10, 10));
  CHECK(fixture.content("c1-000002.bin") == data.substr(20, 10));
  CHECK(fixture.content("c1-000003.bin") == data.substr(30));
  CHECK(fixture.concatenation() == data);
  CHECK(file.files_published() == 4);
  CHECK(file.bytes() == 35);
  CHECK(fixture.files().size() == 4);
}

TEST_CASE("a stream ending exactly at a size boundary leaves no empty extra file") {
  Fixture fixture;
  RotationSettings settings = no_sync();
  settings.max_file_size = 10;
  settings.keep_empty = true;
  RotatingFile file = fixture.make(settings);
  std::string data = pattern(30);
  fixture.feed(file, data, 10);
  // The third file was published at its boundary; the next one opens only on demand.
  CHECK_FALSE(file.has_open_file());
  fixture.finish(file);
  CHECK(fixture.files() ==
        std::set<std::string>{"c1-000000.bin", "c1-000001.bin", "c1-000002.bin"});
  CHECK(fixture.concatenation() == data);
}

TEST_CASE("a stream cut exactly at a size boundary publishes its next file, empty, .incomplete") {
  Fixture fixture;
  RotationSettings settings = no_sync();
  settings.max_file_size = 10;
  // Even without keep_empty: the empty file is the only sign of the cut.
  settings.keep_empty = false;
  RotatingFile file = fixture.make(settings);
  std::string data = pattern(20);
  fixture.feed(file, data, 10);
  CHECK_FALSE(file.has_open_file());
  fixture.finish(file, Completion::kIncomplete);
  CHECK(fixture.published ==
        std::vector<std::string>{"c1-000000.bin", "c1-000001.bin", "c1-000002.bin.incomplete"});
  CHECK(fixture.content("c1-000002.bin.incomplete").empty());
  CHECK(fixture.concatenation() == data);
}

TEST_CASE("a cut before any file was opened publishes nothing without keep_empty") {
  Fixture fixture;
  RotationSettings settings = no_sync();
  settings.keep_empty = false;
  RotatingFile file = fixture.make(settings);
  fixture.finish(file, Completion::kIncomplete);
  CHECK(fixture.published.empty());
  CHECK(fixture.files().empty());
}

TEST_CASE("without a size limit room() is unlimited and rotation_due never says size") {
  Fixture fixture;
  RotatingFile file = fixture.make(no_sync());
  CHECK(file.room() == std::numeric_limits<std::uint64_t>::max());
  fixture.feed(file, pattern(100000), 65536);
  CHECK_FALSE(file.rotation_due(fixture.now + hours{24 * 365}));
  CHECK_FALSE(file.rotation_deadline().has_value());
  fixture.finish(file);
  CHECK(fixture.published == std::vector<std::string>{"c1-000000.bin"});
  CHECK(fixture.content("c1-000000.bin") == pattern(100000));
}

TEST_CASE("time rotation is due rotate_interval after the file was opened") {
  Fixture fixture;
  RotationSettings settings = no_sync();
  settings.rotate_interval = seconds{5};
  RotatingFile file = fixture.make(settings, "{seq}-{time}.bin");
  CHECK_FALSE(file.rotation_deadline().has_value());
  CHECK_FALSE(file.rotation_due(kStart + hours{1}));

  fixture.feed(file, "first", 64);
  REQUIRE(file.rotation_deadline().has_value());
  CHECK(*file.rotation_deadline() == kStart + seconds{5});
  CHECK_FALSE(file.rotation_due(kStart + milliseconds{4999}));
  CHECK(file.rotation_due(kStart + seconds{5}));

  fixture.now = kStart + seconds{5};
  REQUIRE(file.rotate().ok());
  CHECK_FALSE(file.rotation_deadline().has_value());
  fixture.now = kStart + seconds{7};
  fixture.feed(file, "second", 64);
  CHECK(*file.rotation_deadline() == kStart + seconds{12});
  fixture.finish(file);

  CHECK(fixture.published == std::vector<std::string>{"000000-20261124T105500.123456Z.bin",
                                                      "000001-20261124T105507.123456Z.bin"});
  CHECK(fixture.concatenation() == "firstsecond");
}

TEST_CASE("keep_empty = false: a file that got no byte is discarded, its {seq} reused") {
  Fixture fixture;
  RotationSettings settings = no_sync();
  settings.rotate_interval = seconds{1};
  RotatingFile file = fixture.make(settings);
  REQUIRE(file.sink().ok());
  CHECK(fixture.files() == std::set<std::string>{".c1-000000.bin.part"});
  REQUIRE(file.rotate().ok());
  CHECK(fixture.files().empty());
  fixture.feed(file, "data", 64);
  fixture.finish(file);
  CHECK(fixture.files() == std::set<std::string>{"c1-000000.bin"});

  RotatingFile silent = fixture.make(settings, "silent-{seq}.bin");
  REQUIRE(silent.sink().ok());
  fixture.finish(silent);
  RotatingFile never_opened = fixture.make(settings, "never-{seq}.bin");
  fixture.finish(never_opened);
  CHECK(fixture.files() == std::set<std::string>{"c1-000000.bin"});
  CHECK(silent.files_published() == 0);
  CHECK(never_opened.files_published() == 0);
}

TEST_CASE("keep_empty = true: empty files are published, and a silent connection gets one") {
  Fixture fixture;
  RotationSettings settings = no_sync();
  settings.keep_empty = true;
  RotatingFile never_opened = fixture.make(settings, "never-{seq}.bin");
  fixture.finish(never_opened);
  CHECK(fixture.files() == std::set<std::string>{"never-000000.bin"});
  CHECK(fixture.content("never-000000.bin").empty());

  RotatingFile file = fixture.make(settings);
  REQUIRE(file.sink().ok());
  REQUIRE(file.rotate().ok());
  fixture.feed(file, "data", 64);
  fixture.finish(file);
  CHECK(fixture.published ==
        std::vector<std::string>{"never-000000.bin", "c1-000000.bin", "c1-000001.bin"});
  CHECK(fixture.content("c1-000000.bin").empty());
  CHECK(fixture.content("c1-000001.bin") == "data");
}

TEST_CASE("finish(kIncomplete) marks only the last file, with publish durability") {
  Fixture fixture;
  RotationSettings settings;
  settings.max_file_size = 4;
  settings.sync = SyncMode::kPublish;
  RotatingFile file = fixture.make(settings);
  fixture.feed(file, "abcdefg", 64);
  fixture.finish(file, Completion::kIncomplete);
  CHECK(fixture.published == std::vector<std::string>{"c1-000000.bin", "c1-000001.bin.incomplete"});
  CHECK(fixture.content("c1-000000.bin") == "abcd");
  CHECK(fixture.content("c1-000001.bin.incomplete") == "efg");
  CHECK(fixture.files().size() == 2);
}

TEST_CASE("the name fields and subdirectories come from the template") {
  Fixture fixture;
  RotatingFile file = fixture.make(no_sync(), std::string(kDefaultNameTemplate));
  fixture.feed(file, "x", 64);
  fixture.finish(file);
  CHECK(fixture.published ==
        std::vector<std::string>{"ingest/2026-11-24/20261124T105500.123456Z-peer-c1-000000.bin"});
}

TEST_CASE("a name that cannot be created sends the stream to the fallback name, every byte kept") {
  Fixture fixture;
  // The CN names a file where the template needs a directory: ENOTDIR.
  test_files::write_file(fixture.root() / "x", "planted");
  RotationSettings settings = no_sync();
  settings.max_file_size = 4;
  RotatingFile file =
      fixture.make(settings, "{client_cn}/{conn}-{seq}.bin",
                   ConnectionNames{"ingest", "peer", "c1", "host", {ClientCn::Kind::kVerified, "x"}});
  const std::string data = pattern(10);
  fixture.feed(file, data, 3);
  fixture.finish(file);
  // Every file of the connection, not only the first, takes the fallback name.
  CHECK(fixture.published == std::vector<std::string>{
                                 "fallback-ingest-20261124T105500.123456Z-c1-000000.bin",
                                 "fallback-ingest-20261124T105500.123456Z-c1-000001.bin",
                                 "fallback-ingest-20261124T105500.123456Z-c1-000002.bin"});
  CHECK(fixture.concatenation() == data);
  CHECK(fixture.content("x") == "planted");
}

TEST_CASE("on_created sees every new file before its first byte, and its error fails sink()") {
  Fixture fixture;
  RotationSettings settings = no_sync();
  settings.max_file_size = 4;
  RotatingFile file = fixture.make(settings);
  std::vector<std::pair<std::uint64_t, off_t>> created;
  file.on_created([&created](int fd, std::uint64_t seq) -> sys::Result<void> {
    struct stat info {};
    REQUIRE(::fstat(fd, &info) == 0);
    created.emplace_back(seq, info.st_size);
    return {};
  });
  fixture.feed(file, "abcdefg", 64);
  fixture.finish(file);
  CHECK(created == std::vector<std::pair<std::uint64_t, off_t>>{{0, 0}, {1, 0}});

  RotatingFile refused = fixture.make(settings, "refused-{seq}.bin");
  refused.on_created([](int /*fd*/, std::uint64_t /*seq*/) -> sys::Result<void> {
    return sys::Error::from_errno(ENOSPC, "fsetxattr");
  });
  auto sink = refused.sink();
  REQUIRE_FALSE(sink.ok());
  CHECK(sink.error().errno_value() == ENOSPC);
  CHECK(sink.error().message() ==
        "output file \"refused-000000.bin\": fsetxattr: No space left on device");
  // No file is left without what the callback was to give it.
  CHECK(fixture.files() == std::set<std::string>{"c1-000000.bin", "c1-000001.bin"});
}

// The owner's event loop, for a file on the sync stage: the stage posts completions here, and
// the test runs them on its own thread, as a worker's loop would.
class Mailbox {
 public:
  RotatingFile::Post post() {
    return [this](std::function<void()> task) {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
      changed_.notify_all();
    };
  }
  // Runs posted tasks until `condition` holds; false if it does not within 20 s.
  bool run_until(const std::function<bool()>& condition) {
    const auto deadline = steady_clock::now() + seconds(20);
    while (!condition()) {
      std::unique_lock lock(mutex_);
      if (!changed_.wait_until(lock, deadline, [this] { return !tasks_.empty(); })) {
        return false;
      }
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
    }
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> tasks_;
};

std::unique_ptr<SyncStage> start_stage(SyncCalls calls) {
  auto stage = SyncStage::start(2, std::move(calls));
  REQUIRE_MESSAGE(stage.ok(), test::error_text(stage));
  return std::move(*stage);
}

RotationSettings durable(std::uint64_t max_file_size) {
  RotationSettings settings;
  settings.max_file_size = max_file_size;
  settings.sync = SyncMode::kPublish;
  return settings;
}

TEST_CASE("on the sync stage, rotation hands files over at once, and they publish in {seq} order") {
  Fixture fixture;
  test::Gate first_sync;
  std::atomic<int> fdatasyncs{0};
  SyncCalls calls = SyncCalls::system();
  calls.fdatasync = [&](int fd) {
    if (++fdatasyncs == 1) {
      first_sync.pass();
    }
    return sys::fdatasync(fd);
  };
  auto stage = start_stage(calls);
  Mailbox loop;
  RotatingFile file = fixture.make(durable(10));
  file.use_sync_stage(*stage, loop.post());
  std::vector<nanoseconds> latencies;
  file.on_published([&](const PublishedFile& done) {
    fixture.published.push_back(done.name);
    latencies.push_back(done.latency);
  });
  int progress = 0;
  file.on_sync_progress([&] { ++progress; });
  std::string data = pattern(35);
  // The first file's fdatasync is held: rotation and finish still return at once.
  fixture.feed(file, data, 7);
  fixture.finish(file);
  REQUIRE(first_sync.wait_for_arrivals(1));
  CHECK(file.pending_publishes() == 4);
  CHECK(file.files_published() == 0);
  CHECK(fixture.published.empty());
  CHECK(fixture.files() == std::set<std::string>{".c1-000000.bin.part", ".c1-000001.bin.part",
                                                 ".c1-000002.bin.part", ".c1-000003.bin.part"});
  first_sync.open();
  REQUIRE(loop.run_until([&] { return file.pending_publishes() == 0; }));
  CHECK(fixture.published == std::vector<std::string>{"c1-000000.bin", "c1-000001.bin",
                                                      "c1-000002.bin", "c1-000003.bin"});
  CHECK(fixture.concatenation() == data);
  CHECK(file.files_published() == 4);
  CHECK(progress == 4);
  CHECK(fdatasyncs.load() == 4);
  REQUIRE(latencies.size() == 4);
  CHECK(latencies[0] > nanoseconds(0));
}

TEST_CASE("on the sync stage, an fdatasync error never publishes the file as complete") {
  Fixture fixture;
  std::atomic<int> fdatasyncs{0};
  SyncCalls calls = SyncCalls::system();
  calls.fdatasync = [&](int fd) -> sys::Result<void> {
    if (++fdatasyncs == 2) {
      return sys::Error::from_errno(EIO, "fdatasync");
    }
    return sys::fdatasync(fd);
  };
  auto stage = start_stage(calls);
  Mailbox loop;
  RotatingFile file = fixture.make(durable(4));
  file.use_sync_stage(*stage, loop.post());
  std::vector<std::string> failures;
  file.on_publish_failed([&](const sys::Error& error) { failures.push_back(error.message()); });
  fixture.feed(file, "abcdefghij", 64);
  fixture.finish(file);
  REQUIRE(loop.run_until([&] { return file.pending_publishes() == 0; }));
  CHECK(fixture.published == std::vector<std::string>{"c1-000000.bin", "c1-000002.bin"});
  REQUIRE(failures.size() == 1);
  CHECK(failures[0] ==
        "output file \".c1-000001.bin.part\": fdatasync: Input/output error; published as "
        "\"c1-000001.bin.incomplete\", whose bytes may not all be on disk");
  CHECK(fixture.content("c1-000001.bin.incomplete") == "efgh");
  CHECK(file.files_published() == 2);
}

TEST_CASE("on the sync stage, writeback starts every writeback_bytes and bounds the unsynced") {
  Fixture fixture;
  struct Range {
    std::uint64_t offset;
    std::uint64_t length;
    unsigned int flags;
  };
  std::mutex mutex;
  std::vector<Range> ranges;
  test::Gate waits;
  SyncCalls calls = SyncCalls::system();
  calls.sync_file_range = [&](int fd, std::uint64_t offset, std::uint64_t length,
                              unsigned int flags) {
    {
      std::lock_guard lock(mutex);
      ranges.push_back(Range{offset, length, flags});
    }
    if ((flags & SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
      waits.pass();
    }
    return sys::sync_file_range(fd, offset, length, flags);
  };
  auto stage = start_stage(calls);
  Mailbox loop;
  RotationSettings settings = durable(0);
  settings.writeback_bytes = 4;
  RotatingFile file = fixture.make(settings);
  file.use_sync_stage(*stage, loop.post());
  int progress = 0;
  file.on_sync_progress([&] { ++progress; });
  CHECK(file.unsynced_room() == 8);
  fixture.feed(file, "abcdefgh", 64);
  // Two ranges written, none known to be on the disk: no room until the second job has waited
  // for the first range (held here).
  CHECK(file.unsynced_room() == 0);
  REQUIRE(waits.wait_for_arrivals(1));
  CHECK(file.unsynced_room() == 0);
  waits.open();
  REQUIRE(loop.run_until([&] { return progress == 1; }));
  CHECK(file.unsynced_room() == 4);
  fixture.finish(file);
  REQUIRE(loop.run_until([&] { return file.pending_publishes() == 0; }));
  CHECK(fixture.content("c1-000000.bin") == "abcdefgh");
  std::lock_guard lock(mutex);
  REQUIRE(ranges.size() == 3);
  CHECK(ranges[0].offset == 0);
  CHECK(ranges[0].length == 4);
  CHECK(ranges[0].flags == SYNC_FILE_RANGE_WRITE);
  CHECK(ranges[1].offset == 4);
  CHECK(ranges[1].flags == SYNC_FILE_RANGE_WRITE);
  CHECK(ranges[2].offset == 0);
  CHECK(ranges[2].flags ==
        (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
}

TEST_CASE("a file destroyed with publishes in flight: the stage still publishes them") {
  Fixture fixture;
  auto stage = start_stage(SyncCalls::system());
  Mailbox loop;
  {
    RotatingFile file = fixture.make(durable(3));
    file.use_sync_stage(*stage, loop.post());
    file.on_published([](const PublishedFile&) { FAIL("reported to an owner that is gone"); });
    fixture.feed(file, "abcdef", 64);
  }
  stage.reset();
  CHECK(loop.run_until([] { return true; }));
  CHECK(fixture.files() == std::set<std::string>{"c1-000000.bin", "c1-000001.bin"});
}

}  // namespace
}  // namespace zcrecv::output
