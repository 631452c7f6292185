#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "output/client_value.hpp"
#include "sys/result.hpp"

namespace zcrecv::output {

/// The template used when the configuration names none (docs/design.md §7.1): sorts by time and
/// cannot collide, because {conn} is unique across restarts and {seq} within a connection.
inline constexpr std::string_view kDefaultNameTemplate =
    "{listener}/%Y-%m-%d/{time}-{peer}-{conn}-{seq}.bin";

/// The clock of the times in a name.
enum class TimeZone {
  /// UTC: {time} ends in 'Z'.
  kUtc,
  /// The daemon's local time (its TZ, else /etc/localtime, read once): {time} ends in the UTC
  /// offset in force then ("+0530", "-0400").
  kLocal,
};

/// The values a rendered name is made of.
struct NameFields {
  std::string_view listener;
  std::string_view peer;
  std::string_view conn;
  std::string_view host;
  /// 0-based index of the file within its connection.
  std::uint64_t seq = 0;
  /// When the file was opened; every time in the name is this instant, in the template's zone.
  std::chrono::system_clock::time_point opened;
  /// What a proxy reported of the client's TLS certificate.
  ClientCn client_cn;
};

/// An output file name template, validated once and rendered for every file.
///
/// Placeholders:
///   {listener} {conn} {host}  the operator's or the daemon's value, sanitised: every byte
///                             outside [A-Za-z0-9._-] becomes '_', a leading '.' becomes '_',
///                             and an empty value renders as "_" — so a value never
///                             contributes a '/', a "." or ".." segment, or a hidden name.
///   {peer}                    values a client chose, escaped so that distinct values stay
///   {client_cn}               distinct and bounded (render_client_value, render_client_cn):
///                             "+nocert" / "+unverified" when there is no verified certificate.
///   {seq}                            zero-padded to 6 digits (wider when needed).
///   {time}                           opening time, microseconds: 20261124T105500.123456Z in
///                                    UTC, 20261124T162500.123456+0530 in local time (the
///                                    offset keeps the repeated hour of a DST change apart).
/// Conversions (of the opening time, in the template's zone), the ones that can only yield
/// [0-9-]:
///   %Y year (4+ digits)   %y year % 100 (2)   %m month (2)   %d day (2)   %j day of year (3)
///   %H hour (2)           %M minute (2)       %S second (2)  %F %Y-%m-%d  %s Unix seconds
///   %%  a literal '%'.    {{ and }} are literal braces.
/// Conversions that yield spaces (%e, %c, %a, ...) or ':' (%T, %R) are refused: they make names
/// that shells and scp(1) mangle.
///
/// '/' separates directories, created on demand. Refused at parse: an empty or absolute
/// template, "." / ".." / empty segments, unknown placeholders or conversions, unbalanced
/// braces, control characters, a file name starting with '.' (reserved for partial files) or
/// ending in ".part" or ".incomplete" (the suffixes of partial and cut files).
class NameTemplate {
 public:
  /// Validates `text`; errors read `name template "TEXT": REASON`. Times render in `zone`.
  static sys::Result<NameTemplate> parse(std::string_view text, TimeZone zone = TimeZone::kUtc);

  /// The name for one file, relative to the output directory; every component fits
  /// kMaxNameComponentSize and no file name ends in ".part" or ".incomplete" (bounded_name).
  [[nodiscard]] std::string render(const NameFields& fields) const;
  /// The template as it was parsed.
  [[nodiscard]] const std::string& text() const { return text_; }
  [[nodiscard]] TimeZone time_zone() const { return zone_; }

 private:
  enum class Kind {
    kLiteral,
    kListener,
    kPeer,
    kConn,
    kHost,
    kClientCn,
    kSeq,
    kTime,
    kYear,
    kYear2,
    kMonth,
    kDay,
    kDayOfYear,
    kHour,
    kMinute,
    kSecond,
    kDate,
    kEpochSeconds,
  };
  struct Token {
    Kind kind;
    std::string literal;
  };
  using Segment = std::vector<Token>;

  NameTemplate(std::string text, std::vector<Segment> segments, TimeZone zone)
      : text_(std::move(text)), segments_(std::move(segments)), zone_(zone) {}

  std::string text_;
  std::vector<Segment> segments_;
  TimeZone zone_ = TimeZone::kUtc;
};

}  // namespace zcrecv::output
