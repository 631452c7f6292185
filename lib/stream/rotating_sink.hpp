#pragma once

#include <cstdint>
#include <string>

#include "output/rotating_file.hpp"
#include "stream/sink.hpp"

namespace zcrecv::stream {

/// A stream's rotating file sequence (output::RotatingFile) as a Session's sink: the daemon's
/// output, and --once into a directory. The owner wires the file sequence's callbacks (sync
/// stage, hand-off records) through files() before the first byte.
class RotatingSink final : public Sink {
 public:
  explicit RotatingSink(output::RotatingFile files);

  output::RotatingFile& files() noexcept { return files_; }

  sys::Result<int> open() override { return files_.sink(); }
  [[nodiscard]] bool is_open() const override { return files_.has_open_file(); }
  sys::Result<std::uint64_t> reserve(std::uint64_t wanted) override {
    return files_.reserve(wanted);
  }
  void add_written(std::uint64_t bytes) override { files_.add_written(bytes); }
  [[nodiscard]] std::uint64_t bytes() const override { return files_.bytes(); }
  [[nodiscard]] std::uint64_t file_offset() const override { return files_.bytes_in_file(); }
  [[nodiscard]] std::uint64_t room() const override { return files_.room(); }
  [[nodiscard]] std::uint64_t unsynced_room() const override { return files_.unsynced_room(); }
  [[nodiscard]] std::uint64_t pending_publishes() const override {
    return files_.pending_publishes();
  }
  [[nodiscard]] std::optional<std::chrono::system_clock::time_point> rotation_deadline()
      const override {
    return files_.rotation_deadline();
  }
  sys::Result<void> rotate() override { return files_.rotate(); }
  sys::Result<void> finish(output::Completion completion) override {
    return files_.finish(completion);
  }
  [[nodiscard]] const std::vector<std::string>& published() const override { return names_; }
  [[nodiscard]] std::uint64_t files_published() const override {
    return files_.files_published();
  }

  /// Records a published file's name: the owner's on_published calls it. Only the first and the
  /// latest are kept, for the end line: a stream may publish files for months.
  void note_published(const std::string& name);

 private:
  output::RotatingFile files_;
  std::vector<std::string> names_;
};

}  // namespace zcrecv::stream
