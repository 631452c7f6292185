#pragma once

#include <spdlog/formatter.h>

#include <memory>

#include "log/level.hpp"

namespace zcrecv::log {

/// The formatter of every line: `text` is "TIME LEVEL: MESSAGE"; `json` is one object per line,
/// {"time","level","message"} and, for a line logged with log::event, "event" and its fields.
std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format);

/// Sets up the spdlog default logger: stderr (journald picks it up), UTC timestamps, `text`
/// lines or one JSON object per line. Called once, from main, before any thread starts.
void setup_logging(LogLevel level, LogFormat format);

/// Changes the threshold of the default logger (a reload may change `log_level`).
void set_log_level(LogLevel level);

}  // namespace zcrecv::log
