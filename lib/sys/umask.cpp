#include "sys/umask.hpp"

#include <charconv>
#include <fstream>
#include <string>
#include <system_error>

namespace zcrecv::sys {

std::optional<mode_t> process_umask() {
  // umask(2) can only read the mask by setting it, and the mask is shared by every thread: setting
  // and restoring it would race with another thread creating a file. The Umask field of
  // /proc/self/status (proc(5): since Linux 4.7) reads it without changing it; on an older kernel,
  // or without /proc, the caller gets nullopt and does without.
  std::ifstream status("/proc/self/status");
  constexpr std::string_view kField = "Umask:";
  for (std::string line; std::getline(status, line);) {
    if (!line.starts_with(kField)) {
      continue;
    }
    std::size_t start = line.find_first_not_of(" \t", kField.size());
    if (start == std::string::npos) {
      return std::nullopt;
    }
    mode_t mask = 0;
    const char* end = line.data() + line.size();
    auto [stop, error] = std::from_chars(line.data() + start, end, mask, 8);
    // Anything but plain octal permission bits means a format we do not know: better no answer than
    // a wrong one.
    if (error != std::errc() || stop != end || mask > 0777) {
      return std::nullopt;
    }
    return mask;
  }
  return std::nullopt;
}

}  // namespace zcrecv::sys
