#include "event/event_loop.hpp"

#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "event/timer.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::event {
namespace {

// Events taken from the kernel per epoll_wait; more simply wait for the next round.
constexpr std::size_t kMaxEventsPerWait = 256;

// Reads the 8-byte counter of an eventfd or timerfd, which makes it unreadable again. Would
// block only if another reset came first (a timerfd re-armed since it expired), which is fine.
void drain_counter(int fd) {
  std::uint64_t counter = 0;
  (void)sys::read(fd, std::as_writable_bytes(std::span(&counter, 1)));
}

}  // namespace

sys::Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  auto epoll = sys::epoll_create1(EPOLL_CLOEXEC);
  if (!epoll) {
    return std::move(epoll).error();
  }
  // An eventfd rather than a self-pipe: one descriptor, and its counter folds any number of
  // wake-ups into one readable event, so a burst of posts costs one epoll round.
  auto wake = sys::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!wake) {
    return std::move(wake).error();
  }
  // One timerfd for all the loop's timers, set to the earliest deadline. CLOCK_MONOTONIC: a step of
  // the wall clock (NTP, an operator) must neither fire idle timeouts early nor hold them back.
  auto timer = sys::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (!timer) {
    return std::move(timer).error();
  }
  std::unique_ptr<EventLoop> loop(
      new EventLoop(std::move(*epoll), std::move(*wake), std::move(*timer)));
  if (auto added = loop->add(loop->wake_fd_.get(), EPOLLIN, loop->wake_handler_); !added) {
    return std::move(added).error();
  }
  if (auto added = loop->add(loop->timer_fd_.get(), EPOLLIN, loop->timer_handler_); !added) {
    return std::move(added).error();
  }
  return loop;
}

EventLoop::EventLoop(sys::UniqueFd epoll, sys::UniqueFd wake, sys::UniqueFd timer)
    : epoll_(std::move(epoll)),
      wake_fd_(std::move(wake)),
      timer_fd_(std::move(timer)),
      events_(kMaxEventsPerWait),
      now_(Clock::now()) {}

EventLoop::~EventLoop() = default;

std::uint64_t EventLoop::token(int fd, std::uint32_t generation) noexcept {
  return (std::uint64_t{generation} << 32) | static_cast<std::uint32_t>(fd);
}

sys::Result<void> EventLoop::add(int fd, std::uint32_t events, Handler& handler) {
  if (fd < 0) {
    return sys::Error::invalid("epoll: cannot watch descriptor " + std::to_string(fd));
  }
  auto index = static_cast<std::size_t>(fd);
  if (index >= slots_.size()) {
    // Slots are indexed by descriptor: the kernel hands out the lowest free number, so the table
    // stays as small as the number of open descriptors, and a lookup per event is an index, not a
    // hash.
    slots_.resize(std::max(index + 1, slots_.size() * 2));
  }
  Slot& slot = slots_[index];
  if (slot.handler != nullptr) {
    return sys::Error::invalid("epoll: descriptor " + std::to_string(fd) + " is already watched");
  }
  auto added = sys::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, events, token(fd, slot.generation));
  if (!added) {
    return std::move(added).error().with_context("fd " + std::to_string(fd));
  }
  slot.handler = &handler;
  return {};
}

sys::Result<void> EventLoop::modify(int fd, std::uint32_t events) {
  auto index = static_cast<std::size_t>(fd);
  if (fd < 0 || index >= slots_.size() || slots_[index].handler == nullptr) {
    return sys::Error::invalid("epoll: descriptor " + std::to_string(fd) + " is not watched");
  }
  auto modified =
      sys::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, events, token(fd, slots_[index].generation));
  if (!modified) {
    return std::move(modified).error().with_context("fd " + std::to_string(fd));
  }
  return {};
}

sys::Result<void> EventLoop::hand_over(int fd, Handler& handler) {
  auto index = static_cast<std::size_t>(fd);
  if (fd < 0 || index >= slots_.size() || slots_[index].handler == nullptr) {
    return sys::Error::invalid("epoll: descriptor " + std::to_string(fd) + " is not watched");
  }
  // No epoll_ctl: the registration, its events and its generation stay as they are, so no event is
  // lost or doubled while the socket changes owner (docs/design.md §4.3).
  slots_[index].handler = &handler;
  return {};
}

sys::Result<void> EventLoop::release(int fd) {
  auto index = static_cast<std::size_t>(fd);
  if (fd < 0 || index >= slots_.size() || slots_[index].handler == nullptr) {
    return sys::Error::invalid("epoll: descriptor " + std::to_string(fd) + " is not watched");
  }
  // A new generation makes events already collected for this registration stale.
  slots_[index].handler = nullptr;
  ++slots_[index].generation;
  return {};
}

// No EPOLL_CTL_DEL before the close: closing the last descriptor of an open file description takes
// it out of every epoll set (epoll(7)), and the descriptor closes when `fd` goes here.
sys::Result<void> EventLoop::close(sys::UniqueFd fd) { return release(fd.get()); }

sys::Result<void> EventLoop::remove(int fd) {
  if (auto released = release(fd); !released) {
    return released;
  }
  // The descriptor stays open (a paused socket), so it must leave the set explicitly: EPOLLERR and
  // EPOLLHUP cannot be masked and would wake the loop for ever (docs/design.md §5.1).
  auto removed = sys::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, 0, 0);
  if (!removed) {
    return std::move(removed).error().with_context("fd " + std::to_string(fd));
  }
  return {};
}

void EventLoop::post(Task task) {
  bool must_wake = false;
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(task));
    // One eventfd write per batch: the first post since the loop took its last batch wakes it, and
    // the later ones find the write already made.
    must_wake = !wake_pending_;
    wake_pending_ = true;
  }
  if (must_wake) {
    wake();
  }
}

void EventLoop::defer(Task task) { deferred_.push_back(std::move(task)); }

sys::Result<void> EventLoop::run() {
  // The order of a round: events first, then timers due by then, then tasks posted from other
  // threads, and last the deferred tasks, which destroy what a handler of this round may still use.
  while (!stopping_.load(std::memory_order_acquire)) {
    if (auto waited = wait_for_events(); !waited) {
      return waited;
    }
    dispatch_events();
    run_due_timers();
    run_posted_tasks();
    run_deferred_tasks();
    if (failure_) {
      return *failure_;
    }
  }
  return {};
}

void EventLoop::stop() {
  stopping_.store(true, std::memory_order_release);
  wake();
}

sys::Result<void> EventLoop::wait_for_events() {
  // No timeout: timers wake the loop through the timerfd, which is in the same set.
  auto ready = sys::epoll_wait(epoll_.get(), events_, -1);
  if (!ready) {
    ready_count_ = 0;
    return std::move(ready).error();
  }
  ready_count_ = *ready;
  now_ = Clock::now();
  return {};
}

void EventLoop::dispatch_events() {
  for (int i = 0; i < ready_count_; ++i) {
    const epoll_event& event = events_[static_cast<std::size_t>(i)];
    auto index = static_cast<std::size_t>(event.data.u64 & 0xffffffffU);
    auto generation = static_cast<std::uint32_t>(event.data.u64 >> 32);
    // A handler earlier in this batch may have removed this one (and freed it, or reused its
    // descriptor number): the slot then holds no handler or a newer generation.
    if (index < slots_.size() && slots_[index].handler != nullptr &&
        slots_[index].generation == generation) {
      slots_[index].handler->on_event(event.events);
    }
  }
}

void EventLoop::run_due_timers() {
  const Clock::time_point now = Clock::now();
  // Only timers due before this pass began: one that re-arms itself with no delay waits for the
  // next pass instead of looping here.
  for (Timer* timer = timers_.top(); timer != nullptr && timer->deadline_ <= now;
       timer = timers_.top()) {
    timers_.erase(*timer);
    if (timer->interval_.count() > 0) {
      timer->deadline_ += timer->interval_;
      if (timer->deadline_ <= now) {
        // Missed periods are skipped, not fired in a burst.
        timer->deadline_ = now + timer->interval_;
      }
      timers_.push(*timer);
    }
    timer->callback_();
  }
  program_timerfd();
}

void EventLoop::run_posted_tasks() {
  // Only after the eventfd fired: rounds with nothing posted do not take the mutex. A post made
  // after the swap below finds wake_pending_ false and writes the eventfd again, so it is not left
  // waiting.
  if (!wake_fired_) {
    return;
  }
  wake_fired_ = false;
  {
    std::lock_guard lock(posted_mutex_);
    running_posted_.swap(posted_);
    wake_pending_ = false;
  }
  for (Task& task : running_posted_) {
    task();
    // What the task holds goes now, not at the end of the batch: a task that releases a
    // resource and reports it must not be outlived by an earlier task's copy of it.
    task = nullptr;
  }
  running_posted_.clear();
}

void EventLoop::run_deferred_tasks() {
  // A loop: a deferred task may defer another (destroying one object can schedule the destruction
  // of the next), and that one runs in the same round.
  while (!deferred_.empty()) {
    running_deferred_.swap(deferred_);
    for (Task& task : running_deferred_) {
      task();
      task = nullptr;
    }
    running_deferred_.clear();
  }
}

void EventLoop::wake() {
  const std::uint64_t one = 1;
  // Fails only when the counter would overflow, and then the loop is awake anyway.
  (void)sys::write(wake_fd_.get(), std::as_bytes(std::span(&one, 1)));
}

void EventLoop::schedule(Timer& timer) {
  timers_.push(timer);
  if (timers_.top() == &timer) {
    program_timerfd();
  }
}

void EventLoop::unschedule(Timer& timer) {
  // The timerfd stays set: if it fires for a cancelled timer, the pass finds nothing due and
  // sets it for the next one. Cheaper than a syscall per cancel.
  timers_.erase(timer);
}

void EventLoop::program_timerfd() {
  const Timer* top = timers_.top();
  if (top == nullptr || top->deadline_ >= programmed_) {
    return;
  }
  // A relative delay from now, not an absolute time: Clock and the timerfd are both monotonic but
  // Clock's epoch is the library's, not necessarily the kernel's.
  auto delay = std::chrono::duration_cast<std::chrono::nanoseconds>(top->deadline_ - Clock::now());
  // 0 would disarm the timerfd: a deadline already past fires after 1 ns.
  auto delay_ns = static_cast<std::uint64_t>(std::max<std::int64_t>(delay.count(), 1));
  if (auto set = sys::timerfd_settime(timer_fd_.get(), delay_ns, 0); !set) {
    failure_ = std::move(set).error();
    return;
  }
  programmed_ = top->deadline_;
}

void EventLoop::WakeHandler::on_event(std::uint32_t /*events*/) {
  drain_counter(loop_.wake_fd_.get());
  loop_.wake_fired_ = true;
}

void EventLoop::TimerHandler::on_event(std::uint32_t /*events*/) {
  drain_counter(loop_.timer_fd_.get());
  // The timerfd is disarmed once it has fired (it has no interval): the next program_timerfd must
  // set it whatever the earliest deadline is.
  loop_.programmed_ = Clock::time_point::max();
}

}  // namespace zcrecv::event
