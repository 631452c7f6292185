#include "oneshot/named_file_sink.hpp"

#include <utility>

namespace zcrecv::oneshot {

NamedFileSink::NamedFileSink(output::OutputDirectory directory, std::string name, mode_t mode,
                             output::SyncMode sync)
    : directory_(std::move(directory)), name_(std::move(name)), mode_(mode), sync_(sync) {}

sys::Result<int> NamedFileSink::open() {
  if (!file_) {
    auto created = directory_.create(name_, mode_);
    if (!created) {
      return std::move(created).error();
    }
    file_.emplace(std::move(created).value());
  }
  return file_->fd();
}

sys::Result<std::uint64_t> NamedFileSink::reserve(std::uint64_t wanted) {
  if (!file_) {
    return sys::Error::invalid("no open file to reserve space in");
  }
  auto covered = reservation_.cover(file_->fd(), file_->bytes_written(), wanted);
  if (!covered) {
    return std::move(covered).error().with_context(file_->partial_path());
  }
  return covered;
}

void NamedFileSink::add_written(std::uint64_t bytes) {
  bytes_ += bytes;
  if (file_) {
    file_->add_written(bytes);
  }
}

sys::Result<void> NamedFileSink::finish(output::Completion completion) {
  // A stream that ended before its first byte still gets its named file, as `nc -l > file` would
  // leave one (README): the name the user gave always exists once the receive is over.
  if (auto opened = open(); !opened) {
    return std::move(opened).error();
  }
  // The reservation goes back before the publish, so that the sync in publish writes the final
  // allocation and the published file has no blocks past its end.
  reservation_.release(file_->fd(), file_->bytes_written());
  auto published = directory_.publish(std::move(*file_), completion, sync_);
  if (!published) {
    return std::move(published).error();
  }
  file_.reset();
  names_.push_back((directory_.path() / *published).string());
  return {};
}

}  // namespace zcrecv::oneshot
