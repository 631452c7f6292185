#include "config/units.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>

#include "sys/quoted.hpp"

namespace zcrecv::config {
namespace {

constexpr std::string_view kSizeExpected = R"(a size like "64MiB" or "1G")";
constexpr std::string_view kDurationExpected = R"(a duration like "30s", "5m" or "1h30m")";
constexpr std::uint64_t kKibi = 1024;
constexpr std::uint64_t kKilo = 1000;
// std::chrono::nanoseconds holds a signed 64-bit count: a longer duration would wrap negative.
constexpr std::uint64_t kMaxDurationNs = std::numeric_limits<std::int64_t>::max();
// 10^19 is the largest power of ten in 64 bits; a longer fraction is refused.
constexpr int kMaxFractionDigits = 19;

sys::Error expected(std::string_view what, std::string_view expectation, std::string_view text) {
  return sys::Error::invalid(std::string(what) + ": expected " + std::string(expectation) +
                             ", got " + sys::quoted(text));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// A decimal number `whole + fraction / scale`, its fraction without trailing zeros.
struct Decimal {
  std::uint64_t whole = 0;
  std::uint64_t fraction = 0;
  std::uint64_t scale = 1;
};

enum class NumberProblem { kNone, kMissing, kTooLarge };

struct TakenDecimal {
  Decimal number;
  NumberProblem problem = NumberProblem::kNone;
};

/// Reads `DIGITS[.DIGITS]` from the front of `text` and advances it past them.
TakenDecimal take_decimal(std::string_view& text) {
  TakenDecimal taken;
  std::size_t at = 0;
  if (at == text.size() || !is_digit(text[at])) {
    taken.problem = NumberProblem::kMissing;
    return taken;
  }
  for (; at < text.size() && is_digit(text[at]); ++at) {
    const auto digit = static_cast<std::uint64_t>(text[at] - '0');
    // Overflow is noted but the digits are still taken, so that the message names the size limit
    // rather than calling the rest of the text garbage.
    if (__builtin_mul_overflow(taken.number.whole, 10U, &taken.number.whole) ||
        __builtin_add_overflow(taken.number.whole, digit, &taken.number.whole)) {
      taken.problem = NumberProblem::kTooLarge;
    }
  }
  if (at < text.size() && text[at] == '.') {
    ++at;
    if (at == text.size() || !is_digit(text[at])) {
      taken.problem = NumberProblem::kMissing;
      return taken;
    }
    // Zeros are held back until a non-zero digit follows, so "1.50" has scale 10, not 100.
    int digits = 0;
    int pending_zeros = 0;
    for (; at < text.size() && is_digit(text[at]); ++at) {
      if (text[at] == '0') {
        ++pending_zeros;
        continue;
      }
      for (; pending_zeros >= 0; --pending_zeros) {
        if (++digits > kMaxFractionDigits) {
          // Reported as a malformed number, not as too large: no unit turns 20 fraction
          // digits into a whole number of bytes or nanoseconds.
          taken.problem = NumberProblem::kMissing;
          return taken;
        }
        taken.number.fraction *= 10;
        taken.number.scale *= 10;
      }
      pending_zeros = 0;
      taken.number.fraction += static_cast<std::uint64_t>(text[at] - '0');
    }
  }
  text.remove_prefix(at);
  return taken;
}

enum class ScaleProblem { kNone, kNotWhole, kTooLarge };

struct Scaled {
  std::uint64_t value = 0;
  ScaleProblem problem = ScaleProblem::kNone;
};

/// `number * unit`, which must be a whole number that fits in 64 bits.
Scaled scale(const Decimal& number, std::uint64_t unit) {
  Scaled scaled;
  // fraction / scale * unit is whole exactly when the part of scale that unit does not cancel
  // divides fraction; computing it that way never needs more than 64 bits.
  const std::uint64_t common = std::gcd(unit, number.scale);
  const std::uint64_t divisor = number.scale / common;
  if (number.fraction % divisor != 0) {
    scaled.problem = ScaleProblem::kNotWhole;
    return scaled;
  }
  std::uint64_t fraction_part = 0;
  if (__builtin_mul_overflow(number.fraction / divisor, unit / common, &fraction_part) ||
      __builtin_mul_overflow(number.whole, unit, &scaled.value) ||
      __builtin_add_overflow(scaled.value, fraction_part, &scaled.value)) {
    scaled.problem = ScaleProblem::kTooLarge;
  }
  return scaled;
}

std::string_view skip_spaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  return text;
}

/// The power of the unit prefix K, M, G or T (either case), or 0 for anything else.
int prefix_power(char c) {
  switch (c) {
    case 'k':
    case 'K':
      return 1;
    case 'm':
    case 'M':
      return 2;
    case 'g':
    case 'G':
      return 3;
    case 't':
    case 'T':
      return 4;
    default:
      return 0;
  }
}

std::uint64_t power(std::uint64_t base, int exponent) {
  std::uint64_t result = 1;
  for (int i = 0; i < exponent; ++i) {
    result *= base;
  }
  return result;
}

/// The multiplier a size unit stands for, or std::nullopt for an unknown unit.
std::optional<std::uint64_t> size_unit(std::string_view unit) {
  // Only "B" for bytes: a lowercase "b" is the usual symbol for bits.
  if (unit == "B") {
    return 1;
  }
  const int exponent = unit.empty() ? 0 : prefix_power(unit.front());
  if (exponent == 0) {
    return std::nullopt;
  }
  const std::string_view rest = unit.substr(1);
  // A bare prefix and the IEC "iB" are both powers of 1024, as `ls -h` reads "64M"; only the
  // explicit SI "kB", "MB"… are powers of 1000.
  if (rest.empty() || rest == "iB") {
    return power(kKibi, exponent);
  }
  if (rest == "B") {
    return power(kKilo, exponent);
  }
  return std::nullopt;
}

struct DurationUnit {
  std::string_view name;
  std::uint64_t nanoseconds;
};

// Two-letter units come first so that "ms" is not read as "m" followed by garbage.
constexpr std::array<DurationUnit, 7> kDurationUnits{{
    {"ns", 1},
    {"us", 1'000},
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
    {"d", 86'400'000'000'000},
}};

}  // namespace

sys::Result<std::uint64_t> parse_size(std::string_view text, std::string_view what) {
  std::string_view rest = text;
  const TakenDecimal taken = take_decimal(rest);
  if (taken.problem == NumberProblem::kMissing) {
    return expected(what, kSizeExpected, text);
  }
  const std::string_view unit_text = skip_spaces(rest);
  if (unit_text.size() != rest.size() && unit_text.empty()) {
    return expected(what, kSizeExpected, text);
  }
  const std::optional<std::uint64_t> unit =
      // A bare number of bytes is unambiguous, unlike a bare duration (see parse_duration).
      unit_text.empty() ? std::optional<std::uint64_t>(1) : size_unit(unit_text);
  if (!unit) {
    return expected(what, kSizeExpected, text);
  }
  const Scaled bytes = scale(taken.number, *unit);
  if (taken.problem == NumberProblem::kTooLarge || bytes.problem == ScaleProblem::kTooLarge) {
    // 2^64 bytes is 16 EiB: the largest size that fits is just below it.
    return expected(what, "a size below 16EiB", text);
  }
  if (bytes.problem == ScaleProblem::kNotWhole) {
    return expected(what, "a whole number of bytes", text);
  }
  return bytes.value;
}

sys::Result<std::chrono::nanoseconds> parse_duration(std::string_view text, std::string_view what) {
  std::string_view rest = text;
  std::uint64_t total = 0;
  bool too_large = false;
  bool first = true;
  do {
    if (!first) {
      // "1h 30m" reads as well as "1h30m"; spaces go between parts only, not before the first.
      rest = skip_spaces(rest);
    }
    const TakenDecimal taken = take_decimal(rest);
    if (taken.problem == NumberProblem::kMissing) {
      return expected(what, kDurationExpected, text);
    }
    // A bare number could mean seconds or milliseconds; only zero means the same in every unit.
    if (first && rest.empty() && taken.problem == NumberProblem::kNone && taken.number.whole == 0 &&
        taken.number.fraction == 0) {
      return std::chrono::nanoseconds(0);
    }
    rest = skip_spaces(rest);
    const DurationUnit* unit = nullptr;
    for (const DurationUnit& candidate : kDurationUnits) {
      if (rest.starts_with(candidate.name)) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr) {
      return expected(what, kDurationExpected, text);
    }
    rest.remove_prefix(unit->name.size());
    const Scaled part = scale(taken.number, unit->nanoseconds);
    if (part.problem == ScaleProblem::kNotWhole) {
      return expected(what, "a whole number of nanoseconds", text);
    }
    // Parsing goes on after an overflow, so that a malformed later part is reported as such first.
    too_large = too_large || taken.problem == NumberProblem::kTooLarge ||
                part.problem == ScaleProblem::kTooLarge ||
                __builtin_add_overflow(total, part.value, &total) || total > kMaxDurationNs;
    first = false;
  } while (!rest.empty());
  if (too_large) {
    return expected(what, "a duration that fits in 64-bit nanoseconds (about 292 years)", text);
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

sys::Result<mode_t> parse_mode(std::string_view text, std::string_view what) {
  constexpr std::string_view kModeExpected = R"(an octal mode like "0640", at most "07777")";
  if (text.empty()) {
    return expected(what, kModeExpected, text);
  }
  mode_t mode = 0;
  for (const char c : text) {
    if (c < '0' || c > '7') {
      return expected(what, kModeExpected, text);
    }
    mode = mode * 8 + static_cast<mode_t>(c - '0');
    // Checked per digit: 07777 (permissions, setuid, setgid, sticky) is the largest mode, and
    // a long string of digits must not wrap around into a small, valid-looking one.
    if (mode > 07777) {
      return expected(what, kModeExpected, text);
    }
  }
  return mode;
}

std::string format_size(std::uint64_t bytes) {
  constexpr std::array<std::string_view, 5> kUnits{"", "KiB", "MiB", "GiB", "TiB"};
  // The largest unit that divides exactly, so that format_size's output parses back to the same
  // number and reads as it would be written ("64MiB", not "65536KiB").
  for (int exponent = 4; exponent > 0; --exponent) {
    const std::uint64_t unit = power(kKibi, exponent);
    if (bytes != 0 && bytes % unit == 0) {
      return std::to_string(bytes / unit) + std::string(kUnits[exponent]);
    }
  }
  return std::to_string(bytes);
}

std::string format_duration(std::chrono::nanoseconds duration) {
  if (duration.count() == 0) {
    return "0s";
  }
  std::string text;
  // Unsigned arithmetic so that the most negative count has a magnitude too.
  auto left = static_cast<std::uint64_t>(duration.count());
  if (duration.count() < 0) {
    text = "-";
    left = 0 - left;
  }
  // Largest unit first, each taking its whole part: "1h30m", which parse_duration reads back.
  for (auto unit = kDurationUnits.rbegin(); unit != kDurationUnits.rend(); ++unit) {
    if (left >= unit->nanoseconds) {
      text += std::to_string(left / unit->nanoseconds) + std::string(unit->name);
      left %= unit->nanoseconds;
    }
  }
  return text;
}

std::string format_mode(mode_t mode) {
  // Always four digits with the leading 0, so that the text reads as octal to a person too.
  std::string text(4, '0');
  for (std::size_t i = text.size(); i > 0; --i) {
    text[i - 1] = static_cast<char>('0' + (mode & 07));
    mode >>= 3;
  }
  return text;
}

sys::Result<std::uint64_t> parse_count(std::string_view text, std::string_view what,
                                       std::uint64_t min, std::uint64_t max) {
  std::uint64_t value = 0;
  // For an unsigned type from_chars takes no sign and no space, and says result_out_of_range
  // past 2^64 - 1 instead of wrapping.
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return sys::Error::invalid(std::string(what) + ": expected a whole number from " +
                               std::to_string(min) + " to " + std::to_string(max) + ", got " +
                               sys::quoted(text));
  }
  return value;
}

sys::Result<std::string> parse_delimiter(std::string_view text, std::string_view what) {
  auto wrong = [&] {
    return sys::Error::invalid(std::string(what) +
                               ": expected one byte, or an escape like \\n or \\x1e, got " +
                               sys::quoted(text));
  };
  // Empty (no delimiter) or one literal byte; anything longer must be an escape.
  if (text.size() <= 1) {
    return std::string(text);
  }
  if (text.front() != '\\') {
    return wrong();
  }
  if (text.size() == 2) {
    switch (text[1]) {
      case 'n':
        return std::string(1, '\n');
      case 'r':
        return std::string(1, '\r');
      case 't':
        return std::string(1, '\t');
      case '0':
        return std::string(1, '\0');
      case '\\':
        return std::string(1, '\\');
      default:
        return wrong();
    }
  }
  // Exactly two hex digits: one byte, \x00 to \xff.
  if (text.size() == 4 && text[1] == 'x') {
    unsigned value = 0;
    const auto* end = text.data() + text.size();
    auto [next, error] = std::from_chars(text.data() + 2, end, value, 16);
    if (error == std::errc() && next == end) {
      return std::string(1, static_cast<char>(value));
    }
  }
  return wrong();
}

std::string toml_string(std::string_view text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string quoted = "\"";
  for (const char c : text) {
    // TOML basic strings: the escapes the spec names, \u00XX for the other control characters
    // (DEL included), so that to_toml's output loads back to the same string.
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\b':
        quoted += "\\b";
        break;
      case '\t':
        quoted += "\\t";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\f':
        quoted += "\\f";
        break;
      case '\r':
        quoted += "\\r";
        break;
      default: {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
          quoted += "\\u00";
          quoted += kHex[byte >> 4];
          quoted += kHex[byte & 0x0f];
        } else {
          quoted += c;
        }
      }
    }
  }
  quoted += '"';
  return quoted;
}

}  // namespace zcrecv::config
