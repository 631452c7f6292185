#include "output/rotating_file.hpp"

#include <limits>
#include <utility>

namespace zcrecv::output {

RotatingFile::RotatingFile(OutputDirectory& directory, const NameTemplate& name_template,
                           ConnectionNames names, RotationSettings settings, Clock clock)
    : directory_(&directory),
      name_template_(name_template),
      names_(std::move(names)),
      settings_(settings),
      clock_(std::move(clock)) {}

sys::Result<int> RotatingFile::sink() {
  if (current_) {
    return current_->fd();
  }
  std::chrono::system_clock::time_point opened = clock_();
  std::string name = name_template_.render(
      NameFields{names_.listener, names_.peer, names_.conn, names_.host, next_seq_, opened});
  auto created = directory_->create(name, settings_.file_mode, opened);
  if (!created) {
    return std::move(created).error();
  }
  if (on_created_) {
    if (auto marked = on_created_(created->fd(), next_seq_); !marked) {
      // Unmarked, the file would miss what the mark is for: no file rather than such a file.
      (void)directory_->discard(std::move(*created));
      return std::move(marked).error().with_context("output file \"" + name + "\"");
    }
  }
  ++next_seq_;
  current_.emplace(std::move(*created));
  return current_->fd();
}

std::uint64_t RotatingFile::room() const {
  if (settings_.max_file_size == 0) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  std::uint64_t written = current_ ? current_->bytes_written() : 0;
  return written >= settings_.max_file_size ? 0 : settings_.max_file_size - written;
}

void RotatingFile::add_written(std::uint64_t bytes) {
  if (current_) {
    current_->add_written(bytes);
  }
  bytes_ += bytes;
}

bool RotatingFile::rotation_due(std::chrono::system_clock::time_point now) const {
  if (!current_) {
    return false;
  }
  if (settings_.max_file_size != 0 && current_->bytes_written() >= settings_.max_file_size) {
    return true;
  }
  return settings_.rotate_interval.count() != 0 &&
         now - current_->opened() >= settings_.rotate_interval;
}

std::optional<std::chrono::system_clock::time_point> RotatingFile::rotation_deadline() const {
  if (!current_ || settings_.rotate_interval.count() == 0) {
    return std::nullopt;
  }
  return current_->opened() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(settings_.rotate_interval);
}

sys::Result<void> RotatingFile::rotate() {
  if (!current_) {
    return {};
  }
  return close_current(Completion::kComplete);
}

sys::Result<void> RotatingFile::finish(Completion completion) {
  if (!current_ && next_seq_ == 0 && settings_.keep_empty) {
    if (auto opened = sink(); !opened) {
      return std::move(opened).error();
    }
  }
  if (!current_) {
    return {};
  }
  return close_current(completion);
}

sys::Result<void> RotatingFile::close_current(Completion completion) {
  if (current_->bytes_written() == 0 && !settings_.keep_empty) {
    auto discarded = directory_->discard(std::move(*current_));
    if (!discarded) {
      return discarded;
    }
    current_.reset();
    // The next file takes the discarded one's number, so the published {seq} have no gaps.
    --next_seq_;
    return {};
  }
  auto published = directory_->publish(std::move(*current_), completion, settings_.sync);
  if (!published) {
    // Still open: the rename failed and the partial file is intact for another try. Closed:
    // the file was published but its directory fsync failed.
    if (!current_->is_open()) {
      current_.reset();
    }
    return std::move(published).error();
  }
  current_.reset();
  ++files_published_;
  if (on_published_) {
    on_published_(*published);
  }
  return {};
}

}  // namespace zcrecv::output
