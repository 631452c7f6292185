#include "sys/seconds.hpp"

#include <array>
#include <cstdio>

namespace zcrecv::sys {

double seconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

std::string seconds_text(std::chrono::nanoseconds duration) {
  // snprintf rather than fmt: sys depends on nothing but the C++ library.
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.3f s", seconds(duration));
  return text.data();
}

}  // namespace zcrecv::sys
