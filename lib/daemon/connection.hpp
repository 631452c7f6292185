#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "daemon/connection_settings.hpp"
#include "daemon/worker.hpp"
#include "metrics/listener_stats.hpp"
#include "net/peer_identity.hpp"
#include "stream/end_cause.hpp"
#include "stream/rotating_sink.hpp"
#include "stream/session.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::daemon {

class Worker;

/// One accepted connection on its worker: the daemon's owner of a stream::Session, which holds
/// the per-stream policy. The connection adds what is the daemon's: the worker's lifecycle (open
/// and finished connections), the listener's and the daemon's counters, the sync stage, hand-off
/// records and announcements, and the end line.
///
/// A receipt listener's files are synced whatever `sync` says (a receipt promises durable
/// bytes). A proxy's own connection (`peer.proxy_itself`: a health check) that sends nothing
/// leaves no file, even with keep_empty, and logs its end at debug level, however it ended.
class Connection final : public stream::SessionOwner {
 public:
  Connection(Worker& worker, std::shared_ptr<const ConnectionSettings> settings,
             std::shared_ptr<metrics::ListenerStats> listener, bool receipt, sys::UniqueFd socket,
             net::PeerIdentity peer, std::string id);
  ~Connection() override;

  /// Starts the session (stream::Session::start).
  sys::Result<void> start(bool watched = false);
  /// Publishes the current file now (SIGUSR1).
  void rotate_now() { session_->rotate_now(); }
  /// Ends the connection now, its last file published ".incomplete".
  void cut(EndCause cause, const std::string& reason) { session_->cut(cause, reason); }

  [[nodiscard]] const net::PeerIdentity& peer() const noexcept { return peer_; }
  [[nodiscard]] const std::string& id() const noexcept { return id_; }
  /// The counters of the listener that accepted it.
  [[nodiscard]] metrics::ListenerStats& listener() const noexcept { return *listener_; }

  // stream::SessionOwner
  bool output_space_low() override;
  void moved(std::uint64_t bytes, io::DataPath path) override;
  void state_changed(stream::SessionState from, stream::SessionState to) override;
  void paused(stream::SessionState state, const std::string& why, bool disk_full) override;
  void record_split(bool first) override;
  void files_pending(std::uint64_t pending) override;
  void ended(EndCause cause, std::uint64_t lost) override;
  void closing() override;
  void finished() override;

 private:
  // Wires the file sequence to the sync stage, the counters and the hand-off.
  void wire_files(stream::RotatingSink& sink);
  void log_end() const;

  Worker& worker_;
  std::shared_ptr<const ConnectionSettings> settings_;
  std::shared_ptr<metrics::ListenerStats> listener_;
  net::PeerIdentity peer_;
  std::string id_;
  // Files on the sync stage as last counted in the daemon's sync queue gauge.
  std::uint64_t counted_sync_queue_ = 0;
  std::unique_ptr<stream::Session> session_;
};

}  // namespace zcrecv::daemon
