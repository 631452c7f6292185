#include "send/sender.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <random>
#include <thread>

#include "config/units.hpp"
#include "oneshot/progress_meter.hpp"
#include "send/attempt.hpp"
#include "send/input_file.hpp"
#include "sys/seconds.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::send {
namespace {

using Clock = std::chrono::steady_clock;

// A fresh seed per process: senders started together must not share their jitter.
std::uint64_t random_seed() {
  std::uint64_t seed = 0;
  auto bytes = std::as_writable_bytes(std::span(&seed, 1));
  if (!sys::getrandom(bytes)) {
    // getrandom can fail only on a kernel without it (ENOSYS) or a sandbox that forbids it; the
    // clock is a poor seed but enough to spread retries.
    seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  }
  return seed;
}

}  // namespace

Sender::Sender(SendSettings settings)
    : settings_(std::move(settings)), random_(random_seed()) {}

std::vector<InputReport> Sender::run(const std::vector<std::string>& inputs) {
  std::vector<InputReport> reports;
  reports.reserve(inputs.size());
  for (const auto& path : inputs) {
    reports.push_back(send_one(path));
    const auto& report = reports.back();
    if (report.result == InputReport::Result::kAcknowledged) {
      spdlog::info("{}", describe(report));
    } else {
      spdlog::error("{}", describe(report));
    }
  }
  return reports;
}

InputReport Sender::send_one(const std::string& path) {
  InputReport report;
  report.path = path;
  auto input = InputFile::open(path);
  if (!input) {
    report.failure = input.error().message();
    return report;
  }
  report.bytes = input->size();
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const auto started = Clock::now();
  const std::size_t count = settings_.to.size();
  for (unsigned attempt = 1; attempt <= settings_.retry.attempts; ++attempt) {
    if (attempt > 1) {
      // A plain sleep: zcsend has nothing else to do until the next attempt is due.
      std::this_thread::sleep_for(settings_.retry.delay_before(attempt, unit(random_)));
    }
    const std::size_t index = RetryPolicy::address_of(attempt, first_address_, count);
    oneshot::ProgressMeter meter(settings_.progress);
    meter.start(Clock::now());
    auto outcome = send_attempt(settings_.to[index], input->fd(), input->size(),
                                settings_.timeout, meter);
    meter.finish(outcome.sent, Clock::now());
    report.attempts = attempt;
    report.peer = outcome.peer;
    report.elapsed = Clock::now() - started;
    if (outcome.acknowledged) {
      // The next input starts at the address that just answered: a receiver that is down costs its
      // timeout once, not once per file.
      first_address_ = index;
      report.result = InputReport::Result::kAcknowledged;
      break;
    }
    report.result = InputReport::Result::kNotAcknowledged;
    report.failure = outcome.failure;
    spdlog::warn("{}: attempt {} of {} to {} failed after {} bytes: {}", path, attempt,
                 settings_.retry.attempts, outcome.peer, outcome.sent, outcome.failure);
  }
  if (report.result == InputReport::Result::kAcknowledged && settings_.remove &&
      input->removable()) {
    // Only now: a file removed before its receipt could be lost with the receiver.
    if (auto removed = sys::unlinkat(AT_FDCWD, path.c_str(), 0); !removed) {
      report.result = InputReport::Result::kNotRemoved;
      report.failure = removed.error().with_context("--remove " + path).message();
    }
  }
  return report;
}

std::string describe(const InputReport& report) {
  using Result = InputReport::Result;
  const std::string figures = std::to_string(report.bytes) + " bytes, " +
                              std::to_string(report.attempts) +
                              (report.attempts == 1 ? " attempt, " : " attempts, ") +
                              sys::seconds_text(report.elapsed);
  switch (report.result) {
    case Result::kAcknowledged:
      return report.path + ": acknowledged by " + report.peer + ": " + figures;
    case Result::kNotAcknowledged:
      return report.path + ": NOT acknowledged: " + figures + "; last attempt to " + report.peer +
             ": " + report.failure;
    case Result::kUnreadable:
      return report.path + ": not sent: " + report.failure;
    case Result::kNotRemoved:
      return report.path + ": acknowledged by " + report.peer + ": " + figures +
             "; but not removed: " + report.failure;
  }
  return report.path;
}

}  // namespace zcrecv::send
