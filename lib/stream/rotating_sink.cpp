#include "stream/rotating_sink.hpp"

#include <utility>

namespace zcrecv::stream {

RotatingSink::RotatingSink(output::RotatingFile files) : files_(std::move(files)) {}

void RotatingSink::note_published(const std::string& name) {
  // The first and the last name are all the end line shows ("a … b"): a long stream's names are not
  // kept in memory.
  if (names_.size() < 2) {
    names_.push_back(name);
  } else {
    names_.back() = name;
  }
}

}  // namespace zcrecv::stream
