#include "output/name_template.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

#include "support/error_text.hpp"

namespace zcrecv::output {
namespace {

using namespace std::chrono;

// 2026-11-24T10:55:00.123456Z, Unix time 1795517700.
constexpr system_clock::time_point kOpened =
    sys_days{year{2026} / November / 24} + hours{10} + minutes{55} + microseconds{123456};

NameFields fields(std::uint64_t seq = 7) {
  return NameFields{"ingest", "10.0.0.5_51234", "c42",   "recv-1",
                    seq,      kOpened,          {ClientCn::Kind::kVerified, "alice"}};
}

std::string render(std::string_view text, const NameFields& values) {
  auto parsed = NameTemplate::parse(text);
  REQUIRE_MESSAGE(parsed.ok(), test::error_text(parsed));
  return parsed->render(values);
}

std::string parse_error(std::string_view text) {
  auto parsed = NameTemplate::parse(text);
  REQUIRE_FALSE(parsed.ok());
  return parsed.error().message();
}

TEST_CASE("the default template renders the name docs/design.md §7.1 describes") {
  CHECK(render(kDefaultNameTemplate, fields()) ==
        "ingest/2026-11-24/20261124T105500.123456Z-10.0.0.5_51234-c42-000007.bin");
  CHECK(NameTemplate::parse(kDefaultNameTemplate)->text() == kDefaultNameTemplate);
}

TEST_CASE("every placeholder renders its value") {
  CHECK(render("{listener}|{peer}|{conn}|{host}|{seq}|{time}|{client_cn}", fields()) ==
        "ingest|10.0.0.5_51234|c42|recv-1|000007|20261124T105500.123456Z|alice");
}

TEST_CASE("{client_cn} is escaped so that distinct CNs never share a name, and says when there is none") {
  NameFields values = fields();
  CHECK(render("{client_cn}/{seq}.bin", values) == "alice/000007.bin");
  values.client_cn = {ClientCn::Kind::kVerified, ""};
  CHECK(render("{client_cn}/{seq}.bin", values) == "+empty/000007.bin");
  values.client_cn = {ClientCn::Kind::kNoCertificate, ""};
  CHECK(render("{seq}-{client_cn}.bin", values) == "000007-+nocert.bin");
  values.client_cn = {ClientCn::Kind::kUnverified, ""};
  CHECK(render("{seq}-{client_cn}.bin", values) == "000007-+unverified.bin");
  // A CN is whatever the certificate's subject says: spaces, slashes, dots, any byte.
  values.client_cn = {ClientCn::Kind::kVerified, "ACME Corp/ingest node #3"};
  CHECK(render("{client_cn}/{seq}.bin", values) == "ACME+20Corp+2fingest+20node+20+233/000007.bin");
  values.client_cn = {ClientCn::Kind::kVerified, ".."};
  CHECK(render("{client_cn}/{seq}.bin", values) == "+2e./000007.bin");
  values.client_cn = {ClientCn::Kind::kVerified, std::string(".\0\xff/x", 5)};
  CHECK(render("{client_cn}", values) == "+2e+00+ff+2fx");
  values.client_cn = {ClientCn::Kind::kVerified, "-rf"};
  CHECK(render("{client_cn}.bin", values) == "+2drf.bin");
}

TEST_CASE("a client value cannot make a finished file read as a partial or cut one") {
  NameFields values = fields();
  values.client_cn = {ClientCn::Kind::kVerified, "x.incomplete"};
  CHECK(render("{conn}-{client_cn}", values) == "c42-x.incomplete+");
  values.client_cn = {ClientCn::Kind::kVerified, "x.pa"};
  CHECK(render("{client_cn}rt", values) == "x.part+");
  CHECK(render("{client_cn}rt.bin", values) == "x.part.bin");
}

TEST_CASE("a long client value is bounded, and every component fits NAME_MAX with room to spare") {
  NameFields values = fields();
  values.client_cn = {ClientCn::Kind::kVerified, std::string(255, 'a')};
  const std::string name = render("{client_cn}/{conn}-{client_cn}-{client_cn}-{client_cn}-"
                                  "{client_cn}.bin",
                                  values);
  const std::string first = name.substr(0, name.find('/'));
  CHECK(first.size() == kMaxClientValueSize);
  CHECK(first.starts_with(std::string(46, 'a') + "+h"));
  const std::string file = name.substr(name.find('/') + 1);
  CHECK(file.size() <= kMaxNameComponentSize);
  CHECK(file.ends_with(".bin"));
  // One byte apart, the hash tells them apart.
  NameFields other = values;
  other.client_cn.name.back() = 'b';
  CHECK(render("{client_cn}", other) != render("{client_cn}", values));
  CHECK(render("{client_cn}", other).substr(0, 46) == render("{client_cn}", values).substr(0, 46));
}

TEST_CASE("{peer} keeps the tokens the daemon makes, and escapes anything else") {
  NameFields values = fields();
  CHECK(render("{peer}", values) == "10.0.0.5_51234");
  values.peer = "-x";
  CHECK(render("{peer}", values) == "+2dx");
}

TEST_CASE("every allowed conversion renders the opening time in UTC") {
  CHECK(render("%Y|%y|%m|%d|%j|%H|%M|%S|%F|%s|%%", fields()) ==
        "2026|26|11|24|328|10|55|00|2026-11-24|1795517700|%");
  // Single-digit fields are zero-padded, microseconds too.
  system_clock::time_point early =
      sys_days{year{2027} / January / 2} + hours{3} + minutes{4} + seconds{5} + microseconds{42};
  NameFields values = fields();
  values.opened = early;
  CHECK(render("%Y%m%d-%H%M%S-%j-{time}", values) == "20270102-030405-002-20270102T030405.000042Z");
}

TEST_CASE("{seq} is zero-padded to six digits and grows wider when needed") {
  CHECK(render("{seq}", fields(0)) == "000000");
  CHECK(render("{seq}", fields(999999)) == "999999");
  CHECK(render("{seq}", fields(1234567)) == "1234567");
}

TEST_CASE("doubled braces and %% are literals, and a leading-dot directory is allowed") {
  CHECK(render("{{x}}-{seq}", fields()) == "{x}-000007");
  CHECK(render("100%%/{seq}", fields()) == "100%/000007");
  CHECK(render(".cache/{seq}.bin", fields()) == ".cache/000007.bin");
}

TEST_CASE("values are sanitised: no slash, no dot segment, no hidden name, no odd byte") {
  auto parsed = NameTemplate::parse("{listener}/{peer}/{host}/{conn}.bin");
  REQUIRE(parsed.ok());
  NameFields hostile{"../../etc", "..", "", "a/b c\n\xc3\xa9", 0, kOpened, {}};
  // {peer} is a client's value: escaped, not sanitised (render_client_value).
  CHECK(parsed->render(hostile) == "_._.._etc/+2e./a_b_c___/_.bin");
  hostile.listener = ".";
  hostile.peer = ".hidden";
  hostile.host = "x\0y";
  hostile.conn = "ok-1.2_3";
  CHECK(parsed->render(hostile) == "_/+2ehidden/x/ok-1.2_3.bin");
  hostile.host = std::string_view("x\0y", 3);
  CHECK(parsed->render(hostile) == "_/+2ehidden/x_y/ok-1.2_3.bin");
}

TEST_CASE("invalid templates are refused with a message naming the template and the reason") {
  CHECK(parse_error("") == "name template \"\": must not be empty");
  CHECK(parse_error("/var/x/{seq}") ==
        "name template \"/var/x/{seq}\": must be relative to the output directory, not start "
        "with '/'");
  CHECK(parse_error("a/../{seq}") ==
        "name template \"a/../{seq}\": \"..\" segment is not allowed (names stay below the "
        "output directory)");
  CHECK(parse_error("..") ==
        "name template \"..\": \"..\" segment is not allowed (names stay below the output "
        "directory)");
  CHECK(parse_error("./{seq}") ==
        "name template \"./{seq}\": \".\" segment is not allowed (names stay below the output "
        "directory)");
  CHECK(parse_error("a//{seq}") ==
        "name template \"a//{seq}\": empty path segment ('//' or a trailing '/')");
  CHECK(parse_error("{seq}/") ==
        "name template \"{seq}/\": empty path segment ('//' or a trailing '/')");
  CHECK(parse_error("{nope}.bin") ==
        "name template \"{nope}.bin\": unknown placeholder {nope} (known: {listener} {peer} "
        "{conn} {seq} {time} {host} {client_cn})");
  CHECK(parse_error("{}.bin") ==
        "name template \"{}.bin\": unknown placeholder {} (known: {listener} {peer} {conn} "
        "{seq} {time} {host} {client_cn})");
  CHECK(parse_error("%Q-{seq}") ==
        "name template \"%Q-{seq}\": unknown conversion %Q (allowed: %Y %y %m %d %j %H %M %S "
        "%F %s %%)");
  // %e pads with a space, %T writes ':'.
  CHECK(parse_error("%e-{seq}") ==
        "name template \"%e-{seq}\": unknown conversion %e (allowed: %Y %y %m %d %j %H %M %S "
        "%F %s %%)");
  CHECK(parse_error("%T-{seq}") ==
        "name template \"%T-{seq}\": unknown conversion %T (allowed: %Y %y %m %d %j %H %M %S "
        "%F %s %%)");
  CHECK(parse_error("{seq}.bin%") ==
        "name template \"{seq}.bin%\": '%' at the end needs a conversion (write %% for a "
        "literal '%')");
  CHECK(parse_error("x-{seq.bin") ==
        "name template \"x-{seq.bin\": '{' at offset 2 is never closed (write {{ for a literal "
        "brace)");
  CHECK(parse_error("x-seq}.bin") ==
        "name template \"x-seq}.bin\": '}' at offset 5 has no matching '{' (write }} for a "
        "literal brace)");
  CHECK(parse_error("a/.{seq}") ==
        "name template \"a/.{seq}\": file name must not start with '.' (reserved for partial "
        "files)");
  CHECK(parse_error("{seq}.part") ==
        "name template \"{seq}.part\": file name must not end in \".part\" (reserved for "
        "partial files)");
  CHECK(parse_error("{seq}.incomplete") ==
        "name template \"{seq}.incomplete\": file name must not end in \".incomplete\" "
        "(reserved for cut streams)");
  CHECK(parse_error("a\nb-{seq}") ==
        "name template \"a\\nb-{seq}\": control character at offset 1 is not allowed");
  CHECK(parse_error(std::string_view("a\0b", 3)) ==
        "name template \"a\\x00b\": control character at offset 1 is not allowed");
  CHECK(parse_error("a\x7f") ==
        "name template \"a\\x7f\": control character at offset 1 is not allowed");
}

// Sets TZ for the process while it lives (and calls tzset, which localtime_r alone would not),
// then puts back what was there.
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* zone) {
    if (const char* was = std::getenv("TZ")) {
      previous_ = was;
    }
    ::setenv("TZ", zone, 1);
    ::tzset();
  }
  ScopedTimeZone(const ScopedTimeZone&) = delete;
  ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;
  ~ScopedTimeZone() {
    if (previous_) {
      ::setenv("TZ", previous_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::optional<std::string> previous_;
};

std::string render_local(std::string_view text, system_clock::time_point opened) {
  auto parsed = NameTemplate::parse(text, TimeZone::kLocal);
  REQUIRE_MESSAGE(parsed.ok(), test::error_text(parsed));
  NameFields values = fields();
  values.opened = opened;
  return parsed->render(values);
}

TEST_CASE("local time: names follow the zone, and {time} carries its offset") {
  // A POSIX zone string: no tzdata needed. IST is UTC+5:30 all year.
  ScopedTimeZone zone("IST-5:30");
  CHECK(render_local("%Y-%m-%d/%H%M%S-{time}.bin", kOpened) ==
        "2026-11-24/162500-20261124T162500.123456+0530.bin");
  CHECK(render_local("%F|%j|%y|%s", kOpened) == "2026-11-24|328|26|1795517700");
  // Across the local midnight the local day changes while UTC's has not.
  CHECK(render_local("%F", kOpened + hours{8}) == "2026-11-25");
  CHECK(render("%F", NameFields{"", "", "", "", 0, kOpened + hours{8}, {}}) == "2026-11-24");
  // The UTC default is untouched by TZ.
  CHECK(render("{time}", fields()) == "20261124T105500.123456Z");
  CHECK(NameTemplate::parse("{time}", TimeZone::kLocal)->time_zone() == TimeZone::kLocal);
}

TEST_CASE("local time: the repeated hour of a DST change renders two different {time}") {
  // Central Europe: on 2026-10-25 at 01:00 UTC, 03:00 CEST becomes 02:00 CET.
  ScopedTimeZone zone("CET-1CEST,M3.5.0,M10.5.0/3");
  const system_clock::time_point before = sys_days{year{2026} / October / 25} + minutes{30};
  const system_clock::time_point after = before + hours{1};
  CHECK(render_local("%H%M-{time}", before) == "0230-20261025T023000.000000+0200");
  CHECK(render_local("%H%M-{time}", after) == "0230-20261025T023000.000000+0100");
  // Spring forward: 02:30 local never exists; 01:30 UTC on 2026-03-29 is 03:30 CEST.
  CHECK(render_local("{time}", sys_days{year{2026} / March / 29} + minutes{90}) ==
        "20260329T033000.000000+0200");
}

}  // namespace
}  // namespace zcrecv::output
