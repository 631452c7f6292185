#pragma once

// Text forms of counts, sizes, durations and file modes, shared by the configuration file and the
// command line so that both accept, and print, the same spellings.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "sys/result.hpp"

namespace zcrecv::config {

/// Parses a whole number from `min` to `max`: decimal digits only, no sign, no space (leading
/// zeros are allowed). Every integer typed on a command line or written as a string in the
/// configuration is read here. Errors name `what` and quote `text`:
/// `--workers: expected a whole number from 0 to 1024, got "-1"`.
sys::Result<std::uint64_t> parse_count(std::string_view text, std::string_view what,
                                       std::uint64_t min, std::uint64_t max);

/// Parses a byte count: a number, an optional space, an optional unit.
///
/// Units: `B` = bytes; `KiB MiB GiB TiB` = 1024^n; `kB MB GB TB` = 1000^n (the first letter in
/// any case); a single letter `K M G T` in any case = 1024^n, as in systemd and dd. A decimal
/// fraction is accepted when the result is a whole number of bytes ("1.5GiB", "0.5k"), refused
/// otherwise ("1.1k"). Errors name `what` and quote `text`:
/// `--max-file-size: expected a size like "64MiB" or "1G", got "lots"`.
sys::Result<std::uint64_t> parse_size(std::string_view text, std::string_view what);
/// A record delimiter as typed on a command line: one byte ("|"), an escape (\n, \r, \t, \0,
/// \\, \xHH), or "" for none. Returns the byte as a string of length 0 or 1.
sys::Result<std::string> parse_delimiter(std::string_view text, std::string_view what);

/// Parses a duration: one or more `NUMBER UNIT` parts, summed ("1h30m", "1.5s"), units
/// `ns us ms s m h d`, an optional space between a number and its unit. A bare "0" is zero; any
/// other bare number is refused as ambiguous. A fraction is accepted when the result is a whole
/// number of nanoseconds. Errors name `what` and quote `text`:
/// `--idle-timeout: expected a duration like "30s", "5m" or "1h30m", got "5"`.
sys::Result<std::chrono::nanoseconds> parse_duration(std::string_view text, std::string_view what);

/// Parses a file mode written in octal ("0640", "640"), at most 07777.
sys::Result<mode_t> parse_mode(std::string_view text, std::string_view what);

/// The shortest exact spelling parse_size reads back: the largest binary unit that divides the
/// value ("1GiB", "256MiB"), else plain bytes ("1000", "0").
std::string format_size(std::uint64_t bytes);

/// The spelling parse_duration reads back: every non-zero unit from days down to nanoseconds
/// ("1h30m", "250ms", "1s500ms"), "0s" for zero. A negative duration gets a leading '-', which
/// parse_duration refuses: durations in a Config are never negative.
std::string format_duration(std::chrono::nanoseconds duration);

/// Four octal digits with a leading zero ("0640"), as parse_mode reads them.
std::string format_mode(mode_t mode);

/// `text` as a TOML basic string, in double quotes, with quotes, backslashes and control
/// characters escaped (`\u0001`), other bytes as they are: how to_toml writes strings. Messages
/// quote with sys::quoted instead, which also escapes bytes outside ASCII and stays one line
/// whatever the input (a TOML string must keep UTF-8 as it is).
std::string toml_string(std::string_view text);

}  // namespace zcrecv::config
