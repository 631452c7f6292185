#include "event/timer.hpp"

#include <utility>

#include "event/event_loop.hpp"

namespace zcrecv::event {

Timer::Timer(EventLoop& loop, Callback callback) : loop_(loop), callback_(std::move(callback)) {}

Timer::~Timer() { cancel(); }

void Timer::arm(std::chrono::nanoseconds delay, std::chrono::nanoseconds interval) {
  arm_at(Clock::now() + delay, interval);
}

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
