#include "handoff/hook_runner.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/error_text.hpp"
#include "support/files.hpp"
#include "support/loop_thread.hpp"
#include "support/poll_until.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::handoff {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::vector<std::string> lines(const fs::path& path) {
  return test::lines_of(test::read_text(path));
}

// A runner on a loop thread of its own, over dir/out.
class Fixture {
 public:
  explicit Fixture(std::size_t max_backlog = HookRunner::kMaxBacklog) {
    auto opened = output::OutputDirectory::open(dir / "out");
    REQUIRE_MESSAGE(opened.ok(), test::error_text(opened));
    out = std::make_shared<output::OutputDirectory>(std::move(*opened));
    loop.call([&] { runner = std::make_unique<HookRunner>(loop.loop(), stats, max_backlog); });
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;
  ~Fixture() {
    loop.call([&] { runner.reset(); });
  }

  // Creates out/name with a hand-off record in `state`, or none.
  void make_file(const std::string& name,
                 std::optional<HandoffState> state = HandoffState::kPending) const {
    fs::create_directories((out->path() / name).parent_path());
    std::ofstream(out->path() / name) << "bytes of " << name;
    if (state) {
      auto file = sys::open((out->path() / name).c_str(), O_RDONLY | O_CLOEXEC);
      REQUIRE(file.ok());
      REQUIRE(write_record(file->get(), HandoffRecord{*state, "in", "peer", "c", 0}).ok());
    }
  }

  [[nodiscard]] std::optional<HandoffState> state(const std::string& name) const {
    auto file = sys::open((out->path() / name).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(file.ok());
    auto record = read_record(file->get());
    REQUIRE(record.ok());
    return record->has_value() ? std::optional((*record)->state) : std::nullopt;
  }

  // Hand-off on, the hook being `script` run by /bin/sh with the file's name as $1.
  void start(const std::string& script, unsigned concurrency = 4,
             std::chrono::nanoseconds timeout = 10s, DoneAction done = DoneAction::kKeep) {
    auto command = HookCommand::parse({"/bin/sh", "-c", script, "hook", "{name}"});
    REQUIRE_MESSAGE(command.ok(), test::error_text(command));
    loop.call([&] {
      runner->configure(HookSettings{std::move(*command), concurrency, timeout, done}, out);
    });
  }

  void wait_for(std::uint64_t succeeded, std::uint64_t failed = 0) {
    test::poll_until(
        [&] {
          return stats.succeeded.load() == succeeded && stats.failed.load() >= failed &&
                 stats.backlog.load() == 0;
        },
        std::to_string(succeeded) + " hooks succeeded");
  }

  test::TempDir dir;
  std::shared_ptr<output::OutputDirectory> out;
  HookStats stats;
  test::LoopThread loop;
  std::unique_ptr<HookRunner> runner;
};

TEST_CASE("hook runner: each pending file's hook once, then marked done, others let be") {
  Fixture fixture;
  fixture.make_file("a.bin");
  fixture.make_file("sub/b.bin");
  fixture.make_file("c.bin", HandoffState::kDone);
  fixture.make_file("d.bin", std::nullopt);
  const fs::path log = fixture.dir / "log";
  fixture.start("echo \"$1 $ZCRECV_BYTES $ZCRECV_COMPLETION\" >> " + log.string());
  fixture.make_file("e.bin.incomplete");
  // Published while the walk may be finding it too: it runs once all the same.
  fixture.runner->published(fixture.out, "e.bin.incomplete");
  fixture.wait_for(3);
  fixture.runner->published(fixture.out, "a.bin");
  fixture.runner->published(fixture.out, "gone.bin");
  fixture.make_file("f.bin");
  fixture.runner->published(fixture.out, "f.bin");
  fixture.wait_for(4);

  std::vector<std::string> ran = lines(log);
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"a.bin 14 complete", "e.bin.incomplete 25 incomplete",
                                        "f.bin 14 complete", "sub/b.bin 18 complete"});
  for (const char* name : {"a.bin", "sub/b.bin", "c.bin", "e.bin.incomplete", "f.bin"}) {
    CHECK(fixture.state(name) == HandoffState::kDone);
  }
  CHECK_FALSE(fixture.state("d.bin").has_value());
  CHECK(fixture.stats.started.load() == 4);
  CHECK(fixture.stats.failed.load() == 0);
}

TEST_CASE("hook runner: never more than on_publish_concurrency hooks at once") {
  Fixture fixture;
  for (int i = 0; i < 6; ++i) {
    fixture.make_file("f" + std::to_string(i));
  }
  const fs::path running = fixture.dir / "running";
  const fs::path counts = fixture.dir / "counts";
  fs::create_directory(running);
  fixture.start("touch " + running.string() + "/$$; ls " + running.string() + " | wc -l >> " +
                    counts.string() + "; sleep 0.3; rm " + running.string() + "/$$",
                2);
  fixture.wait_for(6);
  const std::vector<std::string> seen = lines(counts);
  REQUIRE(seen.size() == 6);
  CHECK(*std::max_element(seen.begin(), seen.end()) == "2");
}

TEST_CASE("hook runner: a failing hook runs again after the backoff until it succeeds") {
  Fixture fixture;
  fixture.make_file("a.bin");
  const fs::path count = fixture.dir / "count";
  const fs::path times = fixture.dir / "times";
  fixture.start("n=$(cat " + count.string() + " 2>/dev/null || echo 0); n=$((n + 1)); echo $n > " +
                count.string() + "; date +%s.%N >> " + times.string() +
                "; if [ $n -lt 3 ]; then echo \"not yet ($n)\" >&2; exit 1; fi");
  fixture.wait_for(1, 2);
  CHECK(fixture.stats.started.load() == 3);
  CHECK(fixture.stats.failed.load() == 2);
  const std::vector<std::string> at = lines(times);
  REQUIRE(at.size() == 3);
  CHECK(std::stod(at[1]) - std::stod(at[0]) >= 1.0);
  CHECK(std::stod(at[2]) - std::stod(at[1]) >= 2.0);
  CHECK(fixture.state("a.bin") == HandoffState::kDone);
}

TEST_CASE("hook runner: a hook past on_publish_timeout is killed with its group, then retried") {
  Fixture fixture;
  fixture.make_file("a.bin");
  const fs::path marker = fixture.dir / "first-run";
  const fs::path child = fixture.dir / "child";
  fixture.start("[ -e " + marker.string() + " ] && exit 0; touch " + marker.string() +
                    "; sleep 30 & echo $! > " + child.string() + "; wait",
                1, 300ms);
  fixture.wait_for(1, 1);
  CHECK(fixture.stats.failed.load() == 1);
  const std::vector<std::string> pid = lines(child);
  REQUIRE(pid.size() == 1);
  test::poll_until(
      [&] {
        std::ifstream stat("/proc/" + pid.front() + "/stat");
        std::string field;
        for (int i = 0; i < 3 && stat >> field; ++i) {
        }
        return !stat || field == "Z";
      },
      "the hook's background child has ended");
}

TEST_CASE("hook runner: on_publish_done = remove removes the file after success only") {
  Fixture fixture;
  fixture.make_file("good.bin");
  fixture.make_file("sub/bad.bin");
  fixture.start("case \"$1\" in *bad*) echo \"refused $1\" >&2; exit 1;; esac", 4, 10s,
                DoneAction::kRemove);
  test::poll_until(
      [&] { return fixture.stats.succeeded.load() == 1 && fixture.stats.failed.load() >= 1; },
      "one hook succeeded and one failed");
  CHECK_FALSE(fs::exists(fixture.out->path() / "good.bin"));
  CHECK(fixture.state("sub/bad.bin") == HandoffState::kPending);
}

TEST_CASE("hook runner: a stop gives running hooks their deadline, then kills them") {
  Fixture fixture;
  fixture.make_file("a.bin");
  fixture.make_file("b.bin");
  fixture.start("sleep 30", 1);
  test::poll_until([&] { return fixture.stats.started.load() == 1; }, "a hook started");
  std::atomic<bool> idle = false;
  const auto stopped_at = std::chrono::steady_clock::now();
  fixture.loop.call([&] { fixture.runner->stop(200ms, [&] { idle = true; }); });
  test::poll_until([&] { return idle.load(); }, "no hook runs any more");
  // The hook died of the SIGTERM at once, but its group gets the SIGKILL when the grace ends
  // (what it started may ignore SIGTERM), and the runner is idle only then.
  CHECK(std::chrono::steady_clock::now() - stopped_at >= HookRunner::kKillGrace);
  CHECK(fixture.stats.started.load() == 1);
  CHECK(fixture.stats.failed.load() == 1);
  CHECK(fixture.stats.backlog.load() == 0);
  CHECK(fixture.state("a.bin") == HandoffState::kPending);
  CHECK(fixture.state("b.bin") == HandoffState::kPending);

  std::atomic<bool> idle_again = false;
  fixture.loop.call([&] { fixture.runner->stop(1s, [&] { idle_again = true; }); });
  CHECK(idle_again.load());
}

TEST_CASE("hook runner: beyond the backlog cap files wait on disk, and later walks take them") {
  constexpr std::size_t kCap = 8;
  Fixture fixture(kCap);
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) {
    names.push_back("f" + std::to_string(100 + i));
    fixture.make_file(names.back());
  }
  const fs::path log = fixture.dir / "log";
  fixture.start("echo \"$1\" >> " + log.string() + "; sleep 0.01", 2);
  // Published files beyond the cap are turned away too; the walks find them.
  for (const std::string& name : names) {
    fixture.runner->published(fixture.out, name);
  }
  std::uint64_t most = 0;
  test::poll_until(
      [&] {
        most = std::max(most, fixture.stats.backlog.load());
        return fixture.stats.succeeded.load() == names.size();
      },
      "every file was handed off");
  CHECK(most <= kCap);
  std::vector<std::string> ran = lines(log);
  std::sort(ran.begin(), ran.end());
  CHECK(ran == names);
}

}  // namespace
}  // namespace zcrecv::handoff
