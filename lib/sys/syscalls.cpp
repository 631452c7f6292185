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

// POSIX allows EAGAIN and EWOULDBLOCK to differ; on Linux they are equal, and the compiler folds
// the test.
bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// An empty optional means "would block": callers of non-blocking descriptors treat it as a normal
// outcome (wait for the next event), not as an error, so it must not cost an Error.
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

// Null offsets: each end is a socket, a pipe, or a file used at its own offset, which the kernel
// advances as it writes. EINVAL (a filesystem without splice_write, an O_APPEND file) goes back to
// the pump, which decides the fallback (docs/design.md §3).
IoResult splice(int fd_in, int fd_out, std::size_t length, unsigned int flags) {
  return io_result(
      retry_eintr([&] { return ::splice(fd_in, nullptr, fd_out, nullptr, length, flags); }),
      "splice");
}

IoResult sendfile(int out_fd, int in_fd, std::uint64_t offset, std::size_t length) {
  // With an offset pointer sendfile reads at that position and leaves in_fd's own file offset
  // alone, so the caller keeps the position.
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
  // The kernel rounds the capacity up (to a power-of-two number of pages) and returns what it set,
  // which is what the caller must use. An unprivileged process gets EPERM above
  // /proc/sys/fs/pipe-max-size; the caller then keeps the default capacity.
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
  // O_NONBLOCK belongs to the open file description, which a descriptor passed to us (standard
  // input, a socket from systemd) shares with other processes: leave it untouched when it already
  // is as wanted, and save the call.
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
  // EINPROGRESS is the normal answer of a non-blocking connect: the connection completes in the
  // background and the caller waits for writability, then reads SO_ERROR. A non-blocking Unix
  // socket whose peer's backlog is full fails with EAGAIN instead (connect(2)), which is an error
  // here.
  int rc = retry_eintr([&] { return ::connect(fd, address, length); });
  if (rc == -1 && errno != EINPROGRESS) {
    return Error::from_errno(errno, "connect");
  }
  return {};
}

Result<std::optional<UniqueFd>> accept4(int fd, sockaddr* address, socklen_t* length,
                                        int flags) {
  // accept4 sets O_NONBLOCK and O_CLOEXEC together with the accept: no window in which a hook
  // forked by another thread could inherit the socket. EAGAIN means the queue is drained, or
  // another worker woken for the same connection took it first.
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

// SO_PEERCRED gives the credentials the peer had when it called connect(2) (unix(7)), recorded by
// the kernel then: a peer cannot change the identity it was admitted with.
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

// F_DUPFD_CLOEXEC rather than dup(2): the copy is close-on-exec from the start, with no window
// before an F_SETFD in which a forked hook could inherit it.
Result<UniqueFd> dup(int fd) { return fd_result(::fcntl(fd, F_DUPFD_CLOEXEC, 0), "dup"); }

Result<off_t> lseek(int fd, off_t offset, int whence) {
  // lseek does not sleep, so it cannot fail with EINTR. The other calls here without retry_eintr do
  // not wait for a peer or a device either (fcntl, epoll_ctl, socket setup, metadata on a local
  // filesystem), and signals are blocked in every thread anyway.
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
  // RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS give what O_NOFOLLOW cannot: no symlink and no escaping
  // ".." anywhere on the path, not only in its last component. openat2 appeared in Linux 5.6
  // (openat2(2)); an older kernel fails with ENOSYS.
  how.resolve = resolve;
  // glibc 2.36 has no wrapper for openat2.
  return fd_result(
      retry_eintr(
          [&] { return static_cast<int>(::syscall(SYS_openat2, dir_fd, path, &how, sizeof how)); }),
      "openat2");
}

Result<void> renameat2(int old_dir_fd, const char* old_path, int new_dir_fd,
                       const char* new_path, unsigned int flags) {
  // RENAME_NOREPLACE needs support from the filesystem (renameat2(2): ext4 since Linux 3.15, XFS
  // since 4.0); one without it fails with EINVAL, and the caller falls back to link + unlink, which
  // does not replace either.
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
  // Retried on EINTR only. Any other error (EIO, ENOSPC, EDQUOT) is final for the bytes concerned:
  // the kernel may already have dropped the pages it could not write (they are no longer dirty), so
  // a second fdatasync could succeed without them. Callers never publish such a file as complete.
  return status(retry_eintr([&] { return ::fdatasync(fd); }), "fdatasync");
}

Result<void> fadvise(int fd, off_t offset, off_t length, int advice) {
  // posix_fadvise returns the error number instead of setting errno.
  if (const int error = ::posix_fadvise(fd, offset, length, advice); error != 0) {
    return Error::from_errno(error, "posix_fadvise");
  }
  return {};
}

Result<void> fsync(int fd) { return status(retry_eintr([&] { return ::fsync(fd); }), "fsync"); }

Result<void> sync_file_range(int fd, std::uint64_t offset, std::uint64_t length,
                             unsigned int flags) {
  // sync_file_range only starts or waits for writeback of the range: it writes no metadata and
  // flushes no disk cache, so it makes nothing durable (sync_file_range(2)). It spreads the
  // writing, so that the final fdatasync has little left (docs/design.md §4.7).
  return status(retry_eintr([&] {
                  return ::sync_file_range(fd, static_cast<off64_t>(offset),
                                           static_cast<off64_t>(length), flags);
                }),
                "sync_file_range");
}

Result<void> fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length) {
  // Errors the caller tells apart: ENOSPC/EDQUOT (disk or quota full: pause the stream) and
  // EOPNOTSUPP/ENOSYS (no fallocate on this filesystem: stop reserving for that file).
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
  // Retried like the calls that can wait: on a network filesystem fstatvfs asks the server.
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
    // A size of 0 asks for the value's current length only, so the buffer can be sized exactly.
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
  // A retry after EINTR waits the whole timeout again. Signals are blocked in every thread, so an
  // interruption is rare (a debugger, SIGSTOP/SIGCONT) and the longer wait harmless.
  int rc = retry_eintr([&] { return ::poll(fds.data(), fds.size(), timeout_ms); });
  if (rc == -1) {
    return Error::from_errno(errno, "poll");
  }
  return rc;
}

Result<UniqueFd> epoll_create1(int flags) {
  // Callers pass EPOLL_CLOEXEC, as for every descriptor zcrecv opens: a hook must inherit none of
  // the worker's descriptors.
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
  // pthread_sigmask returns the error number instead of setting errno. It changes the calling
  // thread's mask only; threads created afterwards inherit it, which is why signals are blocked
  // before the first thread starts (docs/design.md §6).
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
  // One byte beyond HOST_NAME_MAX, and zeroed: POSIX leaves a truncated name unterminated, so the
  // last byte is always a terminator.
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name) == -1) {
    return Error::from_errno(errno, "gethostname");
  }
  return std::string(name);
}

}  // namespace zcrecv::sys
