// The real zcrecv binary fed bad command lines and bad configuration files: each is refused at
// start with exit status 2 and a line naming the input and the bad value; the same files sent
// to a running daemon with SIGHUP are refused and the old configuration keeps serving.

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;

// A refused input must exit at once; a wrongly accepted one would run as a daemon.
constexpr std::chrono::seconds kExitTimeout{10};

// One bad command line or configuration file and what its error line must name: the option
// or key, and the bad value, on the same line.
struct BadInput {
  std::vector<std::string> args;
  std::string toml;
  std::string key;
  std::string value;
};

// The options `zcrecv --help` shows with a value (`-l,--listen ADDR`): {short or "", long}.
std::vector<std::pair<std::string, std::string>> valued_options() {
  Process help({zcrecv_binary(), "--help"});
  REQUIRE(help.wait() == 0);
  std::vector<std::pair<std::string, std::string>> options;
  const std::regex option(R"(^\s+(?:(-\w),)?(--[a-z-]+) [A-Z]+\b)");
  for (const std::string& line : lines_of(help.stdout_text())) {
    std::smatch match;
    if (std::regex_search(line, match, option)) {
      options.emplace_back(match[1].str(), match[2].str());
    }
  }
  REQUIRE(options.size() > 10);
  return options;
}

// The keys of config/zcrecv.toml, set or commented out (`# key = value`).
std::set<std::string> shipped_keys() {
  std::set<std::string> keys;
  const std::regex key(R"(^#?\s*([a-z_]+) =)");
  for (const std::string& line : lines_of(read_text(ZCRECV_SOURCE_DIR "/config/zcrecv.toml"))) {
    std::smatch match;
    if (std::regex_search(line, match, key)) {
      keys.insert(match[1].str());
    }
  }
  REQUIRE(keys.size() > 20);
  return keys;
}

std::string long_unix_path() { return "unix:/" + std::string(120, 'a'); }

std::vector<BadInput> bad_command_lines() {
  return {
      {{"--max-file-size", "lots"}, "", "--max-file-size", "\"lots\""},
      {{"--record-delimiter", "ab"}, "", "--record-delimiter", "\"ab\""},
      {{"--max-file-size=-5"}, "", "--max-file-size", "\"-5\""},
      {{"--max-file-size", "99999999999999999999"}, "", "below 16EiB", "\"99999999999999999999\""},
      {{"--max-file-size", "1.1k"}, "", "whole number of bytes", "\"1.1k\""},
      {{"--max-bytes", "12QB"}, "", "--max-bytes", "\"12QB\""},
      {{"--max-bytes", "1 KiBi"}, "", "--max-bytes", "\"1 KiBi\""},
      {{"--rotate-interval", "5"}, "", "--rotate-interval", "\"5\""},
      {{"--rotate-interval", "10x"}, "", "--rotate-interval", "\"10x\""},
      {{"--idle-timeout=-1s"}, "", "--idle-timeout", "\"-1s\""},
      {{"--idle-timeout", "999999999d"}, "", "--idle-timeout", "\"999999999d\""},
      {{"--max-connections", "0"}, "", "--max-connections", "\"0\""},
      {{"--max-connections", "4294967296"}, "", "--max-connections", "\"4294967296\""},
      {{"--max-connections", "ten"}, "", "--max-connections", "\"ten\""},
      {{"--workers", "1025"}, "", "--workers", "\"1025\""},
      {{"--workers=-1"}, "", "--workers", "\"-1\""},
      {{"-l", "127.0.0.1:99999"}, "", "listen address", "\"127.0.0.1:99999\""},
      {{"-l", "300.1.2.3:80"}, "", "listen address", "\"300.1.2.3:80\""},
      {{"-l", "::1:9000"}, "", "listen address", "\"::1:9000\""},
      {{"-l", "[zz]:1"}, "", "listen address", "\"[zz]:1\""},
      {{"-l", "unix:"}, "", "listen address", "\"unix:\""},
      {{"-l", long_unix_path()}, "", "listen address", "more than the 107"},
      {{"-l", "bad host!:80"}, "", "listen address", "\"bad host!:80\""},
      {{"--allow", "10.0.0.0/33"}, "", "CIDR", "\"10.0.0.0/33\""},
      {{"--allow", "10.0.0/8"}, "", "CIDR", "\"10.0.0/8\""},
      {{"--allow", "fe80::/129"}, "", "CIDR", "\"fe80::/129\""},
      {{"--name", "/abs/{seq}"}, "", "name template", "\"/abs/{seq}\""},
      {{"--name", "a/../{seq}"}, "", "name template", "\"a/../{seq}\""},
      {{"--name", "{nope}.bin"}, "", "name template", "\"{nope}.bin\""},
      {{"--name", "%e-{seq}"}, "", "name template", "\"%e-{seq}\""},
      {{"--name", "{seq}.part"}, "", "name template", "\"{seq}.part\""},
      {{"--name", ".{seq}"}, "", "name template", "\".{seq}\""},
      {{"--name", "a//{seq}"}, "", "name template", "\"a//{seq}\""},
      {{"--sync", "always"}, "", "--sync", "\"always\""},
      {{"--copy-mode", "fast"}, "", "copy", "\"fast\""},
      {{"--log-level", "loud"}, "", "--log-level", "\"loud\""},
      {{"--log-format", "xml"}, "", "--log-format", "\"xml\""},
      {{"--timeout", "1s"}, "", "--timeout", "--once and --stdin only"},
      {{"--progress"}, "", "--progress", "--once and --stdin only"},
      {{"--no-such-option"}, "", "--no-such-option", "--no-such-option"},
      {{"--metrics", "127.0.0.1:70001"}, "", "--metrics", "\"127.0.0.1:70001\""},
      {{"--metrics", "unix:"}, "", "--metrics", "listen address \"unix:\""},
      {{"-l", "127.0.0.1:19181", "--metrics", "127.0.0.1:19181"},
       "",
       "--metrics",
       "no [[listen]] entry takes, got \"127.0.0.1:19181\""},
      {{"--once", "--metrics", "127.0.0.1:0"}, "", "--metrics", "the daemon only"},
  };
}

// Every bad value below is unique in the table, so that the daemon test can find the line of
// each reload in the one daemon's log.
std::vector<BadInput> bad_config_files() {
  const std::string tcp = "[[listen]]\naddress = \"127.0.0.1:0\"\n";
  const std::string unix_socket = "[[listen]]\naddress = \"unix:@zcrecv-bad-input\"\n";
  return {
      {{}, "workers = \"four\"\n", "workers", "\"four\""},
      {{}, "workers = -3\n", "workers", "got -3"},
      {{}, "workers = 100000\n", "workers", "got 100000"},
      {{}, "workers = 1979-05-27\n", "workers", "got a date"},
      {{}, "log_level = \"loud\"\n", "log_level", "\"loud\""},
      {{}, "log_format = 7\n", "log_format", "got 7"},
      {{}, "colour = \"blue\"\n", "colour", "unknown key \"colour\""},
      {{}, "[limits]\nmax_connections = 0\n", "limits.max_connections", "got 0"},
      {{},
       "[limits]\nmax_connections = 99999999999\n",
       "limits.max_connections",
       "got 99999999999"},
      {{},
       "[limits]\nmax_connections_per_peer = 2.5\n",
       "limits.max_connections_per_peer",
       "got 2.5"},
      {{}, "[limits]\nidle_timeout = \"soon\"\n", "limits.idle_timeout", "\"soon\""},
      {{}, "[limits]\nshutdown_timeout = \"-1s\"\n", "limits.shutdown_timeout", "\"-1s\""},
      {{}, "[limits]\ndisk_full_timeout = \"-2s\"\n", "limits.disk_full_timeout", "\"-2s\""},
      {{}, "[output]\nrecord_delimiter = \"abc\"\n", "output.record_delimiter", "\"abc\""},
      {{}, "[output]\nrecord_max = \"0KiB\"\n", "output.record_max", "\"0KiB\""},
      {{}, "[output]\ntime_zone = \"mars\"\n", "output.time_zone", "\"mars\""},
      {{}, "[[listen]]\naddress = \"127.0.0.1:0\"\nproxy_protocol = true\nproxy_from = [\"127.0.0.1/32\"]\n"
       "allow_proxy_local = \"perhaps\"\n",
       "allow_proxy_local", "\"perhaps\""},
      {{}, "[retention]\nmax_bytes = \"heaps\"\n", "retention.max_bytes", "\"heaps\""},
      {{}, "[retention]\nmax_files = -123456\n", "retention.max_files", "-123456"},
      {{}, "[retention]\nmax_age = \"-3s\"\n", "retention.max_age", "\"-3s\""},
      {{}, "[retention]\ncheck_interval = \"0h\"\n", "retention.check_interval", "\"0h\""},
      {{}, "[limits]\nmax_connection_bytes = 1024\n", "limits.max_connection_bytes", "got 1024"},
      {{}, "[limits]\nmin_free_space = \"1.3k\"\n", "limits.min_free_space", "\"1.3k\""},
      {{}, "[limits]\nbacklog = 5\n", "limits.backlog", "unknown key \"backlog\""},
      {{},
       "[output]\nmax_file_size = \"18446744073709551616\"\n",
       "output.max_file_size",
       "\"18446744073709551616\""},
      {{}, "[output]\nmax_file_size = 1.5\n", "output.max_file_size", "got 1.5"},
      {{}, "[output]\nrotate_interval = \"7\"\n", "output.rotate_interval", "\"7\""},
      {{}, "[output]\nfile_mode = \"0999\"\n", "output.file_mode", "\"0999\""},
      {{}, "[output]\nfile_mode = \"rw-r--r--\"\n", "output.file_mode", "\"rw-r--r--\""},
      {{}, "[output]\nsync = true\n", "output.sync", "got true"},
      {{}, "[output]\nsync_threads = 257\n", "output.sync_threads", "got 257"},
      {{}, "[output]\nwriteback_bytes = \"8MiBs\"\n", "output.writeback_bytes", "\"8MiBs\""},
      {{}, "[output]\nkeep_empty = \"yes\"\n", "output.keep_empty", "\"yes\""},
      {{}, "[output]\nname = \"../{seq}\"\n", "output.name", "\"../{seq}\""},
      {{}, "[output]\nname = \"/etc/{seq}\"\n", "output.name", "\"/etc/{seq}\""},
      {{}, "[output]\nname = \"{nope}-{seq}\"\n", "output.name", "{nope}"},
      {{}, "[output]\nname = \"x/.{seq}.incomplete\"\n", "output.name", "\"x/.{seq}.incomplete\""},
      {{}, "[output]\ndirectory = \"\"\n", "output.directory", "got \"\""},
      {{},
       "[output]\non_publish = \"/bin/true {path}\"\n",
       "output.on_publish",
       "\"/bin/true {path}\""},
      {{},
       "[output]\non_publish = [\"/bin/true\", \"{nada}\"]\n",
       "output.on_publish[1]",
       "{nada}"},
      {{},
       "[output]\non_publish = [\"/nonexistent/ship\"]\n",
       "output.on_publish[0]",
       "\"/nonexistent/ship\""},
      {{}, "[output]\non_publish = [\"bin/ship\"]\n", "output.on_publish[0]", "\"bin/ship\""},
      {{},
       "[output]\non_publish = [\"\"]\n",
       "output.on_publish[0]",
       "the program must not be empty"},
      {{},
       "[output]\non_publish_concurrency = 1025\n",
       "output.on_publish_concurrency",
       "got 1025"},
      {{},
       "[output]\non_publish_timeout = \"0s\"\n",
       "output.on_publish_timeout",
       "\"0s\""},
      {{},
       "[output]\non_publish_timeout = \"eventually\"\n",
       "output.on_publish_timeout",
       "\"eventually\""},
      {{}, "[output]\non_publish_done = \"delete\"\n", "output.on_publish_done", "\"delete\""},
      {{}, "output = 3\n", "output", "got 3"},
      {{}, "listen = \"x\"\n", "listen", "got \"x\""},
      {{}, "listen = []\n", "listen", "got an empty array"},
      {{},
       "[[listen]]\naddress = \"127.0.0.1:70000\"\n",
       "listen[0].address",
       "\"127.0.0.1:70000\""},
      {{}, "[[listen]]\naddress = \"::1:80\"\n", "listen[0].address", "\"::1:80\""},
      {{}, "[[listen]]\naddress = 9000\n", "listen[0].address", "got 9000"},
      {{}, "[[listen]]\nname = \"nowhere\"\n", "listen[0].address", "got none"},
      {{}, tcp + "allow = [\"10.0.0.0/40\"]\n", "listen[0].allow[0]", "\"10.0.0.0/40\""},
      {{}, tcp + "allow = [\"not-a-cidr\"]\n", "listen[0].allow[0]", "\"not-a-cidr\""},
      {{}, tcp + "allow = []\n", "listen[0].allow", "leave allow out"},
      {{}, tcp + "mode = \"0660\"\n", "listen[0].mode", "got TCP address \"127.0.0.1:0\""},
      {{}, tcp + "proxy_protocol = \"on\"\n", "listen[0].proxy_protocol", "\"on\""},
      {{}, tcp + "receipt = \"maybe\"\n", "listen[0].receipt", "\"maybe\""},
      {{}, tcp + "proxy_protocol = true\n", "listen[0].proxy_from", "required with proxy_protocol"},
      {{},
       tcp + "proxy_protocol = true\nproxy_from = []\n",
       "listen[0].proxy_from",
       "the proxies that may connect"},
      {{},
       tcp + "proxy_protocol = true\nproxy_from = [\"192.0.2.0/99\"]\n",
       "listen[0].proxy_from[0]",
       "\"192.0.2.0/99\""},
      {{},
       tcp + "proxy_from = [\"192.0.2.1/32\"]\n",
       "listen[0].proxy_from",
       "got proxy_protocol = false"},
      {{},
       tcp + "proxy_protocol = true\nproxy_from = [\"127.0.0.1/32\"]\nproxy_timeout = \"0ms\"\n",
       "listen[0].proxy_timeout",
       "\"0ms\""},
      {{},
       tcp + "proxy_protocol = true\nproxy_from = [\"127.0.0.1/32\"]\nproxy_timeout = \"anon\"\n",
       "listen[0].proxy_timeout",
       "\"anon\""},
      {{}, tcp + "name = \"../up\"\n", "listen[0].name", "\"../up\""},
      {{}, tcp + "name = \"twin\"\n" + tcp + "name = \"twin\"\n", "listen[1].name", "\"twin\""},
      {{}, unix_socket + "mode = \"0888\"\n", "listen[0].mode", "\"0888\""},
      {{},
       unix_socket + "owner = \"no-such-user-zcrecv\"\n",
       "listen[0].owner",
       "\"no-such-user-zcrecv\""},
      {{}, unix_socket + "group = -5\n", "listen[0].group", "got -5"},
      {{}, unix_socket + "allow_uids = [-7]\n", "listen[0].allow_uids[0]", "got -7"},
      {{}, unix_socket + "allow = [\"10.0.0.0/8\"]\n", "listen[0].allow", "got unix address"},
      {{},
       "[[listen]]\naddress = \"unix:@zcrecv-bad-proxy\"\nproxy_protocol = true\n"
       "proxy_from = [\"127.0.0.1/32\"]\n",
       "listen[0].proxy_from",
       "got unix address \"unix:@zcrecv-bad-proxy\""},
      {{}, "[metrics]\nlisten = \"127.0.0.1:65536\"\n", "metrics.listen", "\"127.0.0.1:65536\""},
      {{}, "[metrics]\nlisten = 9180\n", "metrics.listen", "got 9180"},
      {{}, "[metrics]\nport = 9180\n", "metrics.port", "unknown key \"port\""},
      {{}, "metrics = true\n", "metrics", "a [metrics] table, got true"},
      {{},
       "[[listen]]\naddress = \"127.0.0.1:19182\"\n\n[metrics]\nlisten = \":19182\"\n",
       "metrics.listen",
       "got \":19182\""},
      {{}, "workers = \n", "zcrecv.toml:1:", "key-value pair: expected value"},
      {{}, "workers = 1\nworkers = 2\n", "zcrecv.toml:2:", "redefine existing integer 'workers'"},
      {{}, "log_level = \"info\n", "zcrecv.toml:1:", "parsing string"},
      {{}, "[output\nname = \"x\"\n", "zcrecv.toml:1:", "parsing table header"},
      {{}, "workers = 0x\n", "zcrecv.toml:1:", "parsing hexadecimal integer"},
  };
}

std::string label(const BadInput& input) {
  std::string text = input.toml;
  for (const auto& arg : input.args) {
    text += (text.empty() ? "" : " ") + arg;
  }
  return text;
}

// The first line of `text` that holds `needle`, or "" if none does.
std::string line_with(const std::string& text, const std::string& needle) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(needle) != std::string::npos) {
      return line;
    }
  }
  return {};
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t found = 0;
  for (auto at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++found;
  }
  return found;
}

void check_refused(const std::vector<std::string>& argv, const BadInput& input) {
  INFO("input: ", label(input));
  Process zcrecv(argv);
  CHECK(zcrecv.wait(kExitTimeout) == 2);
  const std::string errors = zcrecv.stderr_text();
  const std::string line = line_with(errors, input.value);
  CHECK_MESSAGE(!line.empty(), errors);
  CHECK_MESSAGE(line.find(input.key) != std::string::npos, errors);
}

TEST_CASE("zcrecv refuses every bad command line with status 2, naming the option and value") {
  TempDir dir;
  // Valid listen and output settings first, so that a wrongly accepted line could only ever
  // listen on loopback and write below the temporary directory.
  const std::vector<std::string> base{zcrecv_binary(), "-l", "127.0.0.1:0", "-o",
                                      (dir / "out").string()};
  const auto cases = bad_command_lines();
  // Every option that takes a value has a bad one here, but --config and --out, which take any
  // path (what cannot be opened there is a runtime failure, exit 1).
  for (const auto& [short_name, long_name] : valued_options()) {
    if (long_name == "--config" || long_name == "--out") {
      continue;
    }
    const bool covered = std::any_of(cases.begin(), cases.end(), [&](const BadInput& input) {
      return std::any_of(input.args.begin(), input.args.end(), [&](const std::string& arg) {
        return arg == long_name || arg.starts_with(long_name + "=") ||
               (!short_name.empty() && arg == short_name);
      });
    });
    CHECK_MESSAGE(covered, long_name << " has no bad value in bad_command_lines()");
  }
  for (const BadInput& input : cases) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), input.args.begin(), input.args.end());
    check_refused(argv, input);
  }
  CHECK_FALSE(fs::exists(dir / "out"));
}

TEST_CASE("zcrecv refuses every bad configuration file with status 2, naming the key and value") {
  TempDir dir;
  const auto cases = bad_config_files();
  // Every key of the shipped configuration file has a bad value here.
  for (const std::string& key : shipped_keys()) {
    const bool covered = std::any_of(cases.begin(), cases.end(), [&](const BadInput& input) {
      return input.toml.starts_with(key + " =") ||
             input.toml.find("\n" + key + " =") != std::string::npos;
    });
    CHECK_MESSAGE(covered, key << " has no bad value in bad_config_files()");
  }
  const fs::path config = dir / "zcrecv.toml";
  for (const BadInput& input : cases) {
    write_text(config, input.toml);
    check_refused({zcrecv_binary(), "-c", config.string(), "-o", (dir / "out").string()}, input);
  }
  CHECK_FALSE(fs::exists(dir / "out"));
}

TEST_CASE("SIGHUP with each bad configuration file keeps the old one, which serves on") {
  TempDir dir;
  const fs::path config = dir / "zcrecv.toml";
  const fs::path out = dir / "out";
  const std::string good = "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"kept\"\n\n[output]\n" +
                           std::string("directory = \"") + out.string() +
                           "\"\nname = \"{listener}-{conn}-{seq}.bin\"\nsync = \"none\"\n";
  write_text(config, good);
  Process zcrecv({zcrecv_binary(), "-c", config.string()});
  const auto address = listening_address(zcrecv.wait_for_stderr("listening on 127.0.0.1"));

  const std::string refused = "reload failed, keeping the old configuration";
  std::size_t reloads = 0;
  for (const BadInput& input : bad_config_files()) {
    INFO("input: ", label(input));
    REQUIRE_MESSAGE(line_with(zcrecv.stderr_text(), input.value).empty(),
                    "the table's values must be unique for this test to find each reload");
    write_text(config, input.toml);
    zcrecv.signal(SIGHUP);
    ++reloads;
    const std::string line = zcrecv.wait_for_stderr(input.value);
    CHECK(line.find(input.key) != std::string::npos);
    CHECK(line.find("zcrecv.toml:") != std::string::npos);
    // The header is logged before the error lines it introduces.
    CHECK(count(zcrecv.stderr_text(), refused) == reloads);
  }
  CHECK(zcrecv.stderr_text().find("configuration reloaded") == std::string::npos);

  const auto data = random_bytes(300 * 1024 + 11, 61);
  Sender sender(connect_blocking(address), data);
  CHECK(sender.join().empty());
  zcrecv.wait_for_stderr(" files, ");
  zcrecv.signal(SIGTERM);
  CHECK(zcrecv.wait() == 0);
  const auto files = list_files(out);
  REQUIRE(files.size() == 1);
  CHECK(files.front().starts_with("kept-"));
  CHECK(read_file(out / files.front()) == data);
}

TEST_CASE("--check-config prints TOML that --check-config reads back to the same text") {
  TempDir dir;
  const fs::path first = dir / "first.toml";
  write_text(first, R"(log_level = "debug"
log_format = "json"
workers = 3

[[listen]]
address = "127.0.0.1:0"
name = "ingest"
allow = ["10.1.2.3/8", "::ffff:192.168.0.0/112", "2001:db8::/32"]
proxy_protocol = true
proxy_from = ["10.9.0.0/16", "fd00::/8"]
proxy_timeout = "90s"

[[listen]]
address = "unix:@zcrecv-check-config"
mode = "0660"
owner = 0
group = "root"
allow_uids = [0, 1000]
proxy_protocol = true

[output]
directory = "/var/lib/zcrecv"
name = "{listener}/%F/{time}-{peer}-{conn}-{seq}.bin"
max_file_size = "1.5GiB"
rotate_interval = "90m"
sync = "none"
file_mode = "600"
keep_empty = true
on_publish = ["/bin/sh", "-c", "echo \"$1\"", "hook", "{path} {{literal}}"]
on_publish_concurrency = 2
on_publish_timeout = "90s"
on_publish_done = "remove"

[limits]
max_connections = 10
max_connections_per_peer = 2
idle_timeout = "1.5s"
max_connection_bytes = "1000kB"
shutdown_timeout = "0"
min_free_space = "1G"
)");
  Process check({zcrecv_binary(), "--check-config", "-c", first.string()});
  REQUIRE(check.wait(kExitTimeout) == 0);
  const std::string printed = check.stdout_text();
  CHECK(printed.find("max_file_size = \"1536MiB\"") != std::string::npos);
  CHECK(printed.find("rotate_interval = \"1h30m\"") != std::string::npos);
  CHECK(printed.find("file_mode = \"0600\"") != std::string::npos);
  CHECK(printed.find("\"10.1.2.3/8\"") != std::string::npos);
  CHECK(printed.find("group = 0") != std::string::npos);
  CHECK(printed.find(
            R"(on_publish = ["/bin/sh", "-c", "echo \"$1\"", "hook", "{path} {{literal}}"])") !=
        std::string::npos);
  CHECK(printed.find("on_publish_timeout = \"1m30s\"") != std::string::npos);
  CHECK(printed.find("proxy_from = [\"10.9.0.0/16\", \"fd00::/8\"]\nproxy_timeout = \"1m30s\"") !=
        std::string::npos);

  const fs::path second = dir / "second.toml";
  write_text(second, printed);
  Process again({zcrecv_binary(), "--check-config", "-c", second.string()});
  REQUIRE(again.wait(kExitTimeout) == 0);
  CHECK(again.stdout_text() == printed);
}

}  // namespace
}  // namespace zcrecv::test
