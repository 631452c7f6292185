#include "send/send_options.hpp"

#include <algorithm>
#include <chrono>

#include "config/units.hpp"
#include "sys/quoted.hpp"

namespace zcrecv::send {
namespace {

// Every problem of the command line, each naming its option, so that all are fixed in one go.
class Problems {
 public:
  void add(std::string line) { lines_.push_back(std::move(line)); }
  template <class T>
  std::optional<T> take(sys::Result<T> result, const std::string& option) {
    if (!result) {
      add(option + ": " + result.error().message());
      return std::nullopt;
    }
    return std::move(result).value();
  }
  [[nodiscard]] std::optional<sys::Error> error() const {
    if (lines_.empty()) {
      return std::nullopt;
    }
    std::string joined;
    for (const auto& line : lines_) {
      joined += (joined.empty() ? "" : "\n") + line;
    }
    return sys::Error::invalid(joined);
  }

 private:
  std::vector<std::string> lines_;
};

std::optional<std::chrono::nanoseconds> duration_of(const std::optional<std::string>& text,
                                                    const std::string& option,
                                                    Problems& problems) {
  if (!text) {
    return std::nullopt;
  }
  // parse_duration's message names `option` itself.
  auto parsed = config::parse_duration(*text, option);
  if (!parsed) {
    problems.add(parsed.error().message());
    return std::nullopt;
  }
  return *parsed;
}

}  // namespace

std::vector<std::string> inputs_of(const SendOptions& options) {
  return options.inputs.empty() ? std::vector<std::string>{"-"} : options.inputs;
}

sys::Result<SendSettings> build_send_settings(const SendOptions& options,
                                              bool stderr_is_terminal) {
  Problems problems;
  SendSettings settings;
  if (options.to.empty()) {
    problems.add("--to: at least one address to send to is required");
  }
  for (const auto& text : options.to) {
    auto address = problems.take(net::parse_listen_address(text), "--to");
    if (!address) {
      continue;
    }
    // Port 0 is valid for a listener (the kernel picks one) but names nothing to connect to.
    if (address->kind == net::ListenAddress::Kind::kTcp && address->port == 0) {
      problems.add("--to: " + sys::quoted(text) + ": port 0 cannot be connected to");
      continue;
    }
    settings.to.push_back(*address);
  }
  if (options.attempts) {
    auto attempts = config::parse_count(*options.attempts, "--attempts", 1, kMaxAttempts);
    if (!attempts) {
      problems.add(attempts.error().message());
    } else {
      settings.retry.attempts = static_cast<unsigned>(*attempts);
    }
  }
  if (auto timeout = duration_of(options.timeout, "--timeout", problems)) {
    // A zero deadline would fail every connect and every wait at once.
    if (timeout->count() <= 0) {
      problems.add("--timeout: must be longer than 0, got " + sys::quoted(*options.timeout));
    } else {
      settings.timeout = *timeout;
    }
  }
  if (auto backoff = duration_of(options.backoff, "--backoff", problems)) {
    settings.retry.backoff = *backoff;
  }
  if (auto backoff_max = duration_of(options.backoff_max, "--backoff-max", problems)) {
    settings.retry.backoff_max = *backoff_max;
  }
  if (settings.retry.backoff > settings.retry.backoff_max) {
    problems.add("--backoff-max: " + config::format_duration(settings.retry.backoff_max) +
                 " is shorter than --backoff " + config::format_duration(settings.retry.backoff));
  }
  const auto inputs = inputs_of(options);
  // Standard input can be read once only: the second "-" would send an empty stream.
  if (std::count(inputs.begin(), inputs.end(), "-") > 1) {
    problems.add("FILE: - (standard input) can be sent only once");
  }
  settings.remove = options.remove;
  // By default the meter shows only on a terminal: in a log file or a pipe its \r redraws are
  // noise.
  settings.progress = options.progress.value_or(stderr_is_terminal);
  if (auto error = problems.error()) {
    return *error;
  }
  return settings;
}

}  // namespace zcrecv::send
