#include "event/timer_queue.hpp"

#include <utility>

#include "event/timer.hpp"

namespace zcrecv::event {

void TimerQueue::push(Timer& timer) {
  // An intrusive binary heap: each timer knows its index, so a cancel (every re-arm cancels first)
  // costs O(log n) with no allocation and no search. The sequence number breaks ties in arming
  // order, so timers due at the same instant fire in the order they were set.
  timer.sequence_ = next_sequence_++;
  heap_.push_back(&timer);
  place(heap_.size() - 1, &timer);
  sift_up(heap_.size() - 1);
}

void TimerQueue::erase(Timer& timer) {
  std::size_t index = timer.heap_index_;
  Timer* last = heap_.back();
  heap_.pop_back();
  timer.heap_index_ = Timer::kNotQueued;
  if (last == &timer) {
    return;
  }
  // The last timer fills the hole; it may belong above or below it.
  place(index, last);
  sift_up(index);
  // At most one of the two sifts moves it; the other finds it in place at once.
  sift_down(last->heap_index_);
}

bool TimerQueue::earlier(const Timer& left, const Timer& right) noexcept {
  if (left.deadline_ != right.deadline_) {
    return left.deadline_ < right.deadline_;
  }
  return left.sequence_ < right.sequence_;
}

void TimerQueue::place(std::size_t index, Timer* timer) noexcept {
  heap_[index] = timer;
  timer->heap_index_ = index;
}

void TimerQueue::sift_up(std::size_t index) noexcept {
  Timer* timer = heap_[index];
  while (index > 0) {
    std::size_t parent = (index - 1) / 2;
    if (!earlier(*timer, *heap_[parent])) {
      break;
    }
    place(index, heap_[parent]);
    index = parent;
  }
  place(index, timer);
}

void TimerQueue::sift_down(std::size_t index) noexcept {
  Timer* timer = heap_[index];
  const std::size_t count = heap_.size();
  for (;;) {
    std::size_t child = 2 * index + 1;
    if (child >= count) {
      break;
    }
    // The earlier of the two children is the one that may move up; the other stays below it.
    if (child + 1 < count && earlier(*heap_[child + 1], *heap_[child])) {
      ++child;
    }
    if (!earlier(*heap_[child], *timer)) {
      break;
    }
    place(index, heap_[child]);
    index = child;
  }
  place(index, timer);
}

}  // namespace zcrecv::event
