#include "handoff/pending_scan.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "event/timer.hpp"
#include "handoff/handoff_record.hpp"
#include "support/error_text.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::handoff {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Creates `root/name` with a hand-off record in `state`, or none.
void make_file(const fs::path& root, const std::string& name, std::optional<HandoffState> state) {
  fs::create_directories((root / name).parent_path());
  std::ofstream(root / name) << name;
  if (state) {
    auto file = sys::open((root / name).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(file.ok());
    REQUIRE(write_record(file->get(), HandoffRecord{*state, "l", "p", "c", 0}).ok());
  }
}

struct Walk {
  std::vector<std::vector<std::string>> batches;
  std::optional<ScanReport> report;
};

// Walks `root` on a loop of its own until the walk is done; `go_on` is each batch's verdict.
Walk walk(const fs::path& root, const std::function<bool(const Walk&)>& go_on) {
  auto loop = event::EventLoop::create();
  REQUIRE(loop.ok());
  auto root_fd = sys::open(root.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  REQUIRE(root_fd.ok());
  Walk result;
  event::Timer give_up(**loop, [&] { (*loop)->stop(); });
  give_up.arm(30s);
  auto scan = PendingScan::start(
      **loop, root_fd->get(),
      [&](std::vector<std::string> names) {
        result.batches.push_back(std::move(names));
        return go_on(result);
      },
      [&](const ScanReport& report) {
        result.report = report;
        (*loop)->stop();
      });
  REQUIRE_MESSAGE(scan.ok(), test::error_text(scan));
  REQUIRE((*loop)->run().ok());
  REQUIRE(result.report.has_value());
  return result;
}

TEST_CASE("handoff walk: every pending file of the tree, in batches, and nothing else") {
  test::TempDir dir;
  std::set<std::string> pending;
  for (int i = 0; i < 600; ++i) {
    const std::string name =
        "l" + std::to_string(i % 3) + "/d" + std::to_string(i % 7) + "/f" + std::to_string(i);
    make_file(dir.path(), name, HandoffState::kPending);
    pending.insert(name);
  }
  make_file(dir.path(), "top.bin", HandoffState::kPending);
  pending.insert("top.bin");
  make_file(dir.path(), "done.bin", HandoffState::kDone);
  make_file(dir.path(), "unmarked.bin", std::nullopt);
  make_file(dir.path(), "l0/.partial.bin.part", HandoffState::kPending);
  make_file(dir.path(), ".hidden/x.bin", HandoffState::kPending);
  pending.insert(".hidden/x.bin");
  fs::create_directory_symlink(dir / "l1", dir / "link");

  const Walk result = walk(dir.path(), [](const Walk&) { return true; });
  std::set<std::string> found;
  for (const auto& batch : result.batches) {
    CHECK(batch.size() <= PendingScan::kBatchSize);
    found.insert(batch.begin(), batch.end());
  }
  CHECK(result.batches.size() == 3);
  CHECK(found == pending);
  CHECK(result.report->found == pending.size());
  CHECK(result.report->complete);
  CHECK(result.report->error_count == 0);
}

TEST_CASE("handoff walk: a false verdict stops it after that batch") {
  test::TempDir dir;
  for (int i = 0; i < 300; ++i) {
    make_file(dir.path(), "f" + std::to_string(i), HandoffState::kPending);
  }
  const Walk result = walk(dir.path(), [](const Walk&) { return false; });
  REQUIRE(result.batches.size() == 1);
  CHECK(result.batches.front().size() == PendingScan::kBatchSize);
  CHECK_FALSE(result.report->complete);
}

TEST_CASE("handoff walk: a file with a foreign attribute is reported, the walk goes on") {
  test::TempDir dir;
  make_file(dir.path(), "a.bin", HandoffState::kPending);
  make_file(dir.path(), "b.bin", std::nullopt);
  auto file = sys::open((dir / "b.bin").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(sys::fsetxattr(file->get(), kAttribute, "not a record").ok());
  const Walk result = walk(dir.path(), [](const Walk&) { return true; });
  REQUIRE(result.batches.size() == 1);
  CHECK(result.batches.front() == std::vector<std::string>{"a.bin"});
  REQUIRE(result.report->errors.size() == 1);
  CHECK(result.report->errors.front().message() ==
        "\"b.bin\": user.zcrecv.handoff: not a hand-off record");
}

TEST_CASE("handoff walk: destroyed half-way, it stops and never calls back") {
  test::TempDir dir;
  for (int i = 0; i < 600; ++i) {
    make_file(dir.path(), "f" + std::to_string(i), HandoffState::kPending);
  }
  auto loop = event::EventLoop::create();
  REQUIRE(loop.ok());
  auto root_fd = sys::open(dir.path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  REQUIRE(root_fd.ok());
  bool called = false;
  auto scan = PendingScan::start(
      **loop, root_fd->get(),
      [&](std::vector<std::string> /*names*/) {
        called = true;
        return true;
      },
      [&](const ScanReport& /*report*/) { called = true; });
  REQUIRE(scan.ok());
  // The first batch is posted and waits for a verdict the loop never gives.
  scan->reset();
  event::Timer soon(**loop, [&] { (*loop)->stop(); });
  soon.arm(0ns);
  REQUIRE((*loop)->run().ok());
  CHECK_FALSE(called);
}

}  // namespace
}  // namespace zcrecv::handoff
