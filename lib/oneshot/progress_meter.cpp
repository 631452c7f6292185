#include "oneshot/progress_meter.hpp"

#include <array>
#include <cstdio>

#include "sys/seconds.hpp"

namespace zcrecv::oneshot {

std::string format_bytes(double bytes) {
  static constexpr std::array<const char*, 5> kUnits{"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  while (bytes >= 1024.0 && unit + 1 < kUnits.size()) {
    bytes /= 1024.0;
    ++unit;
  }
  std::array<char, 32> text{};
  if (unit == 0) {
    std::snprintf(text.data(), text.size(), "%.0f %s", bytes, kUnits[unit]);
  } else {
    std::snprintf(text.data(), text.size(), "%.2f %s", bytes, kUnits[unit]);
  }
  return text.data();
}

void ProgressMeter::start(Clock::time_point now) {
  started_ = now;
  last_draw_ = now;
}

void ProgressMeter::update(std::uint64_t bytes, Clock::time_point now) {
  if (enabled_ && now - last_draw_ >= kInterval) {
    draw(bytes, now);
  }
}

std::chrono::milliseconds ProgressMeter::until_next(Clock::time_point now) const {
  if (!enabled_) {
    return std::chrono::milliseconds::max();
  }
  auto due = last_draw_ + kInterval;
  if (due <= now) {
    return std::chrono::milliseconds(0);
  }
  return std::chrono::ceil<std::chrono::milliseconds>(due - now);
}

void ProgressMeter::finish(std::uint64_t bytes, Clock::time_point now) {
  if (!enabled_) {
    return;
  }
  draw(bytes, now);
  std::fputc('\n', stderr);
}

void ProgressMeter::draw(std::uint64_t bytes, Clock::time_point now) {
  double seconds = sys::seconds(now - started_);
  // The average since the start, not a rate over the last interval: steadier to read, and the
  // summary line at the end reports the same figure.
  double rate = seconds > 0 ? static_cast<double>(bytes) / seconds : 0.0;
  auto whole = static_cast<long>(seconds);
  // \r and a clear-to-end-of-line redraw the same terminal line; the final newline is finish's.
  std::fprintf(stderr, "\r\033[K%s  %s/s  %02ld:%02ld:%04.1f",
               format_bytes(static_cast<double>(bytes)).c_str(), format_bytes(rate).c_str(),
               whole / 3600, (whole / 60) % 60, seconds - static_cast<double>(whole - whole % 60));
  // stderr is unbuffered by default, but a caller may have given it a buffer; without the flush a
  // redraw could show late or torn.
  std::fflush(stderr);
  last_draw_ = now;
}

}  // namespace zcrecv::oneshot
