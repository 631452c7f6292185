#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "event/timer_queue.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::event {

class Timer;

/// What an EventLoop calls when a descriptor registered with it is ready.
class Handler {
 public:
  Handler() = default;
  Handler(const Handler&) = delete;
  Handler& operator=(const Handler&) = delete;
  virtual ~Handler() = default;

  /// `events`: the epoll flags that fired (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, ...).
  virtual void on_event(std::uint32_t events) = 0;
};

/// One thread's reactor: an epoll set holding the thread's descriptors, one timerfd for all of
/// its Timers, and an eventfd through which other threads hand it work.
///
/// Threads: the thread that calls run() owns the loop. Everything but post() and stop() —
/// registering descriptors, arming timers, defer() — happens on that thread (or before run()
/// starts); handlers, timer callbacks, posted and deferred tasks all run on it.
class EventLoop {
 public:
  using Task = std::function<void()>;
  using Clock = std::chrono::steady_clock;

  /// A loop with its epoll set, timerfd and eventfd. Errors name the call.
  static sys::Result<std::unique_ptr<EventLoop>> create();

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop();

  /// Watches `fd` for `events` (EPOLLIN, EPOLLEXCLUSIVE, EPOLLET, ...) and calls `handler`,
  /// which must stay alive until remove(fd), when it is ready.
  sys::Result<void> add(int fd, std::uint32_t events, Handler& handler);
  /// Changes the events a registered `fd` is watched for.
  sys::Result<void> modify(int fd, std::uint32_t events);
  /// Gives the watched `fd` to `handler` without a system call: one handler takes a descriptor
  /// over from another. The events it is watched for stay as they were (modify() changes them),
  /// and an event of it already collected in the batch being dispatched goes to `handler`.
  sys::Result<void> hand_over(int fd, Handler& handler);
  /// Stops watching `fd`; its handler is not called again, not even for an event already
  /// collected in the batch being dispatched. Call it before closing `fd`.
  sys::Result<void> remove(int fd);
  /// remove() and close for a watched descriptor that was never duplicated: closing the last
  /// descriptor of an open file takes it out of the epoll set, so this saves the epoll_ctl call
  /// (one of the few syscalls of a short connection).
  sys::Result<void> close(sys::UniqueFd fd);

  /// Runs `task` on the loop thread soon. Callable from any thread, the loop's own included.
  void post(Task task);
  /// Runs `task` on the loop thread once the current batch of events, timers and tasks is
  /// dispatched: the way to destroy a handler or a timer from inside its own callback.
  void defer(Task task);

  /// Waits and dispatches until stop(); see the definition for the order of things.
  sys::Result<void> run();
  /// Makes run() return after the batch it is dispatching. Callable from any thread.
  void stop();

  /// The time the loop last woke up: cheap, and the same for every handler of a batch.
  [[nodiscard]] Clock::time_point now() const noexcept { return now_; }

 private:
  friend class Timer;

  // What epoll_event.data carries: the descriptor, and the generation of its registration so
  // that an event collected before remove() (or before the number was reused) is dropped.
  struct Slot {
    Handler* handler = nullptr;
    std::uint32_t generation = 0;
  };

  class WakeHandler final : public Handler {
   public:
    explicit WakeHandler(EventLoop& loop) : loop_(loop) {}
    void on_event(std::uint32_t events) override;

   private:
    EventLoop& loop_;
  };

  class TimerHandler final : public Handler {
   public:
    explicit TimerHandler(EventLoop& loop) : loop_(loop) {}
    void on_event(std::uint32_t events) override;

   private:
    EventLoop& loop_;
  };

  EventLoop(sys::UniqueFd epoll, sys::UniqueFd wake, sys::UniqueFd timer);

  static std::uint64_t token(int fd, std::uint32_t generation) noexcept;
  // Forgets the handler of `fd` and makes its events already collected stale.
  sys::Result<void> release(int fd);

  sys::Result<void> wait_for_events();
  void dispatch_events();
  void run_due_timers();
  void run_posted_tasks();
  void run_deferred_tasks();

  void wake();
  void schedule(Timer& timer);
  void unschedule(Timer& timer);
  // Points the timerfd at the earliest armed timer (or disarms it).
  void program_timerfd();

  sys::UniqueFd epoll_;
  sys::UniqueFd wake_fd_;
  sys::UniqueFd timer_fd_;
  WakeHandler wake_handler_{*this};
  TimerHandler timer_handler_{*this};

  std::vector<Slot> slots_;
  std::vector<epoll_event> events_;
  int ready_count_ = 0;
  Clock::time_point now_;

  TimerQueue timers_;
  // The deadline the timerfd is set for; Clock::time_point::max() when it is disarmed.
  Clock::time_point programmed_ = Clock::time_point::max();
  // A failure of the loop's own machinery (the timerfd), returned by run().
  std::optional<sys::Error> failure_;

  std::vector<Task> deferred_;
  std::vector<Task> running_deferred_;
  std::vector<Task> running_posted_;
  bool wake_fired_ = false;

  std::mutex posted_mutex_;
  std::vector<Task> posted_;
  bool wake_pending_ = false;
  std::atomic<bool> stopping_{false};
};

}  // namespace zcrecv::event
