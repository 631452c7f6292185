#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "event/signal_fd.hpp"
#include "io/copy_mode.hpp"
#include "net/cidr.hpp"
#include "net/listen_address.hpp"
#include "output/name_template.hpp"
#include "output/output_directory.hpp"
#include "sys/result.hpp"

namespace zcrecv::oneshot {

/// What `zcrecv --once` / `--stdin` receives, and where it puts it.
struct OneShotSettings {
  /// The address to accept one connection on; std::nullopt means the connection is already
  /// standard input (`--stdin`).
  std::optional<net::ListenAddress> listen;
  /// "-" for standard output, an existing directory (files named by `name_template`, rotated),
  /// or a file that must not exist yet.
  std::string out = "-";
  /// Stop after this many bytes (0 = no limit); a stream longer than that is cut.
  std::uint64_t max_bytes = 0;
  /// Give up when no connection arrives, or the stream stalls, this long (0 = wait forever).
  std::chrono::nanoseconds timeout{0};
  bool progress = false;
  io::CopyMode copy_mode = io::CopyMode::kAuto;
  output::SyncMode sync = output::SyncMode::kPublish;
  mode_t file_mode = 0640;
  /// Directory output only: the name template and rotation, as in the daemon.
  std::string name_template;
  std::string listener_name = "once";
  /// The clock of the times in names (`output.time_zone`).
  output::TimeZone time_zone = output::TimeZone::kUtc;
  std::uint64_t max_file_size = 0;
  std::chrono::nanoseconds rotate_interval{0};
  bool keep_empty = true;
  /// --once: the peers let in, as the daemon's listener checks them (TCP: `allow`, Unix:
  /// `allow_uids`; empty lets everyone in). Another peer's connection is logged and closed, and
  /// the receiver waits on for one that may connect.
  std::vector<net::Cidr> allow;
  std::vector<uid_t> allow_uids;
  /// Answer a delivery receipt on the connection once the stream is stored ("OK <bytes>") or
  /// cut ("ERR <bytes> <reason>"), then close it (README "Delivery receipts"). Files are synced
  /// whatever `sync` says; the output must be a file or a directory.
  bool receipt = false;
  /// Directory output only: one byte that ends a record ("" = none), and how far before a
  /// file's end a boundary is looked for (see stream::SessionSettings).
  std::string record_delimiter;
  std::uint64_t record_max = std::uint64_t{64} << 10;
};

/// How a one-shot receive ended.
enum class OneShotEnd {
  /// The peer closed its side cleanly: every byte it sent is kept.
  kComplete,
  /// The peer reset the connection; the bytes before the reset are kept.
  kReset,
  /// The stream was longer than max_bytes; the first max_bytes bytes are kept.
  kLimitExceeded,
  /// No connection arrived, or the stream (or a full output) stalled, for `timeout`.
  kTimedOut,
  /// SIGINT or SIGTERM arrived first.
  kInterrupted,
  /// An I/O error (a sink that refused the bytes, a file that could not be published...). A
  /// full disk is not one: the receive pauses until space returns, or until `timeout`.
  kFailed,
};

/// The record of one receive, for the summary line and the exit status.
struct OneShotReport {
  OneShotEnd end = OneShotEnd::kComplete;
  std::uint64_t bytes = 0;
  std::chrono::nanoseconds elapsed{0};
  io::DataPath path = io::DataPath::kSplice;
  /// The peer as shown in logs; empty when no connection arrived.
  std::string peer;
  /// The peer as it may appear in file names.
  std::string peer_token;
  /// The first and the last file published (with the output directory), or "stdout".
  std::vector<std::string> outputs;
  /// Why the receive did not complete, for kReset, kFailed and kTimedOut.
  std::string reason;
  /// Bytes taken from the connection that never reached the output (the output failed while
  /// they waited for it); the summary line reports them as lost.
  std::size_t unwritten = 0;
  /// The receipt sent, without its newline ("OK 42"); empty when there was none to send.
  std::string receipt;
};

/// Receives one stream into `settings.out`. Errors found before any byte can arrive (the
/// output exists, the address cannot be bound) are returned as an Error; everything after that
/// is in the report. `signals` must deliver SIGINT and SIGTERM.
sys::Result<OneShotReport> receive_once(const OneShotSettings& settings, event::SignalFd& signals);

/// The exit status docs/design.md §12 gives each ending: 0 complete, 3 timed out, 1 otherwise.
int exit_status(OneShotEnd end);

/// "complete", "reset by peer", ...: the end as written in the summary line.
const char* to_string(OneShotEnd end);

}  // namespace zcrecv::oneshot
