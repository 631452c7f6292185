#include "sys/syscalls.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace zcrecv::sys {
namespace {

// Calls `call` until it stops failing with EINTR. Signals are taken through signalfd and
// blocked everywhere, but a debugger or SIGSTOP/SIGCONT can still interrupt a call.
template <class Call>
auto retry_eintr(Call call) {
  for (;;) {
    auto rc = call();
    if (rc != -1 || errno != EINTR) {
      return rc;
    }
  }
}

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

IoResult io_result(ssize_t rc, const char* name) {
  if (rc >= 0) {
    return std::optional<std::size_t>(static_cast<std::size_t>(rc));
  }
  if (would_block(errno)) {
    return std::optional<std::size_t>();
  }
  return Error::from_errno(errno, name);
}

Result<void> status(int rc, const char* name) {
  if (rc == -1) {
    return Error::from_errno(errno, name);
  }
  return {};
}

Result<UniqueFd> fd_result(int rc, const char* name) {
  if (rc == -1) {
    return Error::from_errno(errno, name);
  }
  return UniqueFd(rc);
}

}  // namespace

IoResult read(int fd, std::span<std::byte> buffer) {
  return io_result(retry_eintr([&] { return ::read(fd, buffer.data(), buffer.size()); }), "read");
}

IoResult write(int fd, std::span<const std::byte> buffer) {
  return io_result(retry_eintr([&] { return ::write(fd, buffer.data(), buffer.size()); }),
                   "write");
}

IoResult recv(int fd, std::span<std::byte> buffer, int flags) {
  return io_result(retry_eintr([&] { return ::recv(fd, buffer.data(), buffer.size(), flags); }),
                   "recv");
}

IoResult send(int fd, std::span<const std::byte> buffer, int flags) {
  return io_result(retry_eintr([&] { return ::send(fd, buffer.data(), buffer.size(), flags); }),
                   "send");
}

IoResult splice(int fd_in, int fd_out, std::size_t length, unsigned int flags) {
  return io_result(
      retry_eintr([&] { return ::splice(fd_in, nullptr, fd_out, nullptr, length, flags); }),
      "splice");
}

IoResult sendfile(int out_fd, int in_fd, std::uint64_t offset, std::size_t length) {
  auto position = static_cast<off_t>(offset);
  return io_result(retry_eintr([&] { return ::sendfile(out_fd, in_fd, &position, length); }),
                   "sendfile");
}

Result<PipeFds> pipe2(int flags) {
  int fds[2];
  if (::pipe2(fds, flags) == -1) {
    return Error::from_errno(errno, "pipe2");
  }
  return PipeFds{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Result<std::size_t> set_pipe_size(int fd, std::size_t size) {
  int rc = ::fcntl(fd, F_SETPIPE_SZ, static_cast<int>(size));
  if (rc == -1) {
    return Error::from_errno(errno, "fcntl(F_SETPIPE_SZ)");
  }
  return static_cast<std::size_t>(rc);
}

Result<std::size_t> get_pipe_size(int fd) {
  int rc = ::fcntl(fd, F_GETPIPE_SZ);
  if (rc == -1) {
    return Error::from_errno(errno, "fcntl(F_GETPIPE_SZ)");
  }
  return static_cast<std::size_t>(rc);
}

Result<int> get_status_flags(int fd) {
  int rc = ::fcntl(fd, F_GETFL);
  if (rc == -1) {
    return Error::from_errno(errno, "fcntl(F_GETFL)");
  }
  return rc;
}

Result<void> set_status_flags(int fd, int flags) {
  return status(::fcntl(fd, F_SETFL, flags), "fcntl(F_SETFL)");
}

Result<void> set_nonblocking(int fd, bool nonblocking) {
  auto flags = get_status_flags(fd);
  if (!flags) {
    return std::move(flags).error();
  }
  int wanted = nonblocking ? (*flags | O_NONBLOCK) : (*flags & ~O_NONBLOCK);
  if (wanted == *flags) {
    return {};
  }
  return set_status_flags(fd, wanted);
}

Result<void> set_close_on_exec(int fd) {
  return status(::fcntl(fd, F_SETFD, FD_CLOEXEC), "fcntl(F_SETFD)");
}

Result<UniqueFd> socket(int domain, int type, int protocol) {
  return fd_result(::socket(domain, type, protocol), "socket");
}

Result<void> bind(int fd, const sockaddr* address, socklen_t length) {
  return status(::bind(fd, address, length), "bind");
}

Result<void> listen(int fd, int backlog) { return status(::listen(fd, backlog), "listen"); }

Result<void> connect(int fd, const sockaddr* address, socklen_t length) {
  int rc = retry_eintr([&] { return ::connect(fd, address, length); });
  if (rc == -1 && errno != EINPROGRESS) {
    return Error::from_errno(errno, "connect");
  }
  return {};
}

Result<std::optional<UniqueFd>> accept4(int fd, sockaddr* address, socklen_t* length,
                                        int flags) {
  int rc = retry_eintr([&] { return ::accept4(fd, address, length, flags); });
  if (rc >= 0) {
    return std::optional<UniqueFd>(UniqueFd(rc));
  }
  if (would_block(errno)) {
    return std::optional<UniqueFd>();
  }
  return Error::from_errno(errno, "accept4");
}

Result<void> setsockopt_int(int fd, int level, int option, int value) {
  return status(::setsockopt(fd, level, option, &value, sizeof value), "setsockopt");
}

Result<int> getsockopt_int(int fd, int level, int option) {
  int value = 0;
  socklen_t length = sizeof value;
  if (::getsockopt(fd, level, option, &value, &length) == -1) {
    return Error::from_errno(errno, "getsockopt");
  }
  return value;
}

Result<ucred> get_peer_credentials(int fd) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == -1) {
    return Error::from_errno(errno, "getsockopt(SO_PEERCRED)");
  }
  return credentials;
}

Result<void> getsockname(int fd, sockaddr* address, socklen_t* length) {
  return status(::getsockname(fd, address, length), "getsockname");
}

Result<void> getpeername(int fd, sockaddr* address, socklen_t* length) {
  return status(::getpeername(fd, address, length), "getpeername");
}

Result<void> shutdown(int fd, int how) { return status(::shutdown(fd, how), "shutdown"); }

IoResult sendto(int fd, std::span<const std::byte> buffer, int flags, const sockaddr* address,
                socklen_t length) {
  return io_result(retry_eintr([&] {
                     return ::sendto(fd, buffer.data(), buffer.size(), flags, address, length);
                   }),
                   "sendto");
}

Result<UniqueFd> open(const char* path, int flags, mode_t mode) {
  return fd_result(retry_eintr([&] { return ::open(path, flags, mode); }), "open");
}

Result<UniqueFd> dup(int fd) { return fd_result(::fcntl(fd, F_DUPFD_CLOEXEC, 0), "dup"); }

Result<off_t> lseek(int fd, off_t offset, int whence) {
  const off_t position = ::lseek(fd, offset, whence);
  if (position == -1) {
    return Error::from_errno(errno, "lseek");
  }
  return position;
}

Result<UniqueFd> memfd_create(const char* name, unsigned int flags) {
  return fd_result(::memfd_create(name, flags), "memfd_create");
}

Result<UniqueFd> openat(int dir_fd, const char* path, int flags, mode_t mode) {
  return fd_result(retry_eintr([&] { return ::openat(dir_fd, path, flags, mode); }), "openat");
}

Result<UniqueFd> openat2(int dir_fd, const char* path, int flags, std::uint64_t resolve) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags);
  how.resolve = resolve;
  // glibc 2.36 has no wrapper for openat2.
  return fd_result(
      retry_eintr(
          [&] { return static_cast<int>(::syscall(SYS_openat2, dir_fd, path, &how, sizeof how)); }),
      "openat2");
}

Result<void> renameat2(int old_dir_fd, const char* old_path, int new_dir_fd,
                       const char* new_path, unsigned int flags) {
  return status(::renameat2(old_dir_fd, old_path, new_dir_fd, new_path, flags), "renameat2");
}

Result<void> mkdirat(int dir_fd, const char* path, mode_t mode) {
  return status(::mkdirat(dir_fd, path, mode), "mkdirat");
}

Result<void> fchmod(int fd, mode_t mode) { return status(::fchmod(fd, mode), "fchmod"); }

Result<void> linkat(int old_dir_fd, const char* old_path, int new_dir_fd, const char* new_path,
                    int flags) {
  return status(::linkat(old_dir_fd, old_path, new_dir_fd, new_path, flags), "linkat");
}

Result<std::size_t> getdents64(int dir_fd, std::span<std::byte> buffer) {
  ssize_t rc = ::getdents64(dir_fd, buffer.data(), buffer.size());
  if (rc == -1) {
    return Error::from_errno(errno, "getdents64");
  }
  return static_cast<std::size_t>(rc);
}

Result<void> unlinkat(int dir_fd, const char* path, int flags) {
  return status(::unlinkat(dir_fd, path, flags), "unlinkat");
}

Result<void> fdatasync(int fd) {
  return status(retry_eintr([&] { return ::fdatasync(fd); }), "fdatasync");
}

Result<void> fadvise(int fd, off_t offset, off_t length, int advice) {
  if (const int error = ::posix_fadvise(fd, offset, length, advice); error != 0) {
    return Error::from_errno(error, "posix_fadvise");
  }
  return {};
}

Result<void> fsync(int fd) { return status(retry_eintr([&] { return ::fsync(fd); }), "fsync"); }

Result<void> sync_file_range(int fd, std::uint64_t offset, std::uint64_t length,
                             unsigned int flags) {
  return status(retry_eintr([&] {
                  return ::sync_file_range(fd, static_cast<off64_t>(offset),
                                           static_cast<off64_t>(length), flags);
                }),
                "sync_file_range");
}

Result<void> fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length) {
  return status(retry_eintr([&] {
                  return ::fallocate(fd, mode, static_cast<off_t>(offset),
                                     static_cast<off_t>(length));
                }),
                "fallocate");
}

Result<void> ftruncate(int fd, off_t length) {
  return status(retry_eintr([&] { return ::ftruncate(fd, length); }), "ftruncate");
}

Result<struct stat> fstat(int fd) {
  struct stat info {};
  if (::fstat(fd, &info) == -1) {
    return Error::from_errno(errno, "fstat");
  }
  return info;
}

Result<struct stat> fstatat(int dir_fd, const char* path, int flags) {
  struct stat info {};
  if (::fstatat(dir_fd, path, &info, flags) == -1) {
    return Error::from_errno(errno, "fstatat");
  }
  return info;
}

Result<void> faccessat(int dir_fd, const char* path, int mode, int flags) {
  return status(::faccessat(dir_fd, path, mode, flags), "faccessat");
}

Result<struct statvfs> fstatvfs(int fd) {
  struct statvfs info {};
  if (retry_eintr([&] { return ::fstatvfs(fd, &info); }) == -1) {
    return Error::from_errno(errno, "fstatvfs");
  }
  return info;
}

Result<void> fsetxattr(int fd, const char* name, std::string_view value) {
  return status(::fsetxattr(fd, name, value.data(), value.size(), 0), "fsetxattr");
}

Result<std::optional<std::string>> fgetxattr(int fd, const char* name) {
  for (;;) {
    ssize_t size = ::fgetxattr(fd, name, nullptr, 0);
    if (size == -1) {
      if (errno == ENODATA) {
        return std::optional<std::string>();
      }
      return Error::from_errno(errno, "fgetxattr");
    }
    std::string value(static_cast<std::size_t>(size), '\0');
    ssize_t got = ::fgetxattr(fd, name, value.data(), value.size());
    if (got >= 0) {
      value.resize(static_cast<std::size_t>(got));
      return std::optional<std::string>(std::move(value));
    }
    // ERANGE: the value grew between the two calls; ask for its size again. ENODATA: it was
    // removed meanwhile.
    if (errno == ENODATA) {
      return std::optional<std::string>();
    }
    if (errno != ERANGE) {
      return Error::from_errno(errno, "fgetxattr");
    }
  }
}

Result<void> fremovexattr(int fd, const char* name) {
  return status(::fremovexattr(fd, name), "fremovexattr");
}

Result<int> poll(std::span<pollfd> fds, int timeout_ms) {
  int rc = retry_eintr([&] { return ::poll(fds.data(), fds.size(), timeout_ms); });
  if (rc == -1) {
    return Error::from_errno(errno, "poll");
  }
  return rc;
}

Result<UniqueFd> epoll_create1(int flags) {
  return fd_result(::epoll_create1(flags), "epoll_create1");
}

Result<void> epoll_ctl(int epoll_fd, int op, int fd, std::uint32_t events, std::uint64_t data) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = data;
  return status(::epoll_ctl(epoll_fd, op, fd, &event), "epoll_ctl");
}

Result<int> epoll_wait(int epoll_fd, std::span<epoll_event> events, int timeout_ms) {
  int rc = retry_eintr([&] {
    return ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), timeout_ms);
  });
  if (rc == -1) {
    return Error::from_errno(errno, "epoll_wait");
  }
  return rc;
}

Result<UniqueFd> signalfd(const sigset_t& mask, int flags) {
  return fd_result(::signalfd(-1, &mask, flags), "signalfd");
}

Result<UniqueFd> timerfd_create(int clock_id, int flags) {
  return fd_result(::timerfd_create(clock_id, flags), "timerfd_create");
}

Result<void> timerfd_settime(int fd, std::uint64_t initial_ns, std::uint64_t interval_ns) {
  constexpr std::uint64_t kNanosPerSecond = 1'000'000'000;
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(initial_ns / kNanosPerSecond);
  spec.it_value.tv_nsec = static_cast<long>(initial_ns % kNanosPerSecond);
  spec.it_interval.tv_sec = static_cast<time_t>(interval_ns / kNanosPerSecond);
  spec.it_interval.tv_nsec = static_cast<long>(interval_ns % kNanosPerSecond);
  return status(::timerfd_settime(fd, 0, &spec, nullptr), "timerfd_settime");
}

Result<UniqueFd> eventfd(unsigned int initial, int flags) {
  return fd_result(::eventfd(initial, flags), "eventfd");
}

Result<timespec> clock_gettime(clockid_t clock) {
  timespec now{};
  if (::clock_gettime(clock, &now) == -1) {
    return Error::from_errno(errno, "clock_gettime");
  }
  return now;
}

Result<rlimit> getrlimit(int resource) {
  rlimit limit{};
  if (::getrlimit(static_cast<__rlimit_resource>(resource), &limit) == -1) {
    return Error::from_errno(errno, "getrlimit");
  }
  return limit;
}

Result<void> setrlimit(int resource, const rlimit& limit) {
  return status(::setrlimit(static_cast<__rlimit_resource>(resource), &limit), "setrlimit");
}

Result<UniqueFd> pidfd_open(pid_t pid) {
  // Debian 12's glibc declares pidfd_open but its libc does not export it: the raw syscall.
  return fd_result(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)), "pidfd_open");
}

Result<std::optional<siginfo_t>> waitid(idtype_t id_type, id_t id, int options) {
  siginfo_t info{};
  if (retry_eintr([&] { return ::waitid(id_type, id, &info, options); }) == -1) {
    return Error::from_errno(errno, "waitid");
  }
  // With WNOHANG and no change, waitid leaves si_pid 0 (the buffer was zeroed).
  if (info.si_pid == 0) {
    return std::optional<siginfo_t>();
  }
  return std::optional<siginfo_t>(info);
}

Result<void> kill(pid_t pid, int signal_number) {
  return status(::kill(pid, signal_number), "kill");
}

Result<void> block_signals(const sigset_t& mask) {
  int rc = ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  if (rc != 0) {
    return Error::from_errno(rc, "pthread_sigmask");
  }
  return {};
}

Result<void> getrandom(std::span<std::byte> buffer) {
  while (!buffer.empty()) {
    ssize_t rc = retry_eintr([&] { return ::getrandom(buffer.data(), buffer.size(), 0); });
    if (rc == -1) {
      return Error::from_errno(errno, "getrandom");
    }
    // Requests above 256 bytes may be cut short by a signal; take the rest in another call.
    buffer = buffer.subspan(static_cast<std::size_t>(rc));
  }
  return {};
}

Result<std::string> gethostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name) == -1) {
    return Error::from_errno(errno, "gethostname");
  }
  return std::string(name);
}

}  // namespace zcrecv::sys
