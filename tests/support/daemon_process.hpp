#pragma once

#include <signal.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "net/socket_address.hpp"
#include "support/process.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {

/// The file name template of every DaemonProcess: "{conn}-{seq}.bin", so that reassemble() finds
/// a connection's files again.
inline constexpr const char* kStreamTemplate = "{conn}-{seq}.bin";

/// The real zcrecv daemon on 127.0.0.1:0 and a Unix socket in `dir`, writing into dir/out, with
/// two workers (unless `extra` says --workers) and file names from kStreamTemplate. Killed with SIGKILL if still running when
/// destroyed.
class DaemonProcess {
 public:
  /// Starts `launcher` (e.g. {"prlimit", "--nofile=64:64"}, or empty) followed by zcrecv and its
  /// arguments, `extra` last; waits until both listeners are open.
  DaemonProcess(const TempDir& dir, const std::vector<std::string>& extra,
                const std::vector<std::string>& launcher = {});

  Process& process() { return process_; }
  [[nodiscard]] const std::filesystem::path& out() const { return out_; }
  [[nodiscard]] const net::SocketAddress& tcp() const { return tcp_; }
  [[nodiscard]] const net::SocketAddress& unix_socket() const { return unix_; }
  /// Waits for `count` per-connection end lines in the log.
  void wait_for_ended(std::size_t count) { process_.wait_for_stderr_count(" files, ", count); }
  /// SIGTERM, then the exit status.
  int stop() {
    process_.signal(SIGTERM);
    return process_.wait();
  }

 private:
  static std::vector<std::string> args(const TempDir& dir, const std::vector<std::string>& extra,
                                       const std::vector<std::string>& launcher);

  std::filesystem::path out_;
  Process process_;
  net::SocketAddress tcp_;
  net::SocketAddress unix_;
};

/// Starts zcrecv on `dir` again (with `extra`) after a daemon there was killed, waits until it
/// has recovered the partial file that one left, stops it (exit 0 checked), and returns the only
/// stream under dir/out.
StreamFiles recovered_stream(const TempDir& dir, const std::vector<std::string>& extra);

}  // namespace zcrecv::test
