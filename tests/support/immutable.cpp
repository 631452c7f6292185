#include "support/immutable.hpp"

#include "support/process.hpp"

namespace zcrecv::test {

Immutable::Immutable(const std::filesystem::path& path) : path_(path) {
  Process chattr({"chattr", "+i", path_.string()});
  set_ = chattr.wait() == 0;
}

void Immutable::lift() {
  if (set_) {
    Process chattr({"chattr", "-i", path_.string()});
    set_ = chattr.wait() != 0;
  }
}

}  // namespace zcrecv::test
