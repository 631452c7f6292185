#pragma once

// Thin wrappers, one per system call, named as in the man pages. Each retries EINTR, captures
// errno at once into the returned Error, and says "would block" in its type: a call on a
// non-blocking descriptor returns std::nullopt instead of failing with EAGAIN.

#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include <signal.h>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::sys {

/// The two ends of a pipe.
struct PipeFds {
  UniqueFd read_end;
  UniqueFd write_end;
};

/// Bytes moved, or std::nullopt when the call would block. 0 means end of stream for reads.
using IoResult = Result<std::optional<std::size_t>>;

IoResult read(int fd, std::span<std::byte> buffer);
IoResult write(int fd, std::span<const std::byte> buffer);
/// recv(2); with MSG_PEEK the bytes stay queued. 0 means end of stream.
IoResult recv(int fd, std::span<std::byte> buffer, int flags);
/// send(2); with MSG_NOSIGNAL a peer that has gone is EPIPE, not a SIGPIPE.
IoResult send(int fd, std::span<const std::byte> buffer, int flags);
/// splice(2) with null offsets: both ends use (and advance) their file position.
IoResult splice(int fd_in, int fd_out, std::size_t length, unsigned int flags);
/// sendfile(2) of up to `length` bytes of `in_fd` from `offset` (in_fd's own file position is
/// left alone) to `out_fd`. 0 means `offset` is at or past the end of the file.
IoResult sendfile(int out_fd, int in_fd, std::uint64_t offset, std::size_t length);

Result<PipeFds> pipe2(int flags);
/// F_SETPIPE_SZ; returns the capacity the kernel actually set.
Result<std::size_t> set_pipe_size(int fd, std::size_t size);
/// F_GETPIPE_SZ.
Result<std::size_t> get_pipe_size(int fd);
Result<int> get_status_flags(int fd);
Result<void> set_status_flags(int fd, int flags);
/// Sets or clears O_NONBLOCK, keeping the other status flags.
Result<void> set_nonblocking(int fd, bool nonblocking);
/// Sets FD_CLOEXEC (fcntl F_SETFD), for descriptors inherited from another process.
Result<void> set_close_on_exec(int fd);

Result<UniqueFd> socket(int domain, int type, int protocol);
Result<void> bind(int fd, const sockaddr* address, socklen_t length);
Result<void> listen(int fd, int backlog);
/// connect(2); a non-blocking connect in progress is reported as success.
Result<void> connect(int fd, const sockaddr* address, socklen_t length);
/// accept4(2); std::nullopt when no connection is waiting.
Result<std::optional<UniqueFd>> accept4(int fd, sockaddr* address, socklen_t* length, int flags);
Result<void> setsockopt_int(int fd, int level, int option, int value);
Result<int> getsockopt_int(int fd, int level, int option);
Result<ucred> get_peer_credentials(int fd);
Result<void> getsockname(int fd, sockaddr* address, socklen_t* length);
Result<void> getpeername(int fd, sockaddr* address, socklen_t* length);
Result<void> shutdown(int fd, int how);
/// sendto(2) of one datagram to `address`; std::nullopt when the receiver's queue is full.
IoResult sendto(int fd, std::span<const std::byte> buffer, int flags, const sockaddr* address,
                socklen_t length);

Result<UniqueFd> open(const char* path, int flags, mode_t mode = 0);
/// fcntl(F_DUPFD_CLOEXEC): a second, close-on-exec descriptor for what `fd` refers to.
Result<UniqueFd> dup(int fd);
/// lseek(2); returns the resulting offset.
Result<off_t> lseek(int fd, off_t offset, int whence);
/// memfd_create(2): an anonymous file in memory; `flags` MFD_CLOEXEC, MFD_ALLOW_SEALING, ...
Result<UniqueFd> memfd_create(const char* name, unsigned int flags);
Result<UniqueFd> openat(int dir_fd, const char* path, int flags, mode_t mode = 0);
/// openat2(2) (Linux 5.6): `resolve` is RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, ...
Result<UniqueFd> openat2(int dir_fd, const char* path, int flags, std::uint64_t resolve);
Result<void> renameat2(int old_dir_fd, const char* old_path, int new_dir_fd,
                       const char* new_path, unsigned int flags);
Result<void> mkdirat(int dir_fd, const char* path, mode_t mode);
Result<void> fchmod(int fd, mode_t mode);
Result<void> linkat(int old_dir_fd, const char* old_path, int new_dir_fd, const char* new_path,
                    int flags);
/// getdents64(2): fills `buffer` with linux_dirent64 records; returns the bytes filled, 0 at the
/// end of the directory.
Result<std::size_t> getdents64(int dir_fd, std::span<std::byte> buffer);
Result<void> unlinkat(int dir_fd, const char* path, int flags);
Result<void> fdatasync(int fd);
Result<void> fsync(int fd);
/// sync_file_range(2): SYNC_FILE_RANGE_WRITE starts writeback of [offset, offset + length);
/// with SYNC_FILE_RANGE_WAIT_BEFORE/AFTER it also waits for it. Durable only with fdatasync.
Result<void> sync_file_range(int fd, std::uint64_t offset, std::uint64_t length,
                             unsigned int flags);
Result<void> ftruncate(int fd, off_t length);
/// posix_fadvise(2) (which returns its error rather than setting errno).
Result<void> fadvise(int fd, off_t offset, off_t length, int advice);
/// fallocate(2): with FALLOC_FL_KEEP_SIZE, reserves blocks for [offset, offset + length) without
/// changing the file's size; with FALLOC_FL_PUNCH_HOLE too, gives them back.
Result<void> fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length);
Result<struct stat> fstat(int fd);
Result<struct stat> fstatat(int dir_fd, const char* path, int flags);
/// faccessat(2): whether the process may access `path` as `mode` (R_OK, W_OK, X_OK) asks.
Result<void> faccessat(int dir_fd, const char* path, int mode, int flags);
Result<struct statvfs> fstatvfs(int fd);
/// fsetxattr(2) of `value` as the whole value of attribute `name` (flags 0: create or replace).
Result<void> fsetxattr(int fd, const char* name, std::string_view value);
/// fgetxattr(2): the value of attribute `name`, or std::nullopt when the file has none (ENODATA).
Result<std::optional<std::string>> fgetxattr(int fd, const char* name);
Result<void> fremovexattr(int fd, const char* name);

/// poll(2); returns the number of ready descriptors (0 on timeout).
Result<int> poll(std::span<pollfd> fds, int timeout_ms);
Result<UniqueFd> epoll_create1(int flags);
Result<void> epoll_ctl(int epoll_fd, int op, int fd, std::uint32_t events, std::uint64_t data);
/// epoll_wait(2); returns the number of events filled in.
Result<int> epoll_wait(int epoll_fd, std::span<epoll_event> events, int timeout_ms);
Result<UniqueFd> signalfd(const sigset_t& mask, int flags);
Result<UniqueFd> timerfd_create(int clock_id, int flags);
/// Arms a timerfd: first expiry after `initial_ns`, then every `interval_ns` (0 = once).
/// Both 0 disarms it.
Result<void> timerfd_settime(int fd, std::uint64_t initial_ns, std::uint64_t interval_ns);
Result<UniqueFd> eventfd(unsigned int initial, int flags);

Result<timespec> clock_gettime(clockid_t clock);
Result<rlimit> getrlimit(int resource);
Result<void> setrlimit(int resource, const rlimit& limit);

/// pidfd_open(2) (Linux 5.3): a descriptor (close-on-exec) that becomes readable when process
/// `pid`, a child that is not reaped yet, exits.
Result<UniqueFd> pidfd_open(pid_t pid);
/// waitid(2): the child's status; with WNOHANG, std::nullopt while it has not changed.
Result<std::optional<siginfo_t>> waitid(idtype_t id_type, id_t id, int options);
/// kill(2): `pid` below -1 signals the process group -pid.
Result<void> kill(pid_t pid, int signal_number);
/// Blocks `mask` in the calling thread (pthread_sigmask SIG_BLOCK).
Result<void> block_signals(const sigset_t& mask);

/// getrandom(2) without flags: fills all of `buffer` (blocks only before the kernel's pool is
/// initialised, early at boot).
Result<void> getrandom(std::span<std::byte> buffer);
/// gethostname(2): this machine's host name.
Result<std::string> gethostname();

}  // namespace zcrecv::sys
