#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/socket_address.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::test {

/// The zcrecv binary under test (built beside the test binary).
std::string zcrecv_binary();

/// A child process (the real zcrecv binary, or a helper like cat) with its stderr, and unless
/// redirected its stdout, collected by reader threads. Killed with SIGKILL if still running when
/// destroyed.
class Process {
 public:
  struct Options {
    /// Descriptors to give the child as stdin/stdout; std::nullopt: /dev/null for stdin, a
    /// captured pipe for stdout.
    std::optional<int> stdin_fd{};
    std::optional<int> stdout_fd{};
    /// Descriptors the child keeps, under the same numbers, although they are close-on-exec
    /// (listening sockets for HAProxy's `bind fd@N`).
    std::vector<int> inherited_fds{};
  };

  Process(const std::vector<std::string>& argv, const Options& options);
  explicit Process(const std::vector<std::string>& argv) : Process(argv, Options{}) {}
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  [[nodiscard]] pid_t pid() const { return pid_; }
  /// Sends `signal_number` to the child.
  void signal(int signal_number) const;
  /// Waits for the child to exit and returns its status (128 + N when killed by signal N).
  /// Throws if it has not exited within `timeout` (after killing it).
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(120));
  /// Waits until stderr has a line containing `needle` and returns that line; throws with the
  /// whole stderr so far if it does not appear within `timeout` or the stream ends.
  std::string wait_for_stderr(std::string_view needle,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// Waits until stderr holds `count` occurrences of `needle`; throws like wait_for_stderr.
  void wait_for_stderr_count(std::string_view needle, std::size_t count,
                             std::chrono::milliseconds timeout = std::chrono::seconds(60));
  /// Everything collected so far.
  [[nodiscard]] std::string stderr_text();
  [[nodiscard]] std::string stdout_text();

 private:
  struct Capture {
    sys::UniqueFd fd;
    std::string text;
    bool closed = false;
    std::thread reader;
  };
  void collect(Capture& capture);

  pid_t pid_ = -1;
  std::optional<int> status_;
  std::mutex mutex_;
  std::condition_variable changed_;
  Capture stderr_;
  Capture stdout_;
};

/// The address in a `listening on ADDR` log line ("127.0.0.1:41234", "unix:/tmp/x.sock"),
/// ready to connect to.
net::SocketAddress listening_address(const std::string& line);

}  // namespace zcrecv::test
