// Who may send, and where the real zcrecv daemon may write: TCP allow-lists checked against
// real loopback source addresses, Unix allow_uids against a real process of another uid, file
// and directory modes whatever the umask, and a symbolic link planted in the output tree.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;

// The daemon with three listeners: "allowed" (TCP, only 127.0.0.2 may send), "open" (TCP, no
// list) and "root-only" (a Unix socket anyone may connect to, allow_uids = [0]). Files are
// {listener}/{peer}-{conn}-{seq}.bin under dir/out, mode 0600.
class AccessDaemon {
 public:
  explicit AccessDaemon(const TempDir& dir)
      : out_(dir / "out"), socket_path_(dir / "in.sock"), process_(args(dir)) {
    ::umask(previous_umask_);
    allowed_ = listening_address(process_.wait_for_stderr("(allowed)"));
    open_ = listening_address(process_.wait_for_stderr("(open)"));
    root_only_ = listening_address(process_.wait_for_stderr("(root-only)"));
  }

  Process& process() { return process_; }
  [[nodiscard]] const fs::path& out() const { return out_; }
  [[nodiscard]] const fs::path& socket_path() const { return socket_path_; }
  [[nodiscard]] const net::SocketAddress& allowed() const { return allowed_; }
  [[nodiscard]] const net::SocketAddress& open() const { return open_; }
  [[nodiscard]] const net::SocketAddress& root_only() const { return root_only_; }

  int stop() {
    process_.signal(SIGTERM);
    return process_.wait();
  }

 private:
  std::vector<std::string> args(const TempDir& dir) const {
    const fs::path config = dir / "zcrecv.toml";
    std::ofstream(config) << "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"allowed\"\n"
                          << "allow = [\"127.0.0.2/32\"]\n\n"
                          << "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"open\"\n\n"
                          << "[[listen]]\naddress = \"unix:" << socket_path_.string()
                          << "\"\nname = \"root-only\"\nmode = \"0666\"\nallow_uids = [0]\n\n"
                          << "[output]\ndirectory = \"" << out_.string() << "\"\n"
                          << "name = \"{listener}/{peer}-{conn}-{seq}.bin\"\n"
                          << "file_mode = \"0600\"\nsync = \"none\"\n";
    return {zcrecv_binary(), "-c", config.string(), "--workers", "1"};
  }

  fs::path out_;
  fs::path socket_path_;
  // The daemon starts under a umask that would take the group bits off 0750, so that it must
  // set modes exactly; the constructor restores the test's own umask.
  mode_t previous_umask_ = ::umask(077);
  Process process_;
  net::SocketAddress allowed_;
  net::SocketAddress open_;
  net::SocketAddress root_only_;
};

// After the daemon logged its rejection: it closed the connection, so the client reads the end
// of the stream (or a reset), never data.
void check_closed_by_daemon(const sys::UniqueFd& socket) {
  std::array<std::byte, 16> buffer{};
  CHECK(::recv(socket.get(), buffer.data(), buffer.size(), 0) <= 0);
}

mode_t mode_of(const fs::path& path) {
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

// The body of a forked child of this multi-threaded process: raw system calls only (no malloc,
// no locks), then _exit. It becomes `uid`, connects to `address`, sends `data` and waits for the
// daemon to close. Exit status 0: closed by the daemon; 10..14: the step that failed.
[[noreturn]] void send_as(uid_t uid, const net::SocketAddress& address,
                          std::span<const std::byte> data) {
  if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setgid, uid) != 0 ||
      ::syscall(SYS_setuid, uid) != 0) {
    ::_exit(10);
  }
  sys::UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) {
    ::_exit(11);
  }
  if (::connect(socket.get(), address.data(), address.size()) != 0) {
    ::_exit(12);
  }
  (void)::send(socket.get(), data.data(), data.size(), MSG_NOSIGNAL);
  pollfd readable{socket.get(), POLLIN, 0};
  if (::poll(&readable, 1, 10'000) != 1) {
    ::_exit(13);
  }
  std::byte byte{};
  ::_exit(::read(socket.get(), &byte, 1) > 0 ? 14 : 0);
}

TEST_CASE(
    "TCP allow-list: 127.0.0.2 is received byte for byte, 127.0.0.1 is closed, no file, modes") {
  TempDir dir;
  AccessDaemon daemon(dir);
  auto refused = connect_blocking(daemon.allowed());
  const auto unwanted = random_bytes(4096, 71);
  ::send(refused.get(), unwanted.data(), unwanted.size(), MSG_NOSIGNAL);
  CHECK(daemon.process().wait_for_stderr("rejected 127.0.0.1:").find("allowed") !=
        std::string::npos);
  check_closed_by_daemon(refused);

  const auto data = random_bytes(512 * 1024 + 3, 72);
  Sender sender(connect_from("127.0.0.2", daemon.allowed()), data);
  CHECK(sender.join().empty());
  daemon.process().wait_for_stderr(" files, ");
  CHECK(daemon.stop() == 0);

  const auto files = list_files(daemon.out());
  REQUIRE(files.size() == 1);
  CHECK(files.front().starts_with("allowed/127.0.0.2_"));
  CHECK(read_file(daemon.out() / files.front()) == data);

  // file_mode and 0750 exactly, although the daemon started under umask 077.
  CHECK(mode_of(daemon.out() / files.front()) == 0600);
  CHECK(mode_of(daemon.out() / "allowed") == 0750);
  CHECK(mode_of(daemon.out()) == 0750);
}

TEST_CASE("Unix allow_uids = [0]: uid 65534 is closed with no file, root is received") {
  if (skipped_because(::geteuid() != 0,
                      "only root can run a client as uid 65534; run the tests as root")) {
    return;
  }
  TempDir dir;
  // uid 65534 must be able to reach the socket file (mode 0666) through the directory.
  fs::permissions(dir.path(),
                  fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  AccessDaemon daemon(dir);
  CHECK(mode_of(daemon.socket_path()) == 0666);

  const auto unwanted = random_bytes(4096, 73);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    send_as(kNobody, daemon.root_only(), unwanted);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(daemon.process().wait_for_stderr("rejected unix uid=65534").find("not in allow_uids") !=
        std::string::npos);

  const auto data = random_bytes(256 * 1024 + 5, 74);
  Sender sender(connect_blocking(daemon.root_only()), data);
  CHECK(sender.join().empty());
  daemon.process().wait_for_stderr(" files, ");
  CHECK(daemon.stop() == 0);

  const auto files = list_files(daemon.out());
  REQUIRE(files.size() == 1);
  CHECK(files.front().starts_with("root-only/unix-uid0-pid"));
  CHECK(read_file(daemon.out() / files.front()) == data);
}

TEST_CASE("a symlink planted where a directory of the template goes is never followed") {
  TempDir dir;
  const fs::path elsewhere = dir / "elsewhere";
  fs::create_directories(elsewhere);
  fs::create_directories(dir / "out");
  fs::create_directory_symlink(elsewhere, dir / "out" / "open");
  AccessDaemon daemon(dir);

  const auto data = random_bytes(64 * 1024, 75);
  Sender sender(connect_blocking(daemon.open()), data);
  CHECK(sender.join().empty());
  const std::string failure = daemon.process().wait_for_stderr("symbolic link");
  // Not followed: the stream goes to the fallback name in the output directory instead.
  CHECK(failure.find("\"open\"") != std::string::npos);
  CHECK(failure.find("the stream goes to \"fallback-open-") != std::string::npos);
  daemon.process().wait_for_stderr("on open from 127.0.0.1:");

  // The other listener's stream lands in out/allowed as ever.
  const auto other = random_bytes(1000, 76);
  Sender allowed(connect_from("127.0.0.2", daemon.allowed()), other);
  CHECK(allowed.join().empty());
  daemon.process().wait_for_stderr("on allowed from 127.0.0.2:");
  CHECK(daemon.stop() == 0);

  CHECK(fs::is_empty(elsewhere));
  CHECK(fs::is_symlink(dir / "out" / "open"));
  const auto files = list_files(dir / "out");
  REQUIRE(files.size() == 2);
  CHECK(files[0].starts_with("allowed/127.0.0.2_"));
  CHECK(read_file(dir / "out" / files[0]) == other);
  CHECK(files[1].starts_with("fallback-open-"));
  CHECK(read_file(dir / "out" / files[1]) == data);
}

}  // namespace
}  // namespace zcrecv::test
