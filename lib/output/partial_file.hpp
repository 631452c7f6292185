#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "sys/unique_fd.hpp"

namespace zcrecv::output {

class OutputDirectory;

/// A file still being written, under its partial name `.NAME.part` beside its final name.
///
/// Made by OutputDirectory::create and consumed by OutputDirectory::publish or discard. It owns
/// the file and shares its directory's descriptor (the rename and the directory fsync happen
/// there, wherever the tree is moved meanwhile; a file in the output directory's root shares the
/// root's descriptor, so it costs one descriptor, not two). Dropping it unpublished closes the
/// file and leaves it on disk for recovery: no byte is ever thrown away.
class PartialFile {
 public:
  PartialFile(PartialFile&&) noexcept = default;
  PartialFile& operator=(PartialFile&&) noexcept = default;

  /// The descriptor to write to (opened O_WRONLY, never O_APPEND, so splice accepts it).
  [[nodiscard]] int fd() const noexcept { return file_->get(); }
  /// The descriptor, for work on the file that may outlast this object (early writeback on a
  /// sync thread): it closes when the last holder lets go.
  [[nodiscard]] std::shared_ptr<const sys::UniqueFd> shared_fd() const noexcept { return file_; }
  /// The descriptor of the directory the file is in (its final name's too).
  [[nodiscard]] const std::shared_ptr<const sys::UniqueFd>& directory_fd() const noexcept {
    return directory_fd_;
  }
  /// False once published or discarded.
  [[nodiscard]] bool is_open() const noexcept { return file_ != nullptr; }
  /// The final name, relative to the output directory ("ingest/2026-11-24/x.bin").
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// Where the bytes are until publish, relative to the output directory.
  [[nodiscard]] std::string partial_path() const {
    return directory_.empty() ? partial_basename_ : directory_ + "/" + partial_basename_;
  }
  /// Bytes the caller says it wrote; the caller keeps this up to date with add_written.
  [[nodiscard]] std::uint64_t bytes_written() const noexcept { return written_; }
  void add_written(std::uint64_t bytes) noexcept { written_ += bytes; }
  /// When the file was created (the time its name was rendered with).
  [[nodiscard]] std::chrono::system_clock::time_point opened() const noexcept { return opened_; }
  /// The file carries extended attributes (a hand-off record) that must be as durable as its
  /// bytes: it is synced with fsync, as fdatasync need not write them.
  void mark_attributes() noexcept { attributes_ = true; }
  [[nodiscard]] bool has_attributes() const noexcept { return attributes_; }

 private:
  friend class OutputDirectory;

  PartialFile(std::shared_ptr<const sys::UniqueFd> root_fd,
              std::shared_ptr<const sys::UniqueFd> directory_fd, sys::UniqueFd file_fd,
              std::string directory, std::string basename, std::string partial_basename,
              std::chrono::system_clock::time_point opened)
      : root_fd_(std::move(root_fd)),
        directory_fd_(std::move(directory_fd)),
        file_(std::make_shared<const sys::UniqueFd>(std::move(file_fd))),
        directory_(std::move(directory)),
        basename_(std::move(basename)),
        partial_basename_(std::move(partial_basename)),
        name_(directory_.empty() ? basename_ : directory_ + "/" + basename_),
        opened_(opened) {}

  // The output directory's, for the directories between it and the file's.
  std::shared_ptr<const sys::UniqueFd> root_fd_;
  std::shared_ptr<const sys::UniqueFd> directory_fd_;
  std::shared_ptr<const sys::UniqueFd> file_;
  std::string directory_;
  std::string basename_;
  std::string partial_basename_;
  std::string name_;
  std::uint64_t written_ = 0;
  std::chrono::system_clock::time_point opened_;
  bool attributes_ = false;
};

}  // namespace zcrecv::output
