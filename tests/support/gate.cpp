#include "support/gate.hpp"

namespace zcrecv::test {

void Gate::pass() {
  std::unique_lock lock(mutex_);
  ++arrivals_;
  changed_.notify_all();
  changed_.wait(lock, [this] { return open_; });
}

void Gate::open() {
  std::lock_guard lock(mutex_);
  open_ = true;
  changed_.notify_all();
}

bool Gate::wait_for_arrivals(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return arrivals_ >= count; });
}

std::size_t Gate::arrivals() {
  std::lock_guard lock(mutex_);
  return arrivals_;
}

}  // namespace zcrecv::test
