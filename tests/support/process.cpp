#include "support/process.hpp"

#include "net/listen_address.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace zcrecv::test {
namespace {

sys::UniqueFd open_null() { return sys::UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC)); }

std::pair<sys::UniqueFd, sys::UniqueFd> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::system_category(), "pipe2");
  }
  return {sys::UniqueFd(fds[0]), sys::UniqueFd(fds[1])};
}

}  // namespace

std::string zcrecv_binary() { return ZCRECV_BINARY; }

Process::Process(const std::vector<std::string>& argv, const Options& options) {
  auto null = open_null();
  auto [err_read, err_write] = make_pipe();
  sys::UniqueFd out_read;
  sys::UniqueFd out_write;
  if (!options.stdout_fd) {
    std::tie(out_read, out_write) = make_pipe();
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, options.stdin_fd.value_or(null.get()), 0);
  posix_spawn_file_actions_adddup2(&actions, options.stdout_fd.value_or(out_write.get()), 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  for (int fd : options.inherited_fds) {
    // A dup2 onto itself clears FD_CLOEXEC (POSIX 2024; glibc 2.29).
    posix_spawn_file_actions_adddup2(&actions, fd, fd);
  }
  // The child starts with no signal blocked and default dispositions, whatever the test thread
  // that started it had (SIGPIPE is ignored by the test binary, signals blocked for signalfd).
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  int rc = ::posix_spawnp(&pid_, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) {
    throw std::system_error(rc, std::system_category(), "posix_spawn " + argv.front());
  }
  stderr_.fd = std::move(err_read);
  stderr_.reader = std::thread([this] { collect(stderr_); });
  if (out_read) {
    stdout_.fd = std::move(out_read);
    stdout_.reader = std::thread([this] { collect(stdout_); });
  }
}

Process::~Process() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    int ignored = 0;
    ::waitpid(pid_, &ignored, 0);
  }
  for (Capture* capture : {&stderr_, &stdout_}) {
    if (capture->reader.joinable()) {
      capture->reader.join();
    }
  }
}

void Process::collect(Capture& capture) {
  char buffer[65536];
  for (;;) {
    ssize_t got = ::read(capture.fd.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    std::lock_guard lock(mutex_);
    if (got <= 0) {
      capture.closed = true;
      changed_.notify_all();
      return;
    }
    capture.text.append(buffer, static_cast<std::size_t>(got));
    changed_.notify_all();
  }
}

void Process::signal(int signal_number) const { ::kill(pid_, signal_number); }

int Process::wait(std::chrono::milliseconds timeout) {
  if (!status_) {
    // A pidfd becomes readable when the child exits: the wait has a timeout without polling.
    sys::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
    pollfd ready{pidfd.get(), POLLIN, 0};
    int rc = 0;
    do {
      rc = ::poll(&ready, 1, static_cast<int>(timeout.count()));
    } while (rc < 0 && errno == EINTR);
    if (pidfd && rc == 0) {
      ::kill(pid_, SIGKILL);
      throw std::runtime_error("process did not exit in time; stderr:\n" + stderr_text());
    }
    int raw = 0;
    ::waitpid(pid_, &raw, 0);
    status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  }
  for (Capture* capture : {&stderr_, &stdout_}) {
    if (capture->reader.joinable()) {
      capture->reader.join();
    }
  }
  return *status_;
}

std::string Process::wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto at = stderr_.text.find(needle);
    if (at != std::string::npos) {
      auto begin = stderr_.text.rfind('\n', at);
      begin = begin == std::string::npos ? 0 : begin + 1;
      auto end = stderr_.text.find('\n', at);
      if (end != std::string::npos || stderr_.closed) {
        return stderr_.text.substr(begin, end == std::string::npos ? end : end - begin);
      }
    }
    if (stderr_.closed || changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      throw std::runtime_error("no \"" + std::string(needle) + "\" on stderr; stderr:\n" +
                               stderr_.text);
    }
  }
}

void Process::wait_for_stderr_count(std::string_view needle, std::size_t count,
                                    std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::size_t found = 0;
    for (auto at = stderr_.text.find(needle); at != std::string::npos;
         at = stderr_.text.find(needle, at + needle.size())) {
      ++found;
    }
    if (found >= count) {
      return;
    }
    if (stderr_.closed || changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      throw std::runtime_error(std::to_string(found) + " of " + std::to_string(count) + " \"" +
                               std::string(needle) + "\" on stderr; stderr:\n" + stderr_.text);
    }
  }
}

std::string Process::stderr_text() {
  std::lock_guard lock(mutex_);
  return stderr_.text;
}

std::string Process::stdout_text() {
  std::lock_guard lock(mutex_);
  return stdout_.text;
}

net::SocketAddress listening_address(const std::string& line) {
  constexpr std::string_view kMarker = "listening on ";
  auto at = line.find(kMarker);
  if (at == std::string::npos) {
    throw std::runtime_error("not a listening line: " + line);
  }
  auto begin = at + kMarker.size();
  auto end = line.find_first_of(" \"", begin);
  auto text = line.substr(begin, end == std::string::npos ? end : end - begin);
  auto parsed = net::parse_listen_address(text);
  if (!parsed) {
    throw std::runtime_error("unparsable address in: " + line);
  }
  switch (parsed->kind) {
    case net::ListenAddress::Kind::kTcp:
      return *net::SocketAddress::from_ip(parsed->host, parsed->port);
    case net::ListenAddress::Kind::kUnixPath:
      return net::SocketAddress::unix_path(parsed->path);
    case net::ListenAddress::Kind::kUnixAbstract:
      return net::SocketAddress::unix_abstract(parsed->path);
  }
  throw std::runtime_error("unknown address kind in: " + line);
}

}  // namespace zcrecv::test
