#pragma once

#include <cstdint>
#include <memory>

#include "daemon/listener_settings.hpp"
#include "daemon/shared_listener.hpp"
#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "sys/error.hpp"
#include "sys/result.hpp"

namespace zcrecv::daemon {

class Worker;

/// One worker's watch on a shared listening socket: accepts the connections the kernel wakes
/// this worker for and hands them to the worker. When accept fails for lack of descriptors or
/// memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) it stops watching for kBackoff — a level-triggered
/// listener would otherwise wake the loop again at once, for ever — and logs once per burst.
class Acceptor final : public event::Handler {
 public:
  static constexpr std::chrono::milliseconds kBackoff{100};
  /// Connections taken per wake-up before the loop serves the others.
  static constexpr int kMaxAcceptsPerEvent = 64;

  Acceptor(Worker& worker, std::shared_ptr<SharedListener> listener,
           std::shared_ptr<const ListenerSettings> settings);
  /// Stops watching the socket.
  ~Acceptor() override;

  /// Starts watching the socket.
  sys::Result<void> start();
  void on_event(std::uint32_t events) override;
  /// Accepts every connection already queued on the socket: a stopping daemon serves them
  /// rather than let the close of the socket reset them.
  void accept_queued();
  /// For connections accepted from now on.
  void set_settings(std::shared_ptr<const ListenerSettings> settings) {
    settings_ = std::move(settings);
  }

 private:
  void back_off(const sys::Error& error);
  sys::Result<void> watch();

  Worker& worker_;
  std::shared_ptr<SharedListener> listener_;
  std::shared_ptr<const ListenerSettings> settings_;
  event::Timer backoff_;
  bool watching_ = false;
  bool in_burst_ = false;
};

}  // namespace zcrecv::daemon
