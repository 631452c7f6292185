#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stream/sink.hpp"

namespace zcrecv::oneshot {

/// Standard output (`--out -`) as a Session's sink: a pipe, a terminal or a file the shell
/// opened, never rotated, never published.
class StdoutSink final : public stream::Sink {
 public:
  sys::Result<int> open() override;
  [[nodiscard]] bool is_open() const override { return true; }
  void add_written(std::uint64_t bytes) override { bytes_ += bytes; }
  [[nodiscard]] std::uint64_t bytes() const override { return bytes_; }
  sys::Result<void> finish(output::Completion /*completion*/) override { return {}; }
  [[nodiscard]] const std::vector<std::string>& published() const override { return names_; }
  [[nodiscard]] std::uint64_t files_published() const override { return 0; }

 private:
  std::uint64_t bytes_ = 0;
  std::vector<std::string> names_{"stdout"};
};

}  // namespace zcrecv::oneshot
