#include "output/name_template.hpp"

#include <ctime>
#include <optional>
#include <utility>

#include "output/braces.hpp"
#include "output/client_value.hpp"
#include "sys/quoted.hpp"

namespace zcrecv::output {
namespace {

constexpr char kKnownPlaceholders[] = "{listener} {peer} {conn} {seq} {time} {host} {client_cn}";
constexpr char kAllowedConversions[] = "%Y %y %m %d %j %H %M %S %F %s %%";
// Six digits keep a connection's files in {seq} order under a plain sort (ls, glob) up to a million
// files; past that the number simply grows wider.
constexpr int kSeqWidth = 6;

bool is_control(char c) {
  auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// Only these bytes may come from a value; everything else (and with it '/', NUL, spaces and
// every byte a client could have influenced) becomes '_'.
bool is_name_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

void append_sanitised(std::string& out, std::string_view value) {
  if (value.empty()) {
    // An empty value would otherwise turn "a/{peer}/b" into "a//b". Not '-': a directory named
    // "-" is one that `cd -` and many tools read as an option.
    out += '_';
    return;
  }
  std::size_t start = out.size();
  for (char c : value) {
    out += is_name_byte(c) ? c : '_';
  }
  // A leading dot could make ".", ".." or a hidden name that recovery mistakes for a partial.
  if (out[start] == '.') {
    out[start] = '_';
  }
}

void append_number(std::string& out, long long value, int width) {
  if (value < 0) {
    out += '-';
  }
  std::string digits = std::to_string(value < 0 ? -value : value);
  if (static_cast<int>(digits.size()) < width) {
    out.append(static_cast<std::size_t>(width) - digits.size(), '0');
  }
  out += digits;
}

// "+0530", "-0400", "+0000": ISO 8601's basic form of a UTC offset, whole minutes (offsets
// with seconds, before 1972 in a few zones, are cut to the minute).
void append_offset(std::string& out, long offset_seconds) {
  out += offset_seconds < 0 ? '-' : '+';
  const long minutes = (offset_seconds < 0 ? -offset_seconds : offset_seconds) / 60;
  append_number(out, minutes / 60, 2);
  append_number(out, minutes % 60, 2);
}

}  // namespace

sys::Result<NameTemplate> NameTemplate::parse(std::string_view text, TimeZone zone) {
  auto fail = [&](const std::string& reason) {
    return sys::Error::invalid("name template " + sys::quoted(text) + ": " + reason);
  };
  if (text.empty()) {
    return fail("must not be empty");
  }
  // A leading '/' would make openat ignore the output directory's descriptor: names must resolve
  // below it, whatever the template says.
  if (text.front() == '/') {
    return fail("must be relative to the output directory, not start with '/'");
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_control(text[i])) {
      return fail("control character at offset " + std::to_string(i) + " is not allowed");
    }
  }

  // The template is kept as path segments, so that each directory level can be created and opened
  // relative to its parent's descriptor, never through a path string that a symlink could redirect.
  std::vector<Segment> segments(1);
  auto add_literal = [&](char c) {
    Segment& segment = segments.back();
    if (segment.empty() || segment.back().kind != Kind::kLiteral) {
      segment.push_back(Token{Kind::kLiteral, {}});
    }
    segment.back().literal += c;
  };
  auto add = [&](Kind kind) { segments.back().push_back(Token{kind, {}}); };

  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (c == '/') {
      segments.emplace_back();
    } else if (c == '{' || c == '}') {
      auto brace = read_brace(text, i);
      if (!brace) {
        return fail(brace.error().message());
      }
      i = brace->end - 1;
      if (!brace->placeholder) {
        add_literal(c);
        continue;
      }
      const std::string_view name = *brace->placeholder;
      std::optional<Kind> kind;
      if (name == "listener") {
        kind = Kind::kListener;
      } else if (name == "peer") {
        kind = Kind::kPeer;
      } else if (name == "conn") {
        kind = Kind::kConn;
      } else if (name == "host") {
        kind = Kind::kHost;
      } else if (name == "client_cn") {
        kind = Kind::kClientCn;
      } else if (name == "seq") {
        kind = Kind::kSeq;
      } else if (name == "time") {
        kind = Kind::kTime;
      }
      if (!kind) {
        return fail("unknown placeholder {" + std::string(name) +
                    "} (known: " + kKnownPlaceholders + ")");
      }
      add(*kind);
    } else if (c == '%') {
      if (next == '\0') {
        return fail("'%' at the end needs a conversion (write %% for a literal '%')");
      }
      ++i;
      switch (next) {
        case '%':
          add_literal('%');
          break;
        case 'Y':
          add(Kind::kYear);
          break;
        case 'y':
          add(Kind::kYear2);
          break;
        case 'm':
          add(Kind::kMonth);
          break;
        case 'd':
          add(Kind::kDay);
          break;
        case 'j':
          add(Kind::kDayOfYear);
          break;
        case 'H':
          add(Kind::kHour);
          break;
        case 'M':
          add(Kind::kMinute);
          break;
        case 'S':
          add(Kind::kSecond);
          break;
        case 'F':
          add(Kind::kDate);
          break;
        case 's':
          add(Kind::kEpochSeconds);
          break;
        default:
          return fail(std::string("unknown conversion %") + next +
                      " (allowed: " + kAllowedConversions + ")");
      }
    } else {
      add_literal(c);
    }
  }

  for (const Segment& segment : segments) {
    if (segment.empty()) {
      return fail("empty path segment ('//' or a trailing '/')");
    }
    // Only a literal segment can be "." or ".." here; a placeholder's value is made safe when it is
    // rendered (append_sanitised, render_client_value).
    if (segment.size() == 1 && segment.front().kind == Kind::kLiteral) {
      const std::string& literal = segment.front().literal;
      if (literal == "." || literal == "..") {
        return fail("\"" + literal + "\" segment is not allowed (names stay below the output " +
                    "directory)");
      }
    }
  }
  const Segment& file = segments.back();
  // Refused here for the template's own text (bounded_name guards what values complete): a
  // published name that looked like ".NAME.part" would be taken by recovery for a partial file and
  // renamed, and one ending in ".incomplete" would read as a cut stream.
  if (file.front().kind == Kind::kLiteral && file.front().literal.front() == '.') {
    return fail("file name must not start with '.' (reserved for partial files)");
  }
  if (file.back().kind == Kind::kLiteral) {
    const std::string& literal = file.back().literal;
    if (ends_with(literal, ".part")) {
      return fail("file name must not end in \".part\" (reserved for partial files)");
    }
    if (ends_with(literal, ".incomplete")) {
      return fail("file name must not end in \".incomplete\" (reserved for cut streams)");
    }
  }
  return NameTemplate(std::string(text), std::move(segments), zone);
}

std::string NameTemplate::render(const NameFields& fields) const {
  using std::chrono::duration_cast;
  using std::chrono::floor;
  using std::chrono::microseconds;
  using std::chrono::seconds;
  auto since_epoch = fields.opened.time_since_epoch();
  auto whole_seconds = floor<seconds>(since_epoch);
  long long micros = duration_cast<microseconds>(since_epoch - whole_seconds).count();
  std::time_t epoch_seconds = static_cast<std::time_t>(whole_seconds.count());
  std::tm utc{};
  // localtime_r reads the zone once (glibc initialises it on first use and, unlike localtime,
  // never again): every file of a run follows the same rules, whatever happens to
  // /etc/localtime meanwhile.
  if (zone_ == TimeZone::kLocal) {
    ::localtime_r(&epoch_seconds, &utc);
  } else {
    ::gmtime_r(&epoch_seconds, &utc);
  }
  long long year = static_cast<long long>(utc.tm_year) + 1900;

  std::string out;
  for (std::size_t s = 0; s < segments_.size(); ++s) {
    if (s > 0) {
      out += '/';
    }
    for (const Token& token : segments_[s]) {
      switch (token.kind) {
        case Kind::kLiteral:
          out += token.literal;
          break;
        case Kind::kListener:
          append_sanitised(out, fields.listener);
          break;
        case Kind::kPeer:
          out += render_client_value(fields.peer);
          break;
        case Kind::kConn:
          append_sanitised(out, fields.conn);
          break;
        case Kind::kHost:
          append_sanitised(out, fields.host);
          break;
        case Kind::kClientCn:
          out += render_client_cn(fields.client_cn);
          break;
        case Kind::kSeq:
          append_number(out, static_cast<long long>(fields.seq), kSeqWidth);
          break;
        case Kind::kTime:
          append_number(out, year, 4);
          append_number(out, utc.tm_mon + 1, 2);
          append_number(out, utc.tm_mday, 2);
          out += 'T';
          append_number(out, utc.tm_hour, 2);
          append_number(out, utc.tm_min, 2);
          append_number(out, utc.tm_sec, 2);
          out += '.';
          append_number(out, micros, 6);
          if (zone_ == TimeZone::kUtc) {
            out += 'Z';
          } else {
            append_offset(out, utc.tm_gmtoff);
          }
          break;
        case Kind::kYear:
          append_number(out, year, 4);
          break;
        case Kind::kYear2:
          // Modulo twice so that a year before 1 (or a negative tm_year) still gives two digits,
          // not a sign.
          append_number(out, ((year % 100) + 100) % 100, 2);
          break;
        case Kind::kMonth:
          append_number(out, utc.tm_mon + 1, 2);
          break;
        case Kind::kDay:
          append_number(out, utc.tm_mday, 2);
          break;
        case Kind::kDayOfYear:
          append_number(out, utc.tm_yday + 1, 3);
          break;
        case Kind::kHour:
          append_number(out, utc.tm_hour, 2);
          break;
        case Kind::kMinute:
          append_number(out, utc.tm_min, 2);
          break;
        case Kind::kSecond:
          append_number(out, utc.tm_sec, 2);
          break;
        case Kind::kDate:
          append_number(out, year, 4);
          out += '-';
          append_number(out, utc.tm_mon + 1, 2);
          out += '-';
          append_number(out, utc.tm_mday, 2);
          break;
        case Kind::kEpochSeconds:
          append_number(out, static_cast<long long>(epoch_seconds), 0);
          break;
      }
    }
  }
  // Sanitised values are not short: several of them, or a long literal, could make a component that
  // openat refuses with ENAMETOOLONG once the partial and collision suffixes are added.
  return bounded_name(std::move(out));
}

}  // namespace zcrecv::output
