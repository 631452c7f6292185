#include "event/event_loop.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "event/timer.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::event {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<EventLoop> make_loop() {
  auto loop = EventLoop::create();
  REQUIRE(loop.ok());
  return std::move(*loop);
}

sys::PipeFds make_pipe() {
  auto fds = sys::pipe2(O_NONBLOCK | O_CLOEXEC);
  REQUIRE(fds.ok());
  return std::move(*fds);
}

void write_byte(int fd) {
  const std::byte byte{42};
  auto written = sys::write(fd, std::span(&byte, 1));
  REQUIRE(written.ok());
  REQUIRE(written->value_or(0) == 1);
}

// Calls a function for each event.
class CallbackHandler final : public Handler {
 public:
  explicit CallbackHandler(std::function<void(std::uint32_t)> callback)
      : callback_(std::move(callback)) {}
  void on_event(std::uint32_t events) override { callback_(events); }

 private:
  std::function<void(std::uint32_t)> callback_;
};

TEST_CASE("EventLoop dispatches a ready descriptor to its handler") {
  auto loop = make_loop();
  sys::PipeFds pipe = make_pipe();
  std::uint32_t seen = 0;
  CallbackHandler handler([&](std::uint32_t events) {
    seen = events;
    loop->stop();
  });
  REQUIRE(loop->add(pipe.read_end.get(), EPOLLIN, handler).ok());
  write_byte(pipe.write_end.get());

  REQUIRE(loop->run().ok());
  CHECK((seen & EPOLLIN) != 0);
  CHECK(loop->remove(pipe.read_end.get()).ok());
  CHECK_FALSE(loop->remove(pipe.read_end.get()).ok());
}

TEST_CASE("EventLoop refuses to watch a descriptor twice") {
  auto loop = make_loop();
  sys::PipeFds pipe = make_pipe();
  CallbackHandler handler([](std::uint32_t) {});
  REQUIRE(loop->add(pipe.read_end.get(), EPOLLIN, handler).ok());
  auto again = loop->add(pipe.read_end.get(), EPOLLIN, handler);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().message().find("already watched") != std::string::npos);
}

TEST_CASE("EventLoop modify changes the events a descriptor is watched for") {
  auto loop = make_loop();
  sys::PipeFds pipe = make_pipe();
  int calls = 0;
  CallbackHandler handler([&](std::uint32_t events) {
    ++calls;
    CHECK((events & EPOLLOUT) != 0);
    loop->stop();
  });
  // Watched for nothing, the writable pipe end stays silent until asked for EPOLLOUT.
  REQUIRE(loop->add(pipe.write_end.get(), 0, handler).ok());
  Timer enable(*loop, [&] { REQUIRE(loop->modify(pipe.write_end.get(), EPOLLOUT).ok()); });
  enable.arm(20ms);
  REQUIRE(loop->run().ok());
  CHECK(calls == 1);
}

TEST_CASE("EventLoop hand_over gives a watched descriptor to another handler, flags and all") {
  auto loop = make_loop();
  sys::PipeFds pipe = make_pipe();
  int first_calls = 0;
  int second_calls = 0;
  CallbackHandler second([&](std::uint32_t) {
    ++second_calls;
    loop->stop();
  });
  CallbackHandler first([&](std::uint32_t) {
    ++first_calls;
    REQUIRE(loop->hand_over(pipe.read_end.get(), second).ok());
  });
  // Edge-triggered: the byte left unread wakes the loop once, and the next byte is a new edge,
  // which goes to the handler that took the descriptor over.
  REQUIRE(loop->add(pipe.read_end.get(), EPOLLIN | EPOLLET, first).ok());
  write_byte(pipe.write_end.get());
  Timer more(*loop, [&] { write_byte(pipe.write_end.get()); });
  more.arm(20ms);
  REQUIRE(loop->run().ok());
  CHECK(first_calls == 1);
  CHECK(second_calls == 1);
  CHECK(loop->close(std::move(pipe.read_end)).ok());
  CHECK_FALSE(loop->hand_over(pipe.write_end.get(), first).ok());
}

TEST_CASE("EventLoop runs a task posted from another thread on its own thread") {
  auto loop = make_loop();
  std::thread::id ran_on;
  std::thread poster([&] {
    loop->post([&] {
      ran_on = std::this_thread::get_id();
      loop->stop();
    });
  });
  REQUIRE(loop->run().ok());
  poster.join();
  CHECK(ran_on == std::this_thread::get_id());
}

TEST_CASE("EventLoop lets go of what a task holds as soon as it has run, not after its batch") {
  // A daemon worker's first batch can hold the task that starts watching a listener and the
  // task that stops: the listener must be closed when the second one reports it, not later.
  auto loop = make_loop();
  auto resource = std::make_shared<int>(7);
  std::weak_ptr<int> watched = resource;
  std::vector<bool> released_before;
  for (int i = 0; i < 2; ++i) {
    loop->post([&, held = resource] { released_before.push_back(watched.expired()); });
  }
  resource.reset();
  loop->post([&] {
    released_before.push_back(watched.expired());
    loop->stop();
  });
  REQUIRE(loop->run().ok());
  CHECK(released_before == std::vector<bool>{false, false, true});
}

TEST_CASE("EventLoop stop from another thread ends run") {
  auto loop = make_loop();
  std::thread stopper([&] { loop->stop(); });
  CHECK(loop->run().ok());
  stopper.join();
}

TEST_CASE("EventLoop close stops watching a descriptor and closes it") {
  auto loop = make_loop();
  sys::PipeFds old_pipe = make_pipe();
  const int number = old_pipe.read_end.get();
  int old_calls = 0;
  CallbackHandler old_handler([&](std::uint32_t) { ++old_calls; });
  REQUIRE(loop->add(number, EPOLLIN, old_handler).ok());
  // Readable when closed: a registration left behind would report it.
  write_byte(old_pipe.write_end.get());
  CHECK(loop->close(std::move(old_pipe.read_end)).ok());
  CHECK(::fcntl(number, F_GETFD) == -1);
  CHECK_FALSE(loop->remove(number).ok());

  // The number comes back with the next descriptor, and watching it is a fresh start.
  sys::PipeFds new_pipe = make_pipe();
  REQUIRE(new_pipe.read_end.get() == number);
  int new_calls = 0;
  CallbackHandler new_handler([&](std::uint32_t) {
    ++new_calls;
    loop->stop();
  });
  REQUIRE(loop->add(number, EPOLLIN, new_handler).ok());
  write_byte(new_pipe.write_end.get());
  REQUIRE(loop->run().ok());
  CHECK(new_calls == 1);
  CHECK(old_calls == 0);
}

TEST_CASE("EventLoop never calls a handler removed earlier in the same batch") {
  auto loop = make_loop();
  sys::PipeFds first = make_pipe();
  sys::PipeFds second = make_pipe();
  int calls = 0;
  std::unique_ptr<CallbackHandler> handlers[2];
  const int fds[2] = {first.read_end.get(), second.read_end.get()};
  for (int i = 0; i < 2; ++i) {
    handlers[i] = std::make_unique<CallbackHandler>([&, i](std::uint32_t) {
      ++calls;
      // Whichever runs first removes and frees the other, whose event is in the same batch:
      // calling it now would be a use after free (ASan would say so).
      int other = 1 - i;
      REQUIRE(loop->remove(fds[other]).ok());
      handlers[other].reset();
      loop->stop();
    });
  }
  REQUIRE(loop->add(fds[0], EPOLLIN, *handlers[0]).ok());
  REQUIRE(loop->add(fds[1], EPOLLIN, *handlers[1]).ok());
  write_byte(first.write_end.get());
  write_byte(second.write_end.get());

  REQUIRE(loop->run().ok());
  CHECK(calls == 1);
}

TEST_CASE("EventLoop defer runs after the batch, letting a handler free itself") {
  auto loop = make_loop();
  sys::PipeFds pipe = make_pipe();
  int calls = 0;
  std::unique_ptr<CallbackHandler> handler;
  handler = std::make_unique<CallbackHandler>([&](std::uint32_t) {
    ++calls;
    REQUIRE(loop->remove(pipe.read_end.get()).ok());
    loop->defer([&] {
      handler.reset();
      loop->stop();
    });
    CHECK(handler != nullptr);
  });
  REQUIRE(loop->add(pipe.read_end.get(), EPOLLIN, *handler).ok());
  write_byte(pipe.write_end.get());
  REQUIRE(loop->run().ok());
  CHECK(calls == 1);
  CHECK(handler == nullptr);
}

TEST_CASE("Timer fires once, no earlier than its delay") {
  auto loop = make_loop();
  int fired = 0;
  auto start = Timer::Clock::now();
  Timer::Clock::time_point fired_at;
  Timer once(*loop, [&] {
    ++fired;
    fired_at = Timer::Clock::now();
  });
  // The stop timer is armed first, with a later deadline: the order in the queue is by time.
  Timer stop(*loop, [&] { loop->stop(); });
  stop.arm(80ms);
  once.arm(20ms);
  REQUIRE(loop->run().ok());
  CHECK(fired == 1);
  CHECK(fired_at - start >= 20ms);
  CHECK_FALSE(once.armed());
}

TEST_CASE("Timer fires periodically until cancelled") {
  auto loop = make_loop();
  int fired = 0;
  std::optional<Timer> periodic;
  periodic.emplace(*loop, [&] {
    ++fired;
    if (fired == 3) {
      periodic->cancel();
      loop->defer([&] { loop->stop(); });
    }
  });
  periodic->arm(5ms, 5ms);
  REQUIRE(loop->run().ok());
  CHECK(fired == 3);
  CHECK_FALSE(periodic->armed());
}

TEST_CASE("Timer re-armed from its own callback fires again") {
  auto loop = make_loop();
  int fired = 0;
  std::optional<Timer> timer;
  timer.emplace(*loop, [&] {
    ++fired;
    if (fired < 3) {
      timer->arm(2ms);
    } else {
      loop->stop();
    }
  });
  timer->arm(2ms);
  REQUIRE(loop->run().ok());
  CHECK(fired == 3);
}

TEST_CASE("Timer re-armed later or cancelled does not fire at its old deadline") {
  auto loop = make_loop();
  std::array<int, 2> fired{};
  auto start = Timer::Clock::now();
  Timer::Clock::time_point moved_fired_at;
  Timer moved(*loop, [&] {
    ++fired[0];
    moved_fired_at = Timer::Clock::now();
  });
  Timer cancelled(*loop, [&] { ++fired[1]; });
  Timer stop(*loop, [&] { loop->stop(); });
  moved.arm(5ms);
  cancelled.arm(5ms);
  // Moved to 40 ms before the first deadline passes; the cancelled one never fires.
  moved.arm(40ms);
  cancelled.cancel();
  stop.arm(60ms);
  REQUIRE(loop->run().ok());
  CHECK(fired[0] == 1);
  CHECK(fired[1] == 0);
  CHECK(moved_fired_at - start >= 40ms);
}

TEST_CASE("Timers fire in deadline order across many timers") {
  auto loop = make_loop();
  std::vector<int> order;
  std::vector<std::unique_ptr<Timer>> timers;
  // Deadlines armed out of order, some cancelled: the heap must hand them out sorted.
  const int delays_ms[] = {9, 3, 7, 1, 8, 2, 6, 4, 5, 10};
  for (int delay : delays_ms) {
    timers.push_back(std::make_unique<Timer>(*loop, [&order, delay] { order.push_back(delay); }));
    timers.back()->arm(std::chrono::milliseconds(delay));
  }
  timers[2]->cancel();  // 7
  timers[5]->cancel();  // 2
  Timer stop(*loop, [&] { loop->stop(); });
  stop.arm(30ms);
  REQUIRE(loop->run().ok());
  CHECK(order == std::vector<int>{1, 3, 4, 5, 6, 8, 9, 10});
}

}  // namespace
}  // namespace zcrecv::event
