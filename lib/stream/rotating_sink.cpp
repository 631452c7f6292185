#include "stream/rotating_sink.hpp"

#include <utility>

namespace zcrecv::stream {

RotatingSink::RotatingSink(output::RotatingFile files) : files_(std::move(files)) {}

void RotatingSink::note_published(const std::string& name) {
  if (names_.size() < 2) {
    names_.push_back(name);
  } else {
    names_.back() = name;
  }
}

}  // namespace zcrecv::stream
