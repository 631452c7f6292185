// The real zcrecv binary with log_format = "json": every line is one JSON object, and the
// events (start, listening, refusals, a connection's end, retention deletions, reload, stop) carry their fields as
// keys (README "Log fields").

#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/json_object.hpp"
#include "support/loopback.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using Object = std::map<std::string, JsonValue>;

// Every line of `log` parsed; a line that is not a flat JSON object fails the test.
std::vector<Object> parse_lines(const std::string& log) {
  std::vector<Object> objects;
  for (const std::string& line : lines_of(log)) {
    auto object = parse_flat_json_object(line);
    REQUIRE_MESSAGE(object.has_value(), "not a JSON object: ", line);
    CHECK(object->contains("time"));
    CHECK(object->contains("level"));
    CHECK(object->contains("message"));
    objects.push_back(std::move(*object));
  }
  return objects;
}

// The lines of event `name`.
std::vector<Object> events(const std::vector<Object>& objects, const std::string& name) {
  std::vector<Object> found;
  for (const Object& object : objects) {
    if (object.contains("event") && object.at("event").text == name) {
      found.push_back(object);
    }
  }
  return found;
}

TEST_CASE("structured log e2e: JSON lines carry each event's fields as keys") {
  TempDir dir;
  const fs::path config = dir / "zcrecv.toml";
  write_text(config, "log_format = \"json\"\n\n"
                     "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"open\"\n\n"
                     "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"closed\"\n"
                     "allow = [\"192.0.2.0/24\"]\n\n"
                     "[output]\ndirectory = \"" +
                         (dir / "out").string() +
                         "\"\nname = \"{seq}.bin\"\nmax_file_size = \"4KiB\"\n\n"
                         "[retention]\nmax_files = 1\n");
  Process daemon({zcrecv_binary(), "-c", config.string()});
  const net::SocketAddress open = listening_address(daemon.wait_for_stderr("(open)"));
  const net::SocketAddress closed = listening_address(daemon.wait_for_stderr("(closed)"));

  {
    auto refused = connect_blocking(closed);
    CHECK(closed_by_peer(refused));
  }
  daemon.wait_for_stderr("connection_refused");
  const std::vector<std::byte> data = random_bytes(3 * 4096, 7);
  Sender sender(connect_blocking(open), data);
  CHECK(sender.join().empty());
  daemon.wait_for_stderr(" files, ");
  daemon.wait_for_stderr_count("retention_delete", 2);
  daemon.signal(SIGHUP);
  daemon.wait_for_stderr("\"event\":\"reloaded\"");
  daemon.signal(SIGTERM);
  CHECK(daemon.wait() == 0);

  const std::vector<Object> objects = parse_lines(daemon.stderr_text());
  const std::vector<Object> started = events(objects, "started");
  REQUIRE(started.size() == 1);
  CHECK(started[0].at("workers").is_number());
  CHECK(started[0].at("directory").text == (dir / "out").string());

  const std::vector<Object> listening = events(objects, "listening");
  REQUIRE(listening.size() == 2);
  CHECK(listening[0].at("listener").text == "open");
  CHECK(listening[0].at("address").text.starts_with("127.0.0.1:"));
  CHECK(listening[1].at("listener").text == "closed");

  const std::vector<Object> refused = events(objects, "connection_refused");
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].at("level").text == "warning");
  CHECK(refused[0].at("listener").text == "closed");
  CHECK(refused[0].at("peer").text.starts_with("127.0.0.1:"));
  CHECK(refused[0].at("reason").text == "allow");
  CHECK(refused[0].at("suppressed").text == "0");

  const std::vector<Object> ended = events(objects, "connection_end");
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].at("level").text == "info");
  CHECK(ended[0].at("conn").text.size() > 0);
  CHECK(ended[0].at("listener").text == "open");
  CHECK(ended[0].at("peer").text.starts_with("127.0.0.1:"));
  CHECK(ended[0].at("bytes").text == "12288");
  CHECK(ended[0].at("files").text == "3");
  CHECK(ended[0].at("first_file").text == "000000.bin");
  CHECK(ended[0].at("last_file").text == "000002.bin");
  CHECK(ended[0].at("reason").text == "end_of_stream");
  CHECK(ended[0].at("data_path").text == "splice");
  CHECK(ended[0].at("seconds").is_number());
  CHECK(ended[0].at("mib_per_s").is_number());
  CHECK(ended[0].at("receipt").text.empty());

  const std::vector<Object> deleted = events(objects, "retention_delete");
  REQUIRE(deleted.size() == 2);
  CHECK(deleted[0].at("path").text == "000000.bin");
  CHECK(deleted[0].at("reason").text == "max_files");
  CHECK(deleted[0].at("bytes").text == "4096");
  CHECK(deleted[1].at("path").text == "000001.bin");

  const std::vector<Object> reloaded = events(objects, "reloaded");
  REQUIRE(reloaded.size() == 1);
  CHECK(reloaded[0].at("listeners").text == "2");
  CHECK(reloaded[0].at("opened").text == "0");
  CHECK(reloaded[0].at("closed").text == "0");

  const std::vector<Object> stopping = events(objects, "stopping");
  REQUIRE(stopping.size() == 1);
  CHECK(stopping[0].at("timeout_seconds").is_number());
  const std::vector<Object> stopped = events(objects, "stopped");
  REQUIRE(stopped.size() == 1);
  CHECK(stopped[0].at("exit_status").text == "0");
}

TEST_CASE("structured log e2e: the text format is unchanged, without keys") {
  TempDir dir;
  Process daemon({zcrecv_binary(), "-l", "127.0.0.1:0", "-o", (dir / "out").string()});
  const std::string line = daemon.wait_for_stderr("listening on 127.0.0.1:");
  // "2026-12-04T18:00:00.123456Z info: listening on 127.0.0.1:41234 (tcp-127.0.0.1-0)"
  CHECK(line.find("Z info: listening on 127.0.0.1:") != std::string::npos);
  CHECK(line.ends_with(" (tcp-127.0.0.1-0)"));
  CHECK(line.find('{') == std::string::npos);
  daemon.signal(SIGTERM);
  CHECK(daemon.wait() == 0);
}

}  // namespace
}  // namespace zcrecv::test
