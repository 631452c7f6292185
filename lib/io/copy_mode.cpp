#include "io/copy_mode.hpp"

#include <string>

namespace zcrecv::io {

sys::Result<CopyMode> parse_copy_mode(std::string_view text) {
  if (text == "auto") {
    return CopyMode::kAuto;
  }
  if (text == "splice") {
    return CopyMode::kSplice;
  }
  if (text == "readwrite") {
    return CopyMode::kReadWrite;
  }
  return sys::Error::invalid("--copy-mode \"" + std::string(text) +
                             "\": expected auto, splice or readwrite");
}

std::string_view to_string(CopyMode mode) {
  switch (mode) {
    case CopyMode::kAuto:
      return "auto";
    case CopyMode::kSplice:
      return "splice";
    case CopyMode::kReadWrite:
      return "readwrite";
  }
  return "unknown";
}

std::string_view to_string(DataPath path) {
  switch (path) {
    case DataPath::kSplice:
      return "splice";
    case DataPath::kSpliceDirect:
      return "splice-direct";
    case DataPath::kReadWrite:
      return "readwrite";
  }
  return "unknown";
}

}  // namespace zcrecv::io
