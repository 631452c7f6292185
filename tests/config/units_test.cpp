#include "config/units.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace zcrecv::config {
namespace {

using std::chrono::nanoseconds;
using namespace std::chrono_literals;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = kKiB * 1024;
constexpr std::uint64_t kGiB = kMiB * 1024;
constexpr std::uint64_t kTiB = kGiB * 1024;

std::string size_error(std::string_view text) {
  auto size = parse_size(text, "--max-file-size");
  REQUIRE_FALSE(size.ok());
  CHECK(size.error().errno_value() == 0);
  return size.error().message();
}

std::string duration_error(std::string_view text) {
  auto duration = parse_duration(text, "--idle-timeout");
  REQUIRE_FALSE(duration.ok());
  CHECK(duration.error().errno_value() == 0);
  return duration.error().message();
}

std::string size_like(std::string_view got) {
  return R"(--max-file-size: expected a size like "64MiB" or "1G", got )" + std::string(got);
}

std::string duration_like(std::string_view got) {
  return R"(--idle-timeout: expected a duration like "30s", "5m" or "1h30m", got )" +
         std::string(got);
}

TEST_CASE("parse_size reads bytes, binary and decimal units, and whole fractions") {
  struct Case {
    std::string_view text;
    std::uint64_t bytes;
  };
  const std::vector<Case> cases{
      {"0", 0},
      {"4096", 4096},
      {"7B", 7},
      {"500k", 500 * kKiB},
      {"500K", 500 * kKiB},
      {"64MiB", 64 * kMiB},
      {"64m", 64 * kMiB},
      {"1G", kGiB},
      {"1g", kGiB},
      {"2T", 2 * kTiB},
      {"1TiB", kTiB},
      {"3KiB", 3 * kKiB},
      {"1kB", 1000},
      {"1KB", 1000},
      {"2MB", 2'000'000},
      {"3GB", 3'000'000'000},
      {"1TB", 1'000'000'000'000},
      {"10 MiB", 10 * kMiB},
      {"1\tk", kKiB},
      {"1.5GiB", kGiB + kGiB / 2},
      {"0.5k", 512},
      {"1.50KiB", 1536},
      {"0.001kB", 1},
      {"007", 7},
      {"18446744073709551615", std::numeric_limits<std::uint64_t>::max()},
      {"16777215.5TiB", 16777215 * kTiB + kTiB / 2},
  };
  for (const Case& test : cases) {
    INFO(test.text);
    auto size = parse_size(test.text, "size");
    REQUIRE(size.ok());
    CHECK(*size == test.bytes);
  }
}

TEST_CASE("parse_size refuses everything else, naming the option and quoting the input") {
  const std::vector<std::string_view> malformed{
      "",    "lots",  "-1",    "+5",    " 64",    "64 ",   "64MiB ", "1Q",
      "1kb", "1mib",  "1KiBx", "1.k",   ".5k",    "1e3",   "1,000",  "0x10",
      "1 2", "1 k B", "k",     "1..5k", "1.5.5k", "1MiB1", "1bB",    "1Bi",
  };
  for (const std::string_view text : malformed) {
    CAPTURE(text);
    CHECK(size_error(text) == size_like("\"" + std::string(text) + "\""));
  }
  CHECK(size_error("1.1k") == R"(--max-file-size: expected a whole number of bytes, got "1.1k")");
  CHECK(size_error("1.5") == R"(--max-file-size: expected a whole number of bytes, got "1.5")");
  CHECK(size_error("0.5B") == R"(--max-file-size: expected a whole number of bytes, got "0.5B")");
  CHECK(size_error("18446744073709551616") ==
        R"(--max-file-size: expected a size below 16EiB, got "18446744073709551616")");
  CHECK(size_error("16777216TiB") ==
        R"(--max-file-size: expected a size below 16EiB, got "16777216TiB")");
  CHECK(size_error("99999999999999999999999k") ==
        R"(--max-file-size: expected a size below 16EiB, got "99999999999999999999999k")");
  // What the user typed is shown as a TOML string, so quotes and control bytes stay readable.
  CHECK(size_error("a\"b\n") == size_like(R"("a\"b\n")"));
}

TEST_CASE("parse_delimiter reads one byte, an escape, or nothing, and refuses the rest by name") {
  CHECK(*parse_delimiter("", "--record-delimiter") == "");
  CHECK(*parse_delimiter("|", "--record-delimiter") == "|");
  CHECK(*parse_delimiter("\\n", "--record-delimiter") == "\n");
  CHECK(*parse_delimiter("\\0", "--record-delimiter") == std::string(1, '\0'));
  CHECK(*parse_delimiter("\\x1e", "--record-delimiter") == "\x1e");
  for (const char* wrong : {"ab", "\\q", "\\x1", "\\xzz", "\\x1e0"}) {
    auto parsed = parse_delimiter(wrong, "--record-delimiter");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().message().starts_with("--record-delimiter: expected one byte"));
  }
}

TEST_CASE("parse_duration reads units, compounds and whole fractions") {
  struct Case {
    std::string_view text;
    nanoseconds duration;
  };
  const std::vector<Case> cases{
      {"0", 0s},
      {"0.0", 0s},
      {"0s", 0s},
      {"10ns", 10ns},
      {"15us", 15us},
      {"250ms", 250ms},
      {"30s", 30s},
      {"5m", 5min},
      {"90m", 90min},
      {"1h", 1h},
      {"2d", 48h},
      {"1h30m", 90min},
      {"1h 30m", 90min},
      {"1 h", 1h},
      {"30m1h", 90min},
      {"1.5s", 1500ms},
      {"0.5ms", 500us},
      {"1.25h", 75min},
      {"1d2h3m4s5ms6us7ns", 24h + 2h + 3min + 4s + 5ms + 6us + 7ns},
      {"106751d", 106751 * 24h},
      {"9223372036854775807ns", nanoseconds(std::numeric_limits<std::int64_t>::max())},
  };
  for (const Case& test : cases) {
    INFO(test.text);
    auto duration = parse_duration(test.text, "duration");
    REQUIRE(duration.ok());
    CHECK(*duration == test.duration);
  }
}

TEST_CASE("parse_duration refuses bare numbers and everything else, naming the option") {
  CHECK(duration_error("5") == duration_like(R"("5")"));
  const std::vector<std::string_view> malformed{
      "5",  "1.5",  "",       "-5s", "5x",  "5sec", "s",  "1h30",  "1.s", ".5s", "5S",
      "1M", "1e3s", "1h-30m", "5 ",  " 5s", "5s ",  "1H", "5 min", "0x",  "1d1", "ms",
  };
  for (const std::string_view text : malformed) {
    CAPTURE(text);
    CHECK(duration_error(text) == duration_like("\"" + std::string(text) + "\""));
  }
  CHECK(duration_error("1.5ns") ==
        R"(--idle-timeout: expected a whole number of nanoseconds, got "1.5ns")");
  CHECK(duration_error("0.0000000001s") ==
        R"(--idle-timeout: expected a whole number of nanoseconds, got "0.0000000001s")");
  const std::string too_long =
      R"(--idle-timeout: expected a duration that fits in 64-bit nanoseconds (about 292 years), got )";
  CHECK(duration_error("106752d") == too_long + R"("106752d")");
  CHECK(duration_error("9223372036854775808ns") == too_long + R"("9223372036854775808ns")");
  CHECK(duration_error("99999999999999999999s") == too_long + R"("99999999999999999999s")");
  CHECK(duration_error("106751d1d") == too_long + R"("106751d1d")");
}

TEST_CASE("parse_mode reads octal up to 07777") {
  CHECK(*parse_mode("0640", "mode") == 0640);
  CHECK(*parse_mode("640", "mode") == 0640);
  CHECK(*parse_mode("0", "mode") == 0);
  CHECK(*parse_mode("7777", "mode") == 07777);
  CHECK(*parse_mode("00007777", "mode") == 07777);
  for (const std::string_view text : {"", "0800", "0999", "10000", "rw-r--r--", "-1", " 0640"}) {
    CAPTURE(text);
    auto mode = parse_mode(text, "file_mode");
    REQUIRE_FALSE(mode.ok());
    CHECK(mode.error().message() == R"(file_mode: expected an octal mode like "0640", at most )"
                                    R"("07777", got ")" +
                                        std::string(text) + "\"");
  }
}

TEST_CASE("format_size picks the largest exact binary unit and parses back") {
  CHECK(format_size(0) == "0");
  CHECK(format_size(1000) == "1000");
  CHECK(format_size(1024) == "1KiB");
  CHECK(format_size(1536) == "1536");
  CHECK(format_size(256 * kMiB) == "256MiB");
  CHECK(format_size(kGiB) == "1GiB");
  CHECK(format_size(3 * kTiB) == "3TiB");
  CHECK(format_size(kGiB + kMiB) == "1025MiB");
  CHECK(format_size(1024 * kTiB) == "1024TiB");
  for (const std::uint64_t bytes :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1000}, std::uint64_t{4097}, 5 * kKiB,
        7 * kMiB + 3 * kKiB, 12345 * kGiB, std::numeric_limits<std::uint64_t>::max(),
        std::uint64_t{1} << 63}) {
    CAPTURE(bytes);
    auto parsed = parse_size(format_size(bytes), "size");
    REQUIRE(parsed.ok());
    CHECK(*parsed == bytes);
  }
}

TEST_CASE("format_duration spells every non-zero unit and parses back") {
  CHECK(format_duration(0s) == "0s");
  CHECK(format_duration(5min) == "5m");
  CHECK(format_duration(30s) == "30s");
  CHECK(format_duration(90min) == "1h30m");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(1500ms) == "1s500ms");
  CHECK(format_duration(48h) == "2d");
  CHECK(format_duration(25h + 1min + 1s + 1ms + 1us + 1ns) == "1d1h1m1s1ms1us1ns");
  CHECK(format_duration(-5s) == "-5s");
  CHECK(format_duration(nanoseconds(std::numeric_limits<std::int64_t>::min())) ==
        "-106751d23h47m16s854ms775us808ns");
  for (const nanoseconds duration :
       {nanoseconds(0), nanoseconds(1), nanoseconds(999), nanoseconds(1001), nanoseconds(61s),
        nanoseconds(86399s), nanoseconds(3h + 7ms),
        nanoseconds(std::numeric_limits<std::int64_t>::max())}) {
    CAPTURE(duration.count());
    auto parsed = parse_duration(format_duration(duration), "duration");
    REQUIRE(parsed.ok());
    CHECK(*parsed == duration);
  }
}

TEST_CASE("format_mode writes four octal digits that parse back") {
  CHECK(format_mode(0640) == "0640");
  CHECK(format_mode(0) == "0000");
  CHECK(format_mode(04755) == "4755");
  CHECK(*parse_mode(format_mode(02750), "mode") == 02750);
}

TEST_CASE("toml_string writes a TOML basic string") {
  CHECK(toml_string("plain") == R"("plain")");
  CHECK(toml_string("") == R"("")");
  CHECK(toml_string("a\"b\\c") == R"("a\"b\\c")");
  CHECK(toml_string("\t\n\r\b\f") == R"("\t\n\r\b\f")");
  CHECK(toml_string(std::string("\x01\x1f\x7f", 3)) == R"("\u0001\u001F\u007F")");
  CHECK(toml_string("é") == "\"é\"");
}

TEST_CASE("parse_count reads a whole number in its range, and nothing else") {
  CHECK(*parse_count("0", "n", 0, 10) == 0);
  CHECK(*parse_count("007", "n", 0, 10) == 7);
  CHECK(*parse_count("18446744073709551615", "n", 0, UINT64_MAX) == UINT64_MAX);
  for (const char* wrong : {"", "-1", "+1", " 1", "1 ", "1x", "0x1", "11", "18446744073709551616"}) {
    CAPTURE(wrong);
    CHECK_FALSE(parse_count(wrong, "n", 0, 10));
  }
  CHECK(parse_count("ten", "--workers", 0, 1024).error().message() ==
        R"(--workers: expected a whole number from 0 to 1024, got "ten")");
}

}  // namespace
}  // namespace zcrecv::config
