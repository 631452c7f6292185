// The test binary's own guard (tests/main.cpp): a run whose filters match no test case fails, so
// that a ctest entry can never pass without running anything. The binary is run as a child, the
// way ctest runs it.

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "support/files.hpp"
#include "support/process.hpp"

namespace zcrecv::test {
namespace {

std::string this_binary() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

TEST_CASE("test main: no test case name holds a semicolon, which ctest's discovery would split") {
  Process list({this_binary(), "--list-test-cases"});
  REQUIRE(list.wait() == 0);
  int names = 0;
  for (const std::string& line : lines_of(list.stdout_text())) {
    if (line.empty() || line.starts_with("[doctest]") || line.starts_with("====")) {
      continue;
    }
    ++names;
    INFO("test case: " << line);
    CHECK(line.find(';') == std::string::npos);
  }
  // The list is this binary's own; it holds at least this case and the one below.
  CHECK(names >= 2);
}

TEST_CASE("test main: a filter that matches no test case fails the run") {
  Process unmatched({this_binary(), "--test-case=zcrecv-no-such-test-case"});
  CHECK(unmatched.wait() != 0);
  CHECK(unmatched.stderr_text().find("no test case matched the filters") != std::string::npos);

  // A name cut at a ';' is the case the guard exists for.
  Process fragment({this_binary(), "--test-case=test main: no test case name holds a semi"});
  CHECK(fragment.wait() != 0);

  // The guard leaves a run that ran something, and a query, alone.
  Process matched({this_binary(), "--test-case=test main: no test case name holds a semicolon*"});
  CHECK(matched.wait() == 0);
  Process count({this_binary(), "--count", "--test-case=zcrecv-no-such-test-case"});
  CHECK(count.wait() == 0);
}

}  // namespace
}  // namespace zcrecv::test
