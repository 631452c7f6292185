#include "handoff/hook_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include <array>
#include <cstddef>
#include <span>
#include <utility>

#include "sys/syscalls.hpp"

namespace zcrecv::handoff {
namespace {

// posix_spawn's attribute objects, destroyed on every path out of spawn().
class SpawnActions {
 public:
  SpawnActions() { posix_spawn_file_actions_init(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions_); }
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_{};
};

class SpawnAttributes {
 public:
  SpawnAttributes() { posix_spawnattr_init(&attributes_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  ~SpawnAttributes() { posix_spawnattr_destroy(&attributes_); }
  posix_spawnattr_t* get() { return &attributes_; }

 private:
  posix_spawnattr_t attributes_{};
};

std::vector<char*> pointers(const std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (const std::string& text : strings) {
    result.push_back(const_cast<char*>(text.c_str()));
  }
  result.push_back(nullptr);
  return result;
}

std::string signal_name(int signal_number) {
  const char* abbreviation = ::sigabbrev_np(signal_number);
  return abbreviation != nullptr ? std::string("SIG") + abbreviation
                                 : "signal " + std::to_string(signal_number);
}

}  // namespace

std::string HookExit::describe() const {
  std::string text = timed_out ? "timed out, " : "";
  if (signalled) {
    return text + "killed by " + signal_name(status);
  }
  return text + "exit " + std::to_string(status);
}

sys::Result<std::unique_ptr<HookProcess>> HookProcess::spawn(
    event::EventLoop& loop, const std::vector<std::string>& argv,
    const std::vector<std::string>& environment, Limits limits, ExitCallback on_exit) {
  const std::string context = "on_publish: " + argv.front();
  const auto started = event::EventLoop::Clock::now();
  auto null = sys::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (!null) {
    return std::move(null).error().with_context(context + ": /dev/null");
  }
  // Blocking for the child (a non-blocking stdout surprises programs with EAGAIN), non-blocking
  // for the loop: the flag belongs to each end's own open file description.
  auto pipe = sys::pipe2(O_CLOEXEC);
  if (!pipe) {
    return std::move(pipe).error().with_context(context);
  }
  if (auto nonblocking = sys::set_nonblocking(pipe->read_end.get(), true); !nonblocking) {
    return std::move(nonblocking).error().with_context(context);
  }

  SpawnActions actions;
  posix_spawn_file_actions_adddup2(actions.get(), null->get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(actions.get(), pipe->write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(actions.get(), pipe->write_end.get(), STDERR_FILENO);
  // Close-on-exec covers only the descriptors the daemon opened; one it inherited without the
  // flag (from a shell, a supervisor) would reach every hook. close_range(3, ~0U) in the child,
  // after the dup2s, leaves the hook stdin, stdout and stderr only (glibc 2.34).
  posix_spawn_file_actions_addclosefrom_np(actions.get(), STDERR_FILENO + 1);
  SpawnAttributes attributes;
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  // The signal mask and ignored dispositions survive execve (execve(2): only caught signals are
  // reset), and the daemon blocks every signal it reads from its signalfd and ignores SIGPIPE. A
  // hook that inherited them would never see the timeout's SIGTERM, and a `| head` in it would not
  // end.
  posix_spawnattr_setsigmask(attributes.get(), &none);
  posix_spawnattr_setsigdefault(attributes.get(), &all);
  // Group 0: a new group led by the child, so that a timeout reaches whatever it started.
  posix_spawnattr_setpgroup(attributes.get(), 0);
  posix_spawnattr_setflags(
      attributes.get(),
      static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP));
  std::vector<char*> args = pointers(argv);
  std::vector<char*> envp = pointers(environment);
  pid_t pid = 0;
  // glibc's posix_spawn reports a failed exec (ENOENT, EACCES, ...) as its own result.
  // A bare name is looked up in PATH (the hook's PATH, from the environment it is given), as a
  // shell would; check_program already refused relative paths with a '/'.
  const bool search_path = argv.front().find('/') == std::string::npos;
  const int rc =
      search_path
          ? ::posix_spawnp(&pid, args[0], actions.get(), attributes.get(), args.data(), envp.data())
          : ::posix_spawn(&pid, args[0], actions.get(), attributes.get(), args.data(), envp.data());
  if (rc != 0) {
    return sys::Error::from_errno(rc, context + ": posix_spawn");
  }
  // A pidfd rather than SIGCHLD: it becomes readable in the main loop's epoll set when the child
  // exits (pidfd_open(2)), and waiting on it (P_PIDFD) can never reap another child by mistake.
  auto pidfd = sys::pidfd_open(pid);
  if (!pidfd) {
    // Without a pidfd (Linux before 5.3) the child cannot be watched: do not leave it behind.
    (void)sys::kill(-pid, SIGKILL);
    (void)sys::waitid(P_PID, static_cast<id_t>(pid), WEXITED);
    return std::move(pidfd).error().with_context(context);
  }
  std::unique_ptr<HookProcess> process(new HookProcess(loop, pid, std::move(*pidfd),
                                                       std::move(pipe->read_end), started, limits,
                                                       std::move(on_exit)));
  if (auto watched = process->watch(); !watched) {
    return std::move(watched).error().with_context(context);
  }
  return process;
}

HookProcess::HookProcess(event::EventLoop& loop, pid_t pid, sys::UniqueFd pidfd,
                         sys::UniqueFd output, event::EventLoop::Clock::time_point started,
                         Limits limits, ExitCallback on_exit)
    : loop_(loop),
      pid_(pid),
      pidfd_(std::move(pidfd)),
      output_(std::move(output)),
      limits_(limits),
      on_exit_(std::move(on_exit)),
      started_(started),
      timeout_timer_(loop,
                     [this] {
                       timed_out_ = true;
                       terminate();
                     }),
      kill_timer_(loop, [this] { kill_after_grace(); }) {}

HookProcess::~HookProcess() {
  close_output();
  if (pidfd_watched_) {
    (void)loop_.remove(pidfd_.get());
  }
  if (!reaped_) {
    signal_group(SIGKILL);
    // Blocks only until the kernel has torn the child down: SIGKILL cannot be caught.
    (void)sys::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), WEXITED);
  }
}

sys::Result<void> HookProcess::watch() {
  if (auto added = loop_.add(pidfd_.get(), EPOLLIN, *this); !added) {
    return added;
  }
  pidfd_watched_ = true;
  if (auto added = loop_.add(output_.get(), EPOLLIN, output_reader_); !added) {
    return added;
  }
  output_watched_ = true;
  timeout_timer_.arm(limits_.timeout);
  return {};
}

void HookProcess::on_event(std::uint32_t /*events*/) {
  if (reaped_) {
    return;
  }
  if (kill_timer_.armed()) {
    // Timed out, and the main process is gone within the grace period: what it started may
    // not be, and ignore SIGTERM. The group gets its SIGKILL when the grace ends, and the child
    // stays a zombie until then, so that its pid, the group's id, cannot be reused by then.
    auto exited = sys::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()),
                              WEXITED | WNOHANG | WNOWAIT);
    if (exited && !exited->has_value()) {
      return;
    }
    (void)loop_.remove(pidfd_.get());
    pidfd_watched_ = false;
    exited_in_grace_ = true;
    return;
  }
  reap();
}

void HookProcess::kill_after_grace() {
  signal_group(SIGKILL);
  if (exited_in_grace_) {
    reap();
  }
}

void HookProcess::reap() {
  auto status = sys::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), WEXITED | WNOHANG);
  if (status && !status->has_value()) {
    // Readable before the child is a zombie: not expected, but harmless to wait for again.
    return;
  }
  reaped_ = true;
  timeout_timer_.cancel();
  kill_timer_.cancel();
  if (pidfd_watched_) {
    (void)loop_.remove(pidfd_.get());
    pidfd_watched_ = false;
  }
  // The child is gone, but what it started may still hold the pipe: take what is there now
  // rather than wait for an end of stream that may never come.
  read_output();
  close_output();
  HookExit exit;
  if (!status) {
    // ECHILD: someone else reaped it. Nothing says how it ended; call it a failure.
    exit.signalled = false;
    exit.status = -1;
    exit.last_line = status.error().message();
  } else {
    const siginfo_t& info = **status;
    exit.signalled = info.si_code != CLD_EXITED;
    exit.status = info.si_status;
    exit.last_line = last_line_.text();
  }
  exit.timed_out = timed_out_;
  exit.duration = event::EventLoop::Clock::now() - started_;
  on_exit_(exit);
}

void HookProcess::terminate() {
  if (reaped_ || kill_timer_.armed()) {
    return;
  }
  signal_group(SIGTERM);
  kill_timer_.arm(limits_.kill_grace);
}

void HookProcess::signal_group(int signal_number) {
  // Safe from pid reuse: the child is not reaped yet, so its pid, and with it the group id,
  // still name it. ESRCH: the whole group is already gone.
  (void)sys::kill(-pid_, signal_number);
}

void HookProcess::OutputReader::on_event(std::uint32_t /*events*/) { process_.read_output(); }

void HookProcess::read_output() {
  if (!output_.valid()) {
    return;
  }
  // Only the last line is kept (HookExit::last_line): a hook that writes a lot costs a 4 KiB
  // buffer, not memory in proportion to its output.
  std::array<char, 4096> buffer{};
  for (;;) {
    auto got = sys::read(output_.get(), std::as_writable_bytes(std::span(buffer)));
    if (got && !got->has_value()) {
      return;
    }
    // A read error on a pipe leaves nothing more to read: treated as the end of the stream.
    if (!got || **got == 0) {
      close_output();
      return;
    }
    last_line_.feed(std::span(buffer.data(), **got));
  }
}

void HookProcess::close_output() {
  if (output_watched_) {
    (void)loop_.remove(output_.get());
    output_watched_ = false;
  }
  output_.reset();
}

}  // namespace zcrecv::handoff
