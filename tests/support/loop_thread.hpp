#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "event/event_loop.hpp"

namespace zcrecv::test {

/// An EventLoop running on a thread of its own, for tests of objects that live on a loop: the
/// test thread calls into the loop with call() and waits on what it can observe.
class LoopThread {
 public:
  LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;
  /// Stops the loop and joins the thread.
  ~LoopThread();

  event::EventLoop& loop() { return *loop_; }
  /// Runs `task` on the loop thread and waits until it has returned; what it throws is rethrown.
  void call(const std::function<void()>& task);

 private:
  std::unique_ptr<event::EventLoop> loop_;
  std::thread thread_;
};

}  // namespace zcrecv::test
