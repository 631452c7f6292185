#include "support/loop_thread.hpp"

#include <exception>
#include <future>
#include <stdexcept>

namespace zcrecv::test {

LoopThread::LoopThread() {
  auto loop = event::EventLoop::create();
  if (!loop) {
    throw std::runtime_error(loop.error().message());
  }
  loop_ = std::move(*loop);
  thread_ = std::thread([this] {
    if (auto ran = loop_->run(); !ran) {
      throw std::runtime_error(ran.error().message());
    }
  });
}

LoopThread::~LoopThread() {
  loop_->stop();
  thread_.join();
}

void LoopThread::call(const std::function<void()>& task) {
  std::promise<void> done;
  loop_->post([&] {
    // A failed REQUIRE in `task` throws: it is rethrown on the test thread.
    try {
      task();
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  done.get_future().get();
}

}  // namespace zcrecv::test
