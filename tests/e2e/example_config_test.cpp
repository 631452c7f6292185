// The example configurations under config/ load in the real binary (--check-config), as the
// README promises.

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "support/process.hpp"

namespace zcrecv::test {
namespace {

TEST_CASE("example config: config/log-ingestion.toml passes --check-config") {
  Process check({zcrecv_binary(), "--check-config", "-c",
                 ZCRECV_SOURCE_DIR "/config/log-ingestion.toml"});
  REQUIRE_MESSAGE(check.wait(std::chrono::seconds(30)) == 0, check.stderr_text());
  const std::string printed = check.stdout_text();
  CHECK(printed.find("log_format = \"json\"") != std::string::npos);
  CHECK(printed.find("time_zone = \"local\"") != std::string::npos);
  CHECK(printed.find("max_bytes = \"20GiB\"") != std::string::npos);
  CHECK(printed.find("max_age = \"14d\"") != std::string::npos);
  CHECK(printed.find("on_publish = [\"/bin/sh\", \"-c\"") != std::string::npos);
  CHECK(printed.find("on_publish_done = \"remove\"") != std::string::npos);
}

}  // namespace
}  // namespace zcrecv::test
