#include "event/timer.hpp"

#include <utility>

#include "event/event_loop.hpp"

namespace zcrecv::event {

Timer::Timer(EventLoop& loop, Callback callback) : loop_(loop), callback_(std::move(callback)) {}

// A timer destroyed while armed would leave a dangling pointer in the loop's heap.
Timer::~Timer() { cancel(); }

void Timer::arm(std::chrono::nanoseconds delay, std::chrono::nanoseconds interval) {
  // Clock::now(), not the loop's time of this round: a handler may have run long since the round
  // began, and a delay counted from then would fire early.
  arm_at(Clock::now() + delay, interval);
}

// Re-arming takes the timer out of the heap first: its deadline is the heap's key and cannot change
// in place.
void Timer::arm_at(Clock::time_point deadline, std::chrono::nanoseconds interval) {
  cancel();
  deadline_ = deadline;
  interval_ = interval;
  loop_.schedule(*this);
}

void Timer::cancel() {
  if (armed()) {
    loop_.unschedule(*this);
  }
}

}  // namespace zcrecv::event
