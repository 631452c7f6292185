#include "sys/environment.hpp"

#include <cstdlib>

namespace zcrecv::sys {

std::optional<std::string_view> environment_variable(const char* name) {
  // The view points into the environment itself: valid until that variable is set or unset, which
  // callers that unset it (socket activation) account for by copying first.
  const char* value = std::getenv(name);
  if (value == nullptr) {
    return std::nullopt;
  }
  return std::string_view(value);
}

}  // namespace zcrecv::sys
