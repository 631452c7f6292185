#include "handoff/hook_command.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "support/error_text.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::handoff {
namespace {

HookFields sample() {
  HookFields fields;
  fields.path = "/var/lib/zcrecv/in/a b.bin.incomplete";
  fields.name = "in/a b.bin.incomplete";
  fields.bytes = 1234;
  fields.listener = "ingest";
  fields.peer = "[::1]:443";
  fields.conn = "9f3a61c200000000";
  fields.seq = 12;
  fields.complete = false;
  return fields;
}

HookCommand parse(const std::vector<std::string>& argv) {
  auto command = HookCommand::parse(argv);
  REQUIRE_MESSAGE(command.ok(), test::error_text(command));
  return std::move(*command);
}

std::string error_of(const std::vector<std::string>& argv) {
  auto command = HookCommand::parse(argv);
  REQUIRE_FALSE(command.ok());
  return command.error().message();
}

TEST_CASE("on_publish placeholders render every field, as one argument each, without a shell") {
  const HookCommand command =
      parse({"ship", "{path}", "--name={name}", "{bytes}", "{listener}", "{peer}", "{conn}",
             "{seq}", "{completion}", "{{x}}", "{seq}-{seq}", ""});
  CHECK(command.render(sample()) ==
        std::vector<std::string>{"ship", "/var/lib/zcrecv/in/a b.bin.incomplete",
                                 "--name=in/a b.bin.incomplete", "1234", "ingest", "[::1]:443",
                                 "9f3a61c200000000", "12", "incomplete", "{x}", "12-12", ""});
  HookFields complete = sample();
  complete.complete = true;
  CHECK(command.render(complete)[8] == "complete");
}

TEST_CASE(
    "on_publish placeholders: unknown ones and stray braces are refused, naming the argument") {
  CHECK(error_of({"ship", "{path}", "{nope}"}) ==
        "output.on_publish[2]: \"{nope}\": unknown placeholder {nope} (known: {path} {name} "
        "{bytes} {listener} {peer} {conn} {seq} {completion})");
  CHECK(error_of({"ship", "a}b"}).starts_with("output.on_publish[1]: \"a}b\": '}' at offset 1"));
  CHECK(error_of({"ship", "{path"})
            .starts_with("output.on_publish[1]: \"{path\": '{' at offset 0 "
                         "is never closed"));
  CHECK(error_of({"{time}"}).starts_with("output.on_publish[0]: \"{time}\": unknown placeholder"));
  CHECK(error_of({}) == "output.on_publish: expected a program and its arguments");
  CHECK(HookCommand::check_argument("{path}") == std::nullopt);
  CHECK(HookCommand::check_argument("{Path}").has_value());
}

TEST_CASE("on_publish program: absolute must exist and be executable, bare names use PATH") {
  test::TempDir dir;
  std::ofstream(dir / "plain") << "#!/bin/sh\n";
  std::filesystem::permissions(dir / "plain", std::filesystem::perms::owner_read);
  CHECK(HookCommand::check_program("/bin/sh") == std::nullopt);
  CHECK(HookCommand::check_program("rclone-or-anything") == std::nullopt);
  CHECK(HookCommand::check_program("{path}") == std::nullopt);
  CHECK(HookCommand::check_program("") == "the program must not be empty");
  CHECK(HookCommand::check_program("/nonexistent/ship") ==
        "\"/nonexistent/ship\": fstatat: No such file or directory");
  CHECK(HookCommand::check_program(dir.path().string()) ==
        "\"" + dir.path().string() + "\": expected an executable file, got something else");
  // No execute bit at all: refused even to root.
  CHECK(HookCommand::check_program((dir / "plain").string()).value_or("").find("not executable") !=
        std::string::npos);
  CHECK(HookCommand::check_program("bin/ship") ==
        "\"bin/ship\": expected an absolute path or a bare name looked up in PATH, got a relative "
        "path");
  CHECK(error_of({"/nonexistent/ship", "{path}"})
            .starts_with("output.on_publish[0]: \"/nonexistent/ship\": fstatat"));
}

TEST_CASE(
    "on_publish environment: the daemon's, less what systemd addresses to it, plus ZCRECV_*") {
  const char* base[] = {"PATH=/usr/bin:/bin",
                        "NOTIFY_SOCKET=/run/systemd/notify",
                        "WATCHDOG_USEC=30000000",
                        "LISTEN_FDS=2",
                        "ZCRECV_PATH=/stale",
                        "ZCRECV_OTHER=kept",
                        nullptr};
  const std::vector<std::string> environment = HookCommand::environment(sample(), base);
  CHECK(environment == std::vector<std::string>{
                           "PATH=/usr/bin:/bin",
                           "ZCRECV_OTHER=kept",
                           "ZCRECV_PATH=/var/lib/zcrecv/in/a b.bin.incomplete",
                           "ZCRECV_NAME=in/a b.bin.incomplete",
                           "ZCRECV_BYTES=1234",
                           "ZCRECV_LISTENER=ingest",
                           "ZCRECV_PEER=[::1]:443",
                           "ZCRECV_CONN=9f3a61c200000000",
                           "ZCRECV_SEQ=12",
                           "ZCRECV_COMPLETION=incomplete",
                       });
  CHECK(HookCommand::environment(sample(), nullptr).size() == 8);
}

}  // namespace
}  // namespace zcrecv::handoff
