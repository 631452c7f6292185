#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "net/listener.hpp"
#include "sys/error.hpp"
#include "sys/result.hpp"

namespace zcrecv::net {

/// A listening socket watched on an event loop: each wake-up accepts up to `max_per_event`
/// connections and hands each to `admit`. When accept fails — out of descriptors or memory
/// (EMFILE, ENFILE, ENOBUFS, ENOMEM), or anything else, as persistent — the connection stays
/// queued and the socket readable, so a level-triggered watch would wake the loop again at
/// once, for ever: it stops watching for `backoff` instead, and warns once per burst of
/// failures (`NAME: ERROR; pausing accepts for 100 ms`).
///
/// Threads: the loop's thread only.
class AcceptWatch final : public event::Handler {
 public:
  using Admit = std::function<void(AcceptedConnection)>;

  struct Options {
    /// Connections taken per wake-up before the loop serves its other descriptors.
    int max_per_event = 64;
    std::chrono::milliseconds backoff{100};
    /// Added to EPOLLIN: EPOLLEXCLUSIVE where several loops watch one socket.
    std::uint32_t epoll_flags = 0;
  };

  /// `loop` and `listener` must outlive the watch. `name` starts its log lines and errors
  /// ("listener tcp-9000").
  AcceptWatch(event::EventLoop& loop, Listener& listener, std::string name, Options options,
              Admit admit);
  /// Stops watching the socket.
  ~AcceptWatch() override;

  /// Starts watching the socket.
  sys::Result<void> start();
  /// Accepts every connection already queued on the socket, however many.
  void accept_queued();
  /// Names the log lines from now on.
  void set_name(std::string name) { name_ = std::move(name); }

  void on_event(std::uint32_t events) override;

 private:
  sys::Result<void> watch();
  void back_off(const sys::Error& error);

  event::EventLoop& loop_;
  Listener& listener_;
  std::string name_;
  Options options_;
  Admit admit_;
  event::Timer backoff_;
  bool watching_ = false;
  bool in_burst_ = false;
};

}  // namespace zcrecv::net
