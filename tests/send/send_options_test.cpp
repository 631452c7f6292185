#include "send/send_options.hpp"

#include <doctest/doctest.h>

#include <string>

namespace zcrecv::send {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string errors_of(const SendOptions& options) {
  auto settings = build_send_settings(options, false);
  REQUIRE_FALSE(settings.ok());
  return settings.error().message();
}

TEST_CASE("zcsend options: the defaults, and every --to form of --listen") {
  SendOptions options;
  options.to = {"127.0.0.1:9000", "[::1]:9001", ":9002", "localhost:9003", "unix:/run/x.sock",
                "unix:@name"};
  auto settings = build_send_settings(options, true);
  REQUIRE(settings.ok());
  CHECK(settings->to.size() == 6);
  CHECK(settings->to[1].host == "::1");
  CHECK(settings->to[4].kind == net::ListenAddress::Kind::kUnixPath);
  CHECK(settings->to[5].kind == net::ListenAddress::Kind::kUnixAbstract);
  CHECK(settings->retry.attempts == 10);
  CHECK(settings->retry.backoff == milliseconds(200));
  CHECK(settings->retry.backoff_max == seconds(5));
  CHECK(settings->timeout == seconds(30));
  CHECK(settings->progress);
  CHECK_FALSE(settings->remove);
  CHECK(inputs_of(options) == std::vector<std::string>{"-"});
}

TEST_CASE("zcsend options: given values are taken") {
  SendOptions options;
  options.to = {"10.0.0.1:9000"};
  options.attempts = "3";
  options.timeout = "20s";
  options.backoff = "50ms";
  options.backoff_max = "1s";
  options.progress = false;
  options.remove = true;
  options.inputs = {"a", "b"};
  auto settings = build_send_settings(options, true);
  REQUIRE(settings.ok());
  CHECK(settings->retry.attempts == 3);
  CHECK(settings->timeout == seconds(20));
  CHECK(settings->retry.backoff == milliseconds(50));
  CHECK(settings->retry.backoff_max == seconds(1));
  CHECK_FALSE(settings->progress);
  CHECK(settings->remove);
  CHECK(inputs_of(options) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("zcsend options: every bad value is reported, each naming its option") {
  SendOptions options;
  options.to = {"nowhere", "127.0.0.1:0"};
  options.attempts = "0";
  options.timeout = "0";
  options.backoff = "5";
  options.backoff_max = "soon";
  options.inputs = {"-", "x", "-"};
  const std::string errors = errors_of(options);
  CHECK(errors.find("--to: listen address \"nowhere\"") != std::string::npos);
  CHECK(errors.find("--to: \"127.0.0.1:0\": port 0") != std::string::npos);
  CHECK(errors.find("--attempts: expected a whole number from 1 to 1000, got \"0\"") !=
        std::string::npos);
  CHECK(errors.find("--timeout: must be longer than 0") != std::string::npos);
  CHECK(errors.find("--backoff: expected a duration") != std::string::npos);
  CHECK(errors.find("--backoff-max: expected a duration") != std::string::npos);
  CHECK(errors.find("standard input) can be sent only once") != std::string::npos);
}

TEST_CASE("zcsend options: --to is required, --attempts is bounded, backoff-max ≥ backoff") {
  SendOptions options;
  CHECK(errors_of(options).find("--to: at least one address") != std::string::npos);
  options.to = {"127.0.0.1:9000"};
  for (const char* attempts : {"1001", "-1", "2x", ""}) {
    options.attempts = attempts;
    CHECK(errors_of(options).find("--attempts:") != std::string::npos);
  }
  options.attempts = "1000";
  options.backoff = "10s";
  CHECK(errors_of(options) == "--backoff-max: 5s is shorter than --backoff 10s");
}

}  // namespace
}  // namespace zcrecv::send
