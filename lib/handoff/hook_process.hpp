#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "handoff/last_line.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::handoff {

/// How a hook ended.
struct HookExit {
  /// Killed by signal `status` (true), or exited with status `status` (false).
  bool signalled = false;
  int status = 0;
  /// Whether it was still running at its timeout (and so was sent SIGTERM).
  bool timed_out = false;
  std::chrono::nanoseconds duration{0};
  /// The last non-empty line it wrote to stdout or stderr.
  std::string last_line;

  /// Exited 0 before its timeout.
  [[nodiscard]] bool succeeded() const noexcept { return !signalled && status == 0 && !timed_out; }
  /// "exit 0", "exit 3", "killed by SIGKILL", "timed out, killed by SIGTERM".
  [[nodiscard]] std::string describe() const;
};

/// One hook: a child process started without a shell, in a process group of its own, watched
/// through a pidfd on an EventLoop and reaped there.
///
/// The child gets /dev/null as stdin and one pipe as stdout and stderr, read on the loop for its
/// last line; every signal unblocked and at its default disposition (the daemon blocks its
/// signals for its signalfd and ignores SIGPIPE, and exec would pass both on); and no other
/// descriptor (every one from 3 up is closed in the child, close-on-exec or not). At its
/// timeout the whole group gets SIGTERM, and SIGKILL after a grace period, whether or not the
/// main process has exited by then: the child is reaped only after that SIGKILL. Loop thread
/// only.
class HookProcess final : public event::Handler {
 public:
  struct Limits {
    std::chrono::nanoseconds timeout{0};
    /// Between SIGTERM and SIGKILL.
    std::chrono::nanoseconds kill_grace{0};
  };
  /// Called once, on the loop thread, when the child has exited and been reaped. It must not
  /// destroy the HookProcess (EventLoop::defer that).
  using ExitCallback = std::function<void(const HookExit&)>;

  /// Starts `argv` with exactly `environment`; argv[0] without a '/' is looked up in the
  /// daemon's PATH. Fails, naming the program, when the child cannot be started (no such file,
  /// not executable, ...).
  static sys::Result<std::unique_ptr<HookProcess>> spawn(
      event::EventLoop& loop, const std::vector<std::string>& argv,
      const std::vector<std::string>& environment, Limits limits, ExitCallback on_exit);

  HookProcess(const HookProcess&) = delete;
  HookProcess& operator=(const HookProcess&) = delete;
  /// A child still running is killed (its whole group, SIGKILL) and reaped first.
  ~HookProcess() override;

  /// The pidfd is readable: the child has exited.
  void on_event(std::uint32_t events) override;
  /// SIGTERM to the group now, SIGKILL to the group after the grace period, even if the main
  /// process has exited by then (what it started may not have).
  void terminate();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool running() const noexcept { return !reaped_; }

 private:
  // Reads the child's output as it comes, so that a chatty hook never blocks on a full pipe.
  class OutputReader final : public event::Handler {
   public:
    explicit OutputReader(HookProcess& process) : process_(process) {}
    void on_event(std::uint32_t events) override;

   private:
    HookProcess& process_;
  };

  HookProcess(event::EventLoop& loop, pid_t pid, sys::UniqueFd pidfd, sys::UniqueFd output,
              event::EventLoop::Clock::time_point started, Limits limits, ExitCallback on_exit);

  sys::Result<void> watch();
  // Reads what the pipe holds; closes it at end of stream.
  void read_output();
  void close_output();
  void signal_group(int signal_number);
  // The grace period is over: SIGKILL to the group, then reap the child if it has exited.
  void kill_after_grace();
  // Reaps the child if it has exited, and reports how it ended.
  void reap();

  event::EventLoop& loop_;
  pid_t pid_;
  sys::UniqueFd pidfd_;
  sys::UniqueFd output_;
  OutputReader output_reader_{*this};
  Limits limits_;
  ExitCallback on_exit_;
  LastLine last_line_;
  event::EventLoop::Clock::time_point started_;
  event::Timer timeout_timer_;
  event::Timer kill_timer_;
  bool pidfd_watched_ = false;
  bool output_watched_ = false;
  bool timed_out_ = false;
  // The child exited within the grace period; it is reaped once the group got its SIGKILL.
  bool exited_in_grace_ = false;
  bool reaped_ = false;
};

}  // namespace zcrecv::handoff
