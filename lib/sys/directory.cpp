#include "sys/directory.hpp"

#include <dirent.h>

#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

#include "sys/syscalls.hpp"

namespace zcrecv::sys {
namespace {

// 32 KiB holds hundreds of entries, so even a large dated directory is read in a few
// getdents64 calls.
constexpr std::size_t kBufferSize = std::size_t{32} * 1024;

}  // namespace

Result<bool> for_each_entry(int dir_fd, const EntryVisitor& visit) {
  std::vector<std::byte> buffer(kBufferSize);
  for (;;) {
    // getdents64 rather than readdir: no DIR stream, so the walk uses only the descriptor it was
    // given, and d_type comes with each name. A filesystem that does not fill d_type reports
    // DT_UNKNOWN, which callers resolve with fstatat.
    auto filled = getdents64(dir_fd, buffer);
    if (!filled) {
      return std::move(filled).error();
    }
    // 0 is the end of the directory. As with readdir(3), an entry created during the walk may or
    // may not be seen.
    if (*filled == 0) {
      return true;
    }
    // The records are packed linux_dirent64 structs, whose layout glibc's dirent64 shares;
    // fields are copied out because the buffer only has byte alignment.
    for (std::size_t offset = 0; offset < *filled;) {
      const std::byte* record = buffer.data() + offset;
      unsigned short length = 0;
      std::memcpy(&length, record + offsetof(dirent64, d_reclen), sizeof length);
      unsigned char type = 0;
      std::memcpy(&type, record + offsetof(dirent64, d_type), sizeof type);
      const char* name = reinterpret_cast<const char*>(record + offsetof(dirent64, d_name));
      std::string_view view(name, ::strnlen(name, length - offsetof(dirent64, d_name)));
      offset += length;
      if (view != "." && view != ".." && !visit(view, type)) {
        return false;
      }
    }
  }
}

}  // namespace zcrecv::sys
