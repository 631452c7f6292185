#include "handoff/hook_process.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "event/timer.hpp"
#include "support/error_text.hpp"
#include "support/poll_until.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::handoff {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> environment() { return {"PATH=/usr/bin:/bin"}; }

// Runs `script` under /bin/sh as a hook, on a loop of its own, until it has exited and been
// reaped through the loop.
HookExit run_hook(const std::string& script, HookProcess::Limits limits = {10s, 1s}) {
  auto loop = event::EventLoop::create();
  REQUIRE(loop.ok());
  std::optional<HookExit> exit;
  event::Timer give_up(**loop, [&] { (*loop)->stop(); });
  give_up.arm(30s);
  auto process = HookProcess::spawn(**loop, {"/bin/sh", "-c", script}, environment(), limits,
                                    [&](const HookExit& ended) {
                                      exit = ended;
                                      (*loop)->stop();
                                    });
  REQUIRE_MESSAGE(process.ok(), test::error_text(process));
  CHECK((*process)->running());
  REQUIRE((*loop)->run().ok());
  REQUIRE(exit.has_value());
  CHECK_FALSE((*process)->running());
  return *exit;
}

// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
bool ended(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string field;
  for (int i = 0; i < 3 && stat >> field; ++i) {
  }
  return !stat || field == "Z" || field == "X";
}

TEST_CASE("hook process: exit status, duration and the last line of its output") {
  const HookExit exit = run_hook("echo one; echo two >&2; sleep 0.1; exit 3");
  CHECK_FALSE(exit.signalled);
  CHECK(exit.status == 3);
  CHECK_FALSE(exit.timed_out);
  CHECK_FALSE(exit.succeeded());
  CHECK(exit.last_line == "two");
  CHECK(exit.duration >= 100ms);
  CHECK(exit.describe() == "exit 3");
  CHECK(run_hook("exit 0").succeeded());
}

TEST_CASE("hook process: no signal blocked or ignored, stdin /dev/null, a group of its own") {
  // The daemon blocks its signals for the signalfd (and the test binary ignores SIGPIPE): the
  // child must inherit neither.
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  sigset_t before;
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &usr2, &before) == 0);
  const HookExit exit = run_hook(
      "echo \"$(grep ^SigBlk /proc/$$/status | cut -f2) $(grep ^SigIgn /proc/$$/status | cut -f2)"
      " $(cut -d' ' -f5 /proc/$$/stat) $$ $(readlink /proc/$$/fd/0)\"");
  REQUIRE(::pthread_sigmask(SIG_SETMASK, &before, nullptr) == 0);
  REQUIRE(exit.succeeded());
  INFO("the hook said: ", exit.last_line);
  std::istringstream fields(exit.last_line);
  std::string blocked;
  std::string ignored;
  std::string group;
  std::string pid;
  std::string stdin_path;
  fields >> blocked >> ignored >> group >> pid >> stdin_path;
  CHECK(blocked == "0000000000000000");
  // Signals 1 to 31; glibc keeps its two internal real-time signals (32, 33) ignored.
  CHECK((std::stoull(ignored, nullptr, 16) & 0x7fffffffU) == 0);
  CHECK(group == pid);
  CHECK(stdin_path == "/dev/null");
}

TEST_CASE("hook process: at its timeout the whole process group gets SIGTERM") {
  // The shell dies of the SIGTERM; its exit is reported once the grace period is over.
  const HookExit exit = run_hook("sleep 30 & echo $!; wait", {300ms, 1s});
  CHECK(exit.timed_out);
  CHECK(exit.signalled);
  CHECK(exit.status == SIGTERM);
  CHECK(exit.describe() == "timed out, killed by SIGTERM");
  CHECK(exit.duration >= 1300ms);
  CHECK(exit.duration < 10s);
  // The background sleep was in the group too.
  REQUIRE_FALSE(exit.last_line.empty());
  test::poll_until([&] { return ended(exit.last_line); }, "the hook's child has ended");
}

TEST_CASE("hook process: a hook that ignores SIGTERM gets SIGKILL after the grace period") {
  const HookExit exit = run_hook("trap '' TERM; sleep 30", {200ms, 300ms});
  CHECK(exit.timed_out);
  CHECK(exit.signalled);
  CHECK(exit.status == SIGKILL);
  CHECK(exit.describe() == "timed out, killed by SIGKILL");
  CHECK(exit.duration >= 500ms);
}

TEST_CASE("hook process: a child that ignores SIGTERM gets SIGKILL although the hook died of SIGTERM") {
  // The main process dies of the timeout's SIGTERM at once; the child it started does not.
  const HookExit exit =
      run_hook("(trap '' TERM; exec sleep 30) & echo $!; wait", {200ms, 300ms});
  CHECK(exit.timed_out);
  CHECK(exit.signalled);
  CHECK(exit.status == SIGTERM);
  // Reported once the grace period is over and the group got its SIGKILL.
  CHECK(exit.duration >= 500ms);
  REQUIRE_FALSE(exit.last_line.empty());
  test::poll_until([&] { return ended(exit.last_line); }, "the TERM-ignoring child has ended", 5s);
}

TEST_CASE("hook process: a descriptor inherited without close-on-exec does not reach the hook") {
  // As a daemon started by a shell or supervisor that leaked one: no O_CLOEXEC.
  auto leaked = sys::open("/dev/null", O_RDONLY);
  REQUIRE(leaked.ok());
  const std::string fd = std::to_string(leaked->get());
  const HookExit exit = run_hook("if [ -e /proc/$$/fd/" + fd + " ]; then echo fd " + fd +
                                 " open; else echo fd " + fd + " closed; fi");
  REQUIRE(exit.succeeded());
  CHECK(exit.last_line == "fd " + fd + " closed");
}

TEST_CASE("hook process: a program that cannot be started is an error naming it") {
  auto loop = event::EventLoop::create();
  REQUIRE(loop.ok());
  for (const char* program : {"/nonexistent/ship", "no-such-program-zcrecv"}) {
    auto process = HookProcess::spawn(**loop, {program}, environment(), {1s, 1s},
                                      [](const HookExit& /*exit*/) {});
    REQUIRE_FALSE(process.ok());
    CHECK(process.error().message() ==
          std::string("on_publish: ") + program + ": posix_spawn: No such file or directory");
  }
}

TEST_CASE("hook process: destroying a hook still running kills and reaps it") {
  auto loop = event::EventLoop::create();
  REQUIRE(loop.ok());
  auto process = HookProcess::spawn(**loop, {"/bin/sleep", "30"}, environment(), {60s, 1s},
                                    [](const HookExit& /*exit*/) {});
  REQUIRE(process.ok());
  const pid_t pid = (*process)->pid();
  process->reset();
  CHECK(ended(std::to_string(pid)));
}

}  // namespace
}  // namespace zcrecv::handoff
