#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zcrecv::event {

class Timer;

/// The armed timers of one EventLoop, earliest deadline first: a binary min-heap of Timer
/// pointers in which every timer knows its own index, so that cancelling one is O(log n) and
/// nothing is allocated once the heap has grown to the number of armed timers. Timers with the
/// same deadline come out in the order they were pushed.
class TimerQueue {
 public:
  /// Adds `timer`, which must not be queued, at its deadline.
  void push(Timer& timer);
  /// Removes `timer`, which must be queued.
  void erase(Timer& timer);
  /// The timer with the earliest deadline, or nullptr when none is queued.
  [[nodiscard]] Timer* top() const noexcept { return heap_.empty() ? nullptr : heap_.front(); }
  [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }

 private:
  static bool earlier(const Timer& left, const Timer& right) noexcept;
  void place(std::size_t index, Timer* timer) noexcept;
  void sift_up(std::size_t index) noexcept;
  void sift_down(std::size_t index) noexcept;

  std::vector<Timer*> heap_;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace zcrecv::event
