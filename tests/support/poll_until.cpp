#include "support/poll_until.hpp"

#include <stdexcept>
#include <thread>

namespace zcrecv::test {

void poll_until(const std::function<bool()>& condition, const std::string& what,
                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("timed out waiting until " + what);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace zcrecv::test
