#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>

namespace zcrecv::event {

class EventLoop;

/// A one-shot or periodic timer of an EventLoop, re-armable at will.
///
/// Timers do not own a timerfd each: the loop keeps every armed timer in one TimerQueue and
/// programs its single timerfd for the earliest deadline, so ten thousand idle connections cost
/// ten thousand heap entries, not ten thousand descriptors. Loop thread only. The callback runs
/// on the loop thread; it may re-arm or cancel this timer or any other, but must not destroy
/// its own timer (EventLoop::defer the destruction instead).
class Timer {
 public:
  using Clock = std::chrono::steady_clock;
  using Callback = std::function<void()>;

  /// A disarmed timer of `loop`, which must outlive it.
  Timer(EventLoop& loop, Callback callback);
  // The loop's queue points at the timer: it stays where it was made.
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  /// Cancels the timer.
  ~Timer();

  /// Fires after `delay` (at once if it is not positive), then every `interval` if that is
  /// positive. Replaces any previous schedule.
  void arm(std::chrono::nanoseconds delay, std::chrono::nanoseconds interval = {});
  /// Fires at `deadline`, then every `interval` if that is positive.
  void arm_at(Clock::time_point deadline, std::chrono::nanoseconds interval = {});
  /// Disarms the timer; it does nothing if not armed.
  void cancel();

  [[nodiscard]] bool armed() const noexcept { return heap_index_ != kNotQueued; }
  /// When the timer fires next; meaningful only while armed().
  [[nodiscard]] Clock::time_point deadline() const noexcept { return deadline_; }

 private:
  friend class EventLoop;
  friend class TimerQueue;

  static constexpr std::size_t kNotQueued = std::numeric_limits<std::size_t>::max();

  EventLoop& loop_;
  Callback callback_;
  Clock::time_point deadline_{};
  std::chrono::nanoseconds interval_{0};
  std::size_t heap_index_ = kNotQueued;
  std::uint64_t sequence_ = 0;
};

}  // namespace zcrecv::event
