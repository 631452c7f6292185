#pragma once

#include <string>

namespace zcrecv::test {

/// Reports the current test case as skipped, with `reason`, and returns true: call it as
/// `if (skipped_because(!ready, "why")) { return; }`. ctest shows the test as skipped (the line
/// it prints matches the SKIP_REGULAR_EXPRESSION of the discovery). Under CI=true a skip is a
/// failure instead: CI must run every test.
bool skip_test(const std::string& reason);

/// skip_test(reason) when `condition` holds; false (run the test) otherwise.
inline bool skipped_because(bool condition, const std::string& reason) {
  return condition && skip_test(reason);
}

}  // namespace zcrecv::test
