#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "output/output_directory.hpp"
#include "output/partial_file.hpp"
#include "output/space_reservation.hpp"
#include "stream/sink.hpp"

namespace zcrecv::oneshot {

/// One named file (`--out file.bin`) as a Session's sink: written as .NAME.part beside it and
/// renamed when the stream ends. A stream that sent nothing still leaves its (empty) file, as
/// `nc -l > file` would.
class NamedFileSink final : public stream::Sink {
 public:
  NamedFileSink(output::OutputDirectory directory, std::string name, mode_t mode,
                output::SyncMode sync);

  sys::Result<int> open() override;
  [[nodiscard]] bool is_open() const override { return file_.has_value(); }
  sys::Result<std::uint64_t> reserve(std::uint64_t wanted) override;
  void add_written(std::uint64_t bytes) override;
  [[nodiscard]] std::uint64_t bytes() const override { return bytes_; }
  sys::Result<void> finish(output::Completion completion) override;
  [[nodiscard]] const std::vector<std::string>& published() const override { return names_; }
  [[nodiscard]] std::uint64_t files_published() const override { return names_.size(); }

 private:
  output::OutputDirectory directory_;
  std::string name_;
  mode_t mode_;
  output::SyncMode sync_;
  std::optional<output::PartialFile> file_;
  output::SpaceReservation reservation_;
  std::uint64_t bytes_ = 0;
  std::vector<std::string> names_;
};

}  // namespace zcrecv::oneshot
