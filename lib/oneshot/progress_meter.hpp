#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace zcrecv::oneshot {

/// The live "bytes, rate, elapsed" line of `--once --progress`, redrawn in place on stderr.
class ProgressMeter {
 public:
  using Clock = std::chrono::steady_clock;
  /// How often the line is redrawn.
  static constexpr std::chrono::milliseconds kInterval{250};

  /// `enabled` false makes every call a no-op, so the caller need not test it.
  explicit ProgressMeter(bool enabled) : enabled_(enabled) {}

  /// Starts the clock (at the first byte's connection, not at program start).
  void start(Clock::time_point now);
  /// Redraws the line if kInterval has passed since the last redraw.
  void update(std::uint64_t bytes, Clock::time_point now);
  /// How long until the next redraw is due, for the caller's wait; max() when disabled.
  [[nodiscard]] std::chrono::milliseconds until_next(Clock::time_point now) const;
  /// Draws the final figures and ends the line.
  void finish(std::uint64_t bytes, Clock::time_point now);

 private:
  void draw(std::uint64_t bytes, Clock::time_point now);

  bool enabled_;
  Clock::time_point started_{};
  Clock::time_point last_draw_{};
};

/// "1.50 GiB", "512 B": a human-readable byte count with binary units.
std::string format_bytes(double bytes);

}  // namespace zcrecv::oneshot
