#pragma once

namespace zcrecv::log {

/// Logging threshold (`log_level`). Defined here, below `config`, so that the logging setup
/// needs nothing from the configuration layer (which uses `net`, which logs events).
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
/// Log line format on stderr (`log_format`).
enum class LogFormat { kText, kJson };

}  // namespace zcrecv::log
