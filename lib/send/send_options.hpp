#pragma once

#include <optional>
#include <string>
#include <vector>

#include "send/sender.hpp"
#include "sys/result.hpp"

namespace zcrecv::send {

/// zcsend's options as typed on the command line; std::nullopt when absent (the default).
struct SendOptions {
  std::vector<std::string> to;
  std::optional<std::string> attempts;
  std::optional<std::string> timeout;
  std::optional<std::string> backoff;
  std::optional<std::string> backoff_max;
  bool remove = false;
  /// --progress / --no-progress; std::nullopt: on when stderr is a terminal.
  std::optional<bool> progress;
  /// The inputs; empty means standard input.
  std::vector<std::string> inputs;
};

/// The longest --attempts.
inline constexpr unsigned kMaxAttempts = 1000;

/// Checks every option and builds the settings, or an Error::invalid listing every bad value, one
/// line each, each naming its option (`--timeout: ...`). `stderr_is_terminal` is the default of
/// the progress line.
sys::Result<SendSettings> build_send_settings(const SendOptions& options, bool stderr_is_terminal);

/// The inputs to send: the given ones, or `-` when none was given.
std::vector<std::string> inputs_of(const SendOptions& options);

}  // namespace zcrecv::send
