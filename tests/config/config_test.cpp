#include "config/config.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "net/cidr.hpp"
#include "net/listen_address.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::config {
namespace {

using namespace std::chrono_literals;

SourcedCidr cidr(std::string_view text) { return *make_cidr(text, Origin{}); }
SourcedAddress address(std::string_view text) { return *make_address(text, Origin{}); }

Config load(std::string_view toml, const Validators& validators = {}) {
  auto config = load_config_string(toml, "t.toml", validators);
  INFO((config.ok() ? std::string() : config.error().message()));
  REQUIRE(config.ok());
  return std::move(config).value();
}

std::string errors_of(std::string_view toml, const Validators& validators = {}) {
  auto config = load_config_string(toml, "t.toml", validators);
  REQUIRE_FALSE(config.ok());
  CHECK(config.error().errno_value() == 0);
  return config.error().message();
}

TEST_CASE("an empty file gives the embedded defaults") {
  const Config config = load("");
  CHECK(config == Config{});
  CHECK(config.log_level == LogLevel::kInfo);
  CHECK(config.log_format == LogFormat::kText);
  CHECK(config.workers == 0);
  REQUIRE(config.listeners.size() == 1);
  const ListenerConfig& listener = config.listeners[0];
  CHECK(listener.address.text == ":9000");
  CHECK(listener.address.value == net::ListenAddress{net::ListenAddress::Kind::kTcp, "", 9000, ""});
  CHECK(listener.name == "tcp-9000");
  CHECK(listener.allow.empty());
  CHECK_FALSE(listener.mode.has_value());
  CHECK_FALSE(listener.owner.has_value());
  CHECK_FALSE(listener.group.has_value());
  CHECK(listener.allow_uids.empty());
  CHECK_FALSE(listener.proxy_protocol);
  CHECK(listener.proxy_from.empty());
  CHECK(listener.proxy_timeout == 5s);
  CHECK(config.output.directory == "./zcrecv-data");
  CHECK(config.output.name.value == "{listener}/%Y-%m-%d/{time}-{peer}-{conn}-{seq}.bin");
  CHECK(config.output.max_file_size == 1024 * 1024 * 1024);
  CHECK(config.output.rotate_interval == 0s);
  CHECK(config.output.sync == SyncMode::kPublish);
  CHECK(config.output.sync_threads == 8);
  CHECK(config.output.writeback_bytes == 8 * 1024 * 1024);
  CHECK(config.output.file_mode == 0640);
  CHECK_FALSE(config.output.keep_empty);
  CHECK(config.limits.max_connections == 4096);
  CHECK(config.limits.max_connections_per_peer == 256);
  CHECK(config.limits.idle_timeout == 5min);
  CHECK(config.limits.max_connection_bytes == 0);
  CHECK(config.limits.shutdown_timeout == 30s);
  // "auto": min_free_space_for works it out from the filesystem.
  CHECK_FALSE(config.limits.min_free_space.has_value());
}

TEST_CASE("a file with every key sets every field and records where the parsed strings were") {
  const Config config = load(R"(log_level = "debug"
log_format = "json"
workers = 8

[[listen]]
address = "127.0.0.1:9001"
name = "ingest"
allow = ["10.0.0.0/8", "127.0.0.0/8"]
proxy_protocol = true
proxy_from = ["192.0.2.0/24"]
proxy_timeout = "3s"

[[listen]]
address = "unix:/run/zcrecv/x.sock"
mode = "0660"
owner = "root"
group = "root"
allow_uids = [0, 1000]
proxy_protocol = true
receipt = true

[output]
directory = "/srv/in"
name = "{listener}/{conn}-{seq}.bin"
max_file_size = "64MiB"
rotate_interval = "1h30m"
sync = "none"
sync_threads = 3
writeback_bytes = "0"
file_mode = "0600"
keep_empty = true

[limits]
max_connections = 100
max_connections_per_peer = 10
idle_timeout = "30s"
max_connection_bytes = "10G"
shutdown_timeout = "2m"
min_free_space = "1.5GiB"
)");
  CHECK(config.log_level == LogLevel::kDebug);
  CHECK(config.log_format == LogFormat::kJson);
  CHECK(config.workers == 8);
  REQUIRE(config.listeners.size() == 2);
  const ListenerConfig& tcp = config.listeners[0];
  CHECK(tcp.address.text == "127.0.0.1:9001");
  CHECK(tcp.address.value.port == 9001);
  CHECK(tcp.address.origin.where == "t.toml:6:11: listen[0].address");
  CHECK(tcp.name == "ingest");
  REQUIRE(tcp.allow.size() == 2);
  CHECK(tcp.allow[0].text == "10.0.0.0/8");
  CHECK(tcp.allow[0].value == *net::Cidr::parse("10.0.0.0/8"));
  CHECK(tcp.allow[1].text == "127.0.0.0/8");
  CHECK(tcp.allow[1].origin.where == "t.toml:8:24: listen[0].allow[1]");
  CHECK(tcp.proxy_protocol);
  REQUIRE(tcp.proxy_from.size() == 1);
  CHECK(tcp.proxy_from[0].text == "192.0.2.0/24");
  CHECK(tcp.proxy_from[0].origin.where == "t.toml:10:15: listen[0].proxy_from[0]");
  CHECK(tcp.proxy_timeout == 3s);
  const ListenerConfig& local = config.listeners[1];
  CHECK(local.address.text == "unix:/run/zcrecv/x.sock");
  CHECK(local.address.value.path == "/run/zcrecv/x.sock");
  CHECK(local.name == "unix-x.sock");
  CHECK(local.mode == 0660);
  CHECK(local.owner == 0U);
  CHECK(local.group == 0U);
  CHECK(local.allow_uids == std::vector<uid_t>{0, 1000});
  CHECK(local.proxy_protocol);
  CHECK(local.proxy_from.empty());
  CHECK(local.proxy_timeout == 5s);
  CHECK(local.receipt);
  CHECK_FALSE(tcp.receipt);
  CHECK(config.output.directory == "/srv/in");
  CHECK(config.output.name.value == "{listener}/{conn}-{seq}.bin");
  CHECK(config.output.name.origin.where == "t.toml:24:8: output.name");
  CHECK(config.output.max_file_size == 64 * 1024 * 1024);
  CHECK(config.output.rotate_interval == 90min);
  CHECK(config.output.sync == SyncMode::kNone);
  CHECK(config.output.sync_threads == 3);
  CHECK(config.output.writeback_bytes == 0);
  CHECK(config.output.file_mode == 0600);
  CHECK(config.output.keep_empty);
  CHECK(config.limits.max_connections == 100);
  CHECK(config.limits.max_connections_per_peer == 10);
  CHECK(config.limits.idle_timeout == 30s);
  CHECK(config.limits.max_connection_bytes == 10ULL * 1024 * 1024 * 1024);
  CHECK(config.limits.shutdown_timeout == 2min);
  CHECK(config.limits.min_free_space == 1536ULL * 1024 * 1024);
}

TEST_CASE("a [[listen]] without an address is refused, naming the table's address key") {
  const auto loaded = load_config_string("workers = 1\n[[listen]]\nname = \"main\"\n\n[[listen]]\n"
                                         "address = \":9001\"\n[[listen]]\nname = \"other\"\n",
                                         "t.toml", {});
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message() ==
        "t.toml:2:1: listen[0].address: expected an address like \":9000\" or "
        "\"unix:/run/x.sock\", got none (every [[listen]] table needs one)\n"
        "t.toml:7:1: listen[2].address: expected an address like \":9000\" or "
        "\"unix:/run/x.sock\", got none (every [[listen]] table needs one)");
}

TEST_CASE("owners and groups are names resolved at load time or numeric ids") {
  const Config config = load(R"([[listen]]
address = "unix:@zcrecv-test"
owner = "root"
group = "0"

[[listen]]
address = "/tmp/b.sock"
owner = 65534
group = "root"
)");
  REQUIRE(config.listeners.size() == 2);
  CHECK(config.listeners[0].name == "unix-zcrecv-test");
  CHECK(config.listeners[0].owner == 0U);
  CHECK(config.listeners[0].group == 0U);
  CHECK(config.listeners[1].name == "unix-b.sock");
  CHECK(config.listeners[1].owner == 65534U);
  CHECK(config.listeners[1].group == 0U);
}

TEST_CASE(
    "each kind of error names file, line, column, key, what was expected and what was found") {
  struct Case {
    std::string_view toml;
    std::string_view message;
  };
  const std::vector<Case> cases{
      {R"(workers = "four")", R"(t.toml:1:11: workers: expected an integer 0..1024, got "four")"},
      {"workers = 2000", "t.toml:1:11: workers: expected an integer 0..1024, got 2000"},
      {"workers = -1", "t.toml:1:11: workers: expected an integer 0..1024, got -1"},
      {"workers = 1.5", "t.toml:1:11: workers: expected an integer 0..1024, got 1.5"},
      {R"(log_level = "verbose")",
       R"(t.toml:1:13: log_level: expected one of "trace", "debug", "info", "warn", "error", got "verbose")"},
      {"log_format = 1", R"(t.toml:1:14: log_format: expected one of "text", "json", got 1)"},
      {"[output]\nsync = \"always\"",
       R"(t.toml:2:8: output.sync: expected one of "none", "publish", got "always")"},
      {"[output]\nsync_threads = 0",
       "t.toml:2:16: output.sync_threads: expected an integer 1..256, got 0"},
      {"[output]\nsync_threads = \"8\"",
       R"(t.toml:2:16: output.sync_threads: expected an integer 1..256, got "8")"},
      {"[output]\nwriteback_bytes = \"lots\"",
       R"(t.toml:2:19: output.writeback_bytes: expected a size like "64MiB" or "1G", got "lots")"},
      {"[output]\nmax_file_size = \"lots\"",
       R"(t.toml:2:17: output.max_file_size: expected a size like "64MiB" or "1G", got "lots")"},
      {"[output]\nmax_file_size = 1024",
       "t.toml:2:17: output.max_file_size: expected a string, got 1024"},
      {"[output]\nrotate_interval = \"5\"",
       R"(t.toml:2:19: output.rotate_interval: expected a duration like "30s", "5m" or "1h30m", got "5")"},
      {"[output]\nfile_mode = \"0999\"",
       R"(t.toml:2:13: output.file_mode: expected an octal mode like "0640", at most "07777", got "0999")"},
      {"[output]\nkeep_empty = \"yes\"",
       R"(t.toml:2:14: output.keep_empty: expected true or false, got "yes")"},
      {"[output]\ndirectory = \"\"",
       R"(t.toml:2:13: output.directory: expected a directory path, got "")"},
      {"[output]\ndirectory = [\"a\"]",
       "t.toml:2:13: output.directory: expected a string, got an array"},
      {"[output]\nname = \"\"", R"(t.toml:2:8: output.name: expected a name template, got "")"},
      {"output = 5", "t.toml:1:10: output: expected an [output] table, got 5"},
      {R"(limits = "x")", R"(t.toml:1:10: limits: expected a [limits] table, got "x")"},
      {"[limits]\nmax_connections = 0",
       "t.toml:2:19: limits.max_connections: expected an integer 1..4294967295, got 0"},
      {"[limits]\nmax_connections_per_peer = 4294967296",
       "t.toml:2:28: limits.max_connections_per_peer: expected an integer 1..4294967295, got "
       "4294967296"},
      {"[limits]\nidle_timeout = \"soon\"",
       R"(t.toml:2:16: limits.idle_timeout: expected a duration like "30s", "5m" or "1h30m", got "soon")"},
      {"[limits]\nmax_connection_bytes = \"-1\"",
       R"(t.toml:2:24: limits.max_connection_bytes: expected a size like "64MiB" or "1G", got "-1")"},
      {"[limits]\nshutdown_timeout = true",
       "t.toml:2:20: limits.shutdown_timeout: expected a string, got true"},
      {"[limits]\nmin_free_space = 1979-05-27",
       "t.toml:2:18: limits.min_free_space: expected a string, got a date"},
      {"[limits]\nmin_free_space = \"5%\"",
       R"(t.toml:2:18: limits.min_free_space: expected a size like "256MiB", "0" (no check) or "auto", got "5%")"},
      {"[limits]\nmin_free_space = \"Auto\"",
       R"(t.toml:2:18: limits.min_free_space: expected a size like "256MiB", "0" (no check) or "auto", got "Auto")"},
      {"listen = []",
       "t.toml:1:10: listen: expected at least one [[listen]] table, got an empty array"},
      {"[listen]\naddress = \":1\"",
       "t.toml:1:1: listen: expected at least one [[listen]] table, got a table"},
      {"listen = [1]", "t.toml:1:11: listen[0]: expected a [[listen]] table, got 1"},
      {"[[listen]]\naddress = 9000", "t.toml:2:11: listen[0].address: expected a string, got 9000"},
      {"[[listen]]\naddress = \":1\"\nreceipt = \"yes\"",
       R"(t.toml:3:11: listen[0].receipt: expected true or false, got "yes")"},
      {"[[listen]]\naddress = \":9000\"\nname = \"a/b\"",
       R"(t.toml:3:8: listen[0].name: expected a name of letters, digits, '.', '_' and '-' other than "." and "..", got "a/b")"},
      {"[[listen]]\naddress = \":9000\"\nname = \"..\"",
       R"(t.toml:3:8: listen[0].name: expected a name of letters, digits, '.', '_' and '-' other than "." and "..", got "..")"},
      {"[[listen]]\naddress = \":9000\"\nallow = []",
       "t.toml:3:9: listen[0].allow: expected an array of CIDRs (leave allow out to let everyone "
       "in), got an empty array"},
      {"[[listen]]\naddress = \":9000\"\nallow = \"10.0.0.0/8\"",
       R"(t.toml:3:9: listen[0].allow: expected an array of CIDRs (leave allow out to let everyone in), got "10.0.0.0/8")"},
      {"[[listen]]\naddress = \":9000\"\nallow = [1]",
       "t.toml:3:10: listen[0].allow[0]: expected a string, got 1"},
      {"[[listen]]\naddress = \":9000\"\nmode = \"0660\"",
       R"(t.toml:3:8: listen[0].mode: expected only in a unix [[listen]], got TCP address ":9000")"},
      {"[[listen]]\naddress = \"[::1]:1\"\nallow_uids = [0]",
       R"(t.toml:3:14: listen[0].allow_uids: expected only in a unix [[listen]], got TCP address "[::1]:1")"},
      {"[[listen]]\naddress = \"unix:/x.sock\"\nallow = [\"10.0.0.0/8\"]",
       R"(t.toml:3:9: listen[0].allow: expected only in a TCP [[listen]], got unix address "unix:/x.sock")"},
      {"[[listen]]\naddress = \"/x.sock\"\nmode = \"rw\"",
       R"(t.toml:3:8: listen[0].mode: expected an octal mode like "0640", at most "07777", got "rw")"},
      {"[[listen]]\naddress = \"/x.sock\"\nowner = \"no-such-user-zcrecv\"",
       R"(t.toml:3:9: listen[0].owner: expected an existing user name or a uid 0..4294967294, got "no-such-user-zcrecv")"},
      {"[[listen]]\naddress = \"/x.sock\"\nowner = \"4294967295\"",
       R"(t.toml:3:9: listen[0].owner: expected an existing user name or a uid 0..4294967294, got "4294967295")"},
      {"[[listen]]\naddress = \"/x.sock\"\ngroup = -1",
       "t.toml:3:9: listen[0].group: expected an existing group name or a gid 0..4294967294, got "
       "-1"},
      {"[[listen]]\naddress = \"/x.sock\"\ngroup = \"no-such-group-zcrecv\"",
       R"(t.toml:3:9: listen[0].group: expected an existing group name or a gid 0..4294967294, got "no-such-group-zcrecv")"},
      {"[[listen]]\naddress = \"/x.sock\"\nallow_uids = [0, -1]",
       "t.toml:3:18: listen[0].allow_uids[1]: expected an integer 0..4294967294, got -1"},
      {"[[listen]]\naddress = \"/x.sock\"\nallow_uids = []",
       "t.toml:3:14: listen[0].allow_uids: expected an array of uids (leave allow_uids out to let "
       "every uid in), got an empty array"},
      {"[[listen]]\naddress = \":9000\"\nproxy_protocol = 1",
       "t.toml:3:18: listen[0].proxy_protocol: expected true or false, got 1"},
      {"[[listen]]\naddress = \":9000\"\nproxy_protocol = true",
       "t.toml:3:18: listen[0].proxy_from: expected the CIDRs of the proxies that may send a "
       "PROXY header, required with proxy_protocol = true on a TCP listener, got none"},
      {"[[listen]]\naddress = \":9000\"\nproxy_protocol = true\nproxy_from = []",
       "t.toml:4:14: listen[0].proxy_from: expected an array of CIDRs, the proxies that may "
       "connect, got an empty array"},
      {"[[listen]]\naddress = \":9000\"\nproxy_protocol = true\nproxy_from = [\"10.0.0.0/8\"]\n"
       "proxy_timeout = \"0s\"",
       R"(t.toml:5:17: listen[0].proxy_timeout: expected a duration above 0, like "5s", got "0s")"},
      {"[[listen]]\naddress = \":9000\"\nproxy_protocol = true\nproxy_from = [\"10.0.0.0/8\"]\n"
       "proxy_timeout = 5",
       "t.toml:5:17: listen[0].proxy_timeout: expected a string, got 5"},
      {"[[listen]]\naddress = \":9000\"\nallow_proxy_local = true",
       "t.toml:3:21: listen[0].allow_proxy_local: expected only with proxy_protocol = true, got "
       "proxy_protocol = false"},
      {"[[listen]]\naddress = \"unix:/x.sock\"\nallow_proxy_local = true",
       R"(t.toml:3:21: listen[0].allow_proxy_local: expected only in a TCP [[listen]], got unix address "unix:/x.sock")"},
      {"[[listen]]\naddress = \":9000\"\nproxy_from = [\"10.0.0.0/8\"]",
       "t.toml:3:14: listen[0].proxy_from: expected only with proxy_protocol = true, got "
       "proxy_protocol = false"},
      {"[[listen]]\naddress = \":9000\"\nproxy_protocol = false\nproxy_timeout = \"9s\"",
       "t.toml:4:17: listen[0].proxy_timeout: expected only with proxy_protocol = true, got "
       "proxy_protocol = false"},
      {"[[listen]]\naddress = \"unix:/x.sock\"\nproxy_protocol = true\nproxy_from = [\"::1/128\"]",
       R"(t.toml:4:14: listen[0].proxy_from: expected only in a TCP [[listen]], got unix address "unix:/x.sock")"},
      {"[[listen]]\naddress = \":1\"\n[[listen]]\naddress = \":2\"\nname = \"tcp-1\"",
       R"(t.toml:5:8: listen[1].name: expected a name no other listener has, got "tcp-1", the name of listen[0] too)"},
      {"[[listen]]\naddress = \":9000\"\n[[listen]]\naddress = \":9000\"\n",
       R"(t.toml:3:1: listen[1].name: expected a name no other listener has, got "tcp-9000", the name of listen[0] too)"},
  };
  for (const Case& test : cases) {
    INFO(test.toml);
    CHECK(errors_of(test.toml) == test.message);
  }
}

TEST_CASE("a syntax error is toml++'s description with file, line and column") {
  CHECK(errors_of("workers = \n") ==
        R"(t.toml:1:11: Error while parsing key-value pair: expected value, saw '\n')");
  CHECK(errors_of("a = 1\na = 2\n") ==
        "t.toml:2:5: Error while parsing key-value pair: cannot redefine existing integer 'a'");
}

TEST_CASE("unknown keys are errors at every level") {
  CHECK(errors_of("wrkers = 1") ==
        "t.toml:1:1: wrkers: expected a key of the top level (log_level, log_format, workers, "
        R"(listen, output, limits, metrics, retention), got unknown key "wrkers")");
  CHECK(errors_of("[output]\nnmae = \"x\"") ==
        "t.toml:2:1: output.nmae: expected a key of [output] (directory, name, max_file_size, "
        "rotate_interval, sync, sync_threads, writeback_bytes, file_mode, keep_empty, on_publish, "
        "on_publish_concurrency, on_publish_timeout, on_publish_done, time_zone, record_delimiter, "
        R"(record_max), got unknown key "nmae")");
  CHECK(errors_of("[output.extra]\nx = 1") ==
        "t.toml:1:9: output.extra: expected a key of [output] (directory, name, max_file_size, "
        "rotate_interval, sync, sync_threads, writeback_bytes, file_mode, keep_empty, on_publish, "
        "on_publish_concurrency, on_publish_timeout, on_publish_done, time_zone, record_delimiter, "
        R"(record_max), got unknown key "extra")");
  CHECK(errors_of("[[listen]]\nadress = \":1\"") ==
        "t.toml:1:1: listen[0].address: expected an address like \":9000\" or "
        "\"unix:/run/x.sock\", got none (every [[listen]] table needs one)\n"
        "t.toml:2:1: listen[0].adress: expected a key of [[listen]] (address, name, allow, mode, "
        "owner, group, allow_uids, receipt, proxy_protocol, proxy_from, proxy_timeout, "
        "allow_proxy_local), got unknown key \"adress\"");
  CHECK(errors_of("[limits]\nmax_conns = 1") ==
        "t.toml:2:1: limits.max_conns: expected a key of [limits] (max_connections, "
        "max_connections_per_peer, idle_timeout, max_connection_bytes, shutdown_timeout, "
        R"(min_free_space, disk_full_timeout), got unknown key "max_conns")");
  CHECK(
      errors_of("[metrics]\naddress = \":9100\"") ==
      R"(t.toml:2:1: metrics.address: expected a key of [metrics] (listen), got unknown key "address")");
}

TEST_CASE("[metrics] listen is absent by default, read with its origin, and checked") {
  CHECK_FALSE(load("").metrics.listen.has_value());
  CHECK_FALSE(load("[metrics]\n").metrics.listen.has_value());
  const Config config = load("[metrics]\nlisten = \"127.0.0.1:9180\"\n");
  REQUIRE(config.metrics.listen.has_value());
  CHECK(config.metrics.listen->text == "127.0.0.1:9180");
  CHECK(config.metrics.listen->value.port == 9180);
  CHECK(config.metrics.listen->origin.where == "t.toml:2:10: metrics.listen");

  CHECK(errors_of("[metrics]\nlisten = \"nowhere\"\n") ==
        R"(t.toml:2:10: metrics.listen: listen address "nowhere": missing port (expected [HOST]:PORT, unix:PATH or unix:@NAME))");
  CHECK(errors_of("[metrics]\nlisten = 9180\n") ==
        "t.toml:2:10: metrics.listen: expected a string, got 9180");
  CHECK(errors_of("metrics = \"127.0.0.1:9180\"\n") ==
        R"(t.toml:1:11: metrics: expected a [metrics] table, got "127.0.0.1:9180")");
}

TEST_CASE("every error of a file is reported at once, in the order of the file") {
  CHECK(
      errors_of(R"(log_level = "loud"
workers = 5000
[[listen]]
address = "unix:/x.sock"
allow = ["1.2.3.4/32"]
typo = 1
[output]
max_file_size = "big"
[limits]
idle_timeout = "5"
)") ==
      R"(t.toml:1:13: log_level: expected one of "trace", "debug", "info", "warn", "error", got "loud"
t.toml:2:11: workers: expected an integer 0..1024, got 5000
t.toml:5:9: listen[0].allow: expected only in a TCP [[listen]], got unix address "unix:/x.sock"
t.toml:6:1: listen[0].typo: expected a key of [[listen]] (address, name, allow, mode, owner, group, allow_uids, receipt, proxy_protocol, proxy_from, proxy_timeout, allow_proxy_local), got unknown key "typo"
t.toml:8:17: output.max_file_size: expected a size like "64MiB" or "1G", got "big"
t.toml:10:16: limits.idle_timeout: expected a duration like "30s", "5m" or "1h30m", got "5")");
}

TEST_CASE("addresses and CIDRs are parsed at load, once, and the name template goes to its validator") {
  std::vector<std::string> seen;
  Validators validators;
  validators.name_template = [&seen](std::string_view name) -> std::optional<std::string> {
    seen.push_back(std::string(name));
    if (name == "{nope}") {
      return R"(name template "{nope}": unknown field {nope})";
    }
    return std::nullopt;
  };

  CHECK(errors_of(R"([[listen]]
address = "foo:99999"
allow = ["10.0.0.0/8", "10.0.0.0/33"]
[output]
name = "{nope}"
)",
                  validators) ==
        R"(t.toml:2:11: listen[0].address: listen address "foo:99999": port 99999 is out of range (0-65535)
t.toml:3:24: listen[0].allow[1]: CIDR "10.0.0.0/33": prefix length 33 is more than 32 (IPv4)
t.toml:5:8: output.name: name template "{nope}": unknown field {nope})");
  CHECK(seen == std::vector<std::string>{"{nope}"});

  seen.clear();
  const Config config = load(
      "[[listen]]\naddress = \"[::1]:7\"\nallow = [\"::1/128\"]\nproxy_protocol = true\n"
      "proxy_from = [\"fd00::/8\"]\n[output]\nname = \"{conn}\"\n",
      validators);
  CHECK(seen == std::vector<std::string>{"{conn}"});
  CHECK(config.listeners[0].address.text == "[::1]:7");
  CHECK(config.listeners[0].address.value == *net::parse_listen_address("[::1]:7"));
  CHECK(config.listeners[0].allow[0].value == *net::Cidr::parse("::1/128"));
  CHECK(config.listeners[0].proxy_from[0].value == *net::Cidr::parse("fd00::/8"));
  CHECK(config.output.name.value == "{conn}");
}

TEST_CASE("output.on_publish and its keys are read, each argument checked where it stands") {
  Validators validators;
  validators.hook_program = [](std::string_view text) -> std::optional<std::string> {
    return text.starts_with('/') ? std::nullopt : std::optional<std::string>("not absolute");
  };
  validators.hook_argument = [](std::string_view text) -> std::optional<std::string> {
    return text == "{nope}" ? std::optional<std::string>("unknown placeholder {nope}")
                            : std::nullopt;
  };
  const Config config = load(R"([output]
on_publish = ["/usr/local/bin/ship", "{path}", "--listener={listener}"]
on_publish_concurrency = 2
on_publish_timeout = "30s"
on_publish_done = "remove"
)",
                             validators);
  REQUIRE(config.output.on_publish.size() == 3);
  CHECK(config.output.on_publish[0].value == "/usr/local/bin/ship");
  CHECK(config.output.on_publish[2].value == "--listener={listener}");
  CHECK(config.output.on_publish[1].origin.where == "t.toml:2:38: output.on_publish[1]");
  CHECK(config.output.on_publish_concurrency == 2);
  CHECK(config.output.on_publish_timeout == 30s);
  CHECK(config.output.on_publish_done == OnPublishDone::kRemove);
  // An empty list is hand-off off, like no key at all.
  CHECK(load("[output]\non_publish = []\n").output.on_publish.empty());

  CHECK(errors_of(R"([output]
on_publish = ["ship", "{nope}", 3]
on_publish_concurrency = 0
on_publish_timeout = "0s"
on_publish_done = "delete"
)",
                  validators) ==
        "t.toml:2:15: output.on_publish[0]: not absolute\n"
        "t.toml:2:23: output.on_publish[1]: unknown placeholder {nope}\n"
        "t.toml:2:33: output.on_publish[2]: expected a string, got 3\n"
        "t.toml:3:26: output.on_publish_concurrency: expected an integer 1..1024, got 0\n"
        "t.toml:4:22: output.on_publish_timeout: expected a duration above 0, like \"5m\", got "
        "\"0s\"\n"
        "t.toml:5:19: output.on_publish_done: expected one of \"keep\", \"remove\", got "
        "\"delete\"");
  CHECK(errors_of("[output]\non_publish = \"/bin/ship {path}\"\n") ==
        "t.toml:2:14: output.on_publish: expected an array of strings, a program and its "
        "arguments, like [\"/usr/local/bin/ship\", \"{path}\"], got \"/bin/ship {path}\"");
  CHECK(errors_of("[output]\nfile_mode = \"0440\"\non_publish = [\"/bin/true\"]\n") ==
        "t.toml:2:13: output.file_mode: expected a mode with the owner's write bit (0200) when "
        "on_publish records hand-offs in each file's extended attributes, got \"0440\"");
  CHECK(load("[output]\nfile_mode = \"0440\"\n").output.file_mode == 0440);
  CHECK(errors_of("[output]\non_publish_timeout = \"soon\"\n")
            .starts_with("t.toml:2:22: output.on_publish_timeout: expected a duration"));
}

TEST_CASE("configurations compare by value: where a value came from does not count") {
  Config config;
  Config moved = config;
  moved.listeners[0].address.origin.where = "--listen";
  moved.output.name.origin.where = "--name";
  CHECK(moved == config);
  Config changed = config;
  changed.limits.min_free_space = 1;
  CHECK_FALSE(changed == config);
  changed = config;
  changed.listeners[0].allow.push_back(cidr("10.0.0.0/8"));
  CHECK_FALSE(changed == config);
}

TEST_CASE("to_toml writes the effective configuration") {
  CHECK(to_toml(Config{}) == R"(log_level = "info"
log_format = "text"
workers = 0

[[listen]]
address = ":9000"
name = "tcp-9000"
receipt = false
proxy_protocol = false

[output]
directory = "./zcrecv-data"
name = "{listener}/%Y-%m-%d/{time}-{peer}-{conn}-{seq}.bin"
max_file_size = "1GiB"
rotate_interval = "0s"
sync = "publish"
sync_threads = 8
writeback_bytes = "8MiB"
file_mode = "0640"
keep_empty = false
on_publish_concurrency = 4
on_publish_timeout = "5m"
on_publish_done = "keep"
time_zone = "UTC"
record_delimiter = ""
record_max = "64KiB"

[limits]
max_connections = 4096
max_connections_per_peer = 256
idle_timeout = "5m"
max_connection_bytes = "0"
shutdown_timeout = "30s"
min_free_space = "auto"
disk_full_timeout = "5s"

[retention]
max_bytes = "0"
max_files = 0
max_age = "0s"
check_interval = "1m"
)");
  auto defaults = load_config_string(to_toml(Config{}), "effective", {});
  REQUIRE(defaults.ok());
  CHECK(*defaults == Config{});
}

TEST_CASE("to_toml round trip: every field set away from its default loads back equal") {
  Config config;
  config.log_level = LogLevel::kWarn;
  config.log_format = LogFormat::kJson;
  config.workers = 3;
  ListenerConfig tcp;
  tcp.address = address("127.0.0.1:0");
  tcp.name = "a.b_c-d";
  tcp.allow = {cidr("10.0.0.0/8"), cidr("::1/128")};
  tcp.proxy_protocol = true;
  tcp.proxy_from = {cidr("192.0.2.7/32"), cidr("fd00::/8")};
  tcp.proxy_timeout = 2500ms;
  tcp.allow_proxy_local = true;
  ListenerConfig local;
  local.address = address("unix:/run/zcrecv/in.sock");
  local.name = "unix-in.sock";
  local.mode = 0660;
  local.owner = 65534;
  local.group = 0;
  local.allow_uids = {0, 1000};
  local.proxy_protocol = true;
  config.listeners = {tcp, local};
  config.output.directory = "/srv/a \"quoted\"\\dir\ttab";
  config.output.name.value = "{listener}/{seq}.bin";
  config.output.max_file_size = 1536;
  config.output.rotate_interval = 1500ms;
  config.output.sync = SyncMode::kNone;
  config.output.file_mode = 0600;
  config.output.keep_empty = true;
  config.output.on_publish = {SourcedString{"/usr/bin/rclone", Origin{}},
                              SourcedString{"copyto", Origin{}}, SourcedString{"{path}", Origin{}},
                              SourcedString{"s3:bucket/{name} \"{{x}}\"", Origin{}}};
  config.output.on_publish_concurrency = 1024;
  config.output.on_publish_timeout = 90s;
  config.output.on_publish_done = OnPublishDone::kRemove;
  config.output.record_delimiter = "\x1e";
  config.output.record_max = 512;
  config.limits.max_connections = 1;
  config.limits.max_connections_per_peer = 4294967295U;
  config.limits.idle_timeout = 0s;
  config.limits.max_connection_bytes = 5ULL * 1024 * 1024 * 1024 * 1024;
  config.limits.shutdown_timeout = 36h + 1ns;
  config.limits.min_free_space = 0;
  config.limits.disk_full_timeout = 0s;
  config.metrics.listen = address("unix:@zcrecv-metrics");
  config.output.time_zone = TimeZone::kLocal;
  config.retention.max_bytes = 3 * 1000 * 1000;
  config.retention.max_files = 12;
  config.retention.max_age = 90min;
  config.retention.check_interval = 1500ms;

  const std::string toml = to_toml(config);
  CAPTURE(toml);
  auto loaded = load_config_string(toml, "effective", {});
  if (!loaded.ok()) {
    FAIL(loaded.error().message());
  }
  CHECK(*loaded == config);
}

TEST_CASE("record_delimiter is one byte or none, record_max a size above 0") {
  auto loaded = load_config_string(
      "[output]\nrecord_delimiter = \"\\n\"\nrecord_max = \"4KiB\"\n[limits]\n"
      "disk_full_timeout = \"2s\"\n",
      "t.toml", {});
  REQUIRE(loaded.ok());
  CHECK(loaded->output.record_delimiter == "\n");
  CHECK(loaded->output.record_max == 4096);
  CHECK(loaded->limits.disk_full_timeout == 2s);
  auto two = load_config_string("[output]\nrecord_delimiter = \"ab\"\n", "t.toml", {});
  REQUIRE_FALSE(two.ok());
  CHECK(two.error().message().find("output.record_delimiter: expected one byte") !=
        std::string::npos);
  auto zero = load_config_string("[output]\nrecord_max = \"0\"\n", "t.toml", {});
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().message().find("output.record_max: expected a size above 0") !=
        std::string::npos);
}

TEST_CASE("the shipped config/zcrecv.toml loads and documents the service's defaults") {
  auto loaded = load_config_file(ZCRECV_SOURCE_DIR "/config/zcrecv.toml", {});
  if (!loaded.ok()) {
    FAIL(loaded.error().message());
  }
  Config expected;
  expected.output.directory = "/var/lib/zcrecv";
  CHECK(*loaded == expected);
}

TEST_CASE("load_config_file names the file in its errors") {
  test::TempDir dir;
  const std::string path = (dir / "zcrecv.toml").string();
  std::ofstream(path) << "workers = 2\n[output]\nsync = \"sometimes\"\n";
  auto bad = load_config_file(path, {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() ==
        path + R"(:3:8: output.sync: expected one of "none", "publish", got "sometimes")");

  std::ofstream(path) << "workers = 2\n";
  auto good = load_config_file(path, {});
  REQUIRE(good.ok());
  CHECK(good->workers == 2);

  auto missing = load_config_file((dir / "missing.toml").string(), {});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().errno_value() == ENOENT);
  CHECK(missing.error().message() ==
        "config file \"" + (dir / "missing.toml").string() + "\": open: No such file or directory");

  auto directory = load_config_file(dir.path().string(), {});
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.error().errno_value() == EISDIR);
  CHECK(directory.error().message() ==
        "config file \"" + dir.path().string() + "\": read: Is a directory");
}

TEST_CASE(
    "min_free_space is \"auto\" by default, a size when set, and auto fits small filesystems") {
  CHECK_FALSE(load("[limits]\nmin_free_space = \"auto\"").limits.min_free_space.has_value());
  CHECK(load("[limits]\nmin_free_space = \"0\"").limits.min_free_space == 0);
  CHECK(load("[limits]\nmin_free_space = \"1G\"").limits.min_free_space == 1ULL << 30);

  constexpr std::uint64_t kMiB = 1ULL << 20;
  // 5 % of 48 MiB, in whole KiB: a small filesystem takes data from its first byte.
  CHECK(min_free_space_for(std::nullopt, 48 * kMiB) == 2457 * 1024);
  // Past about 5 GiB, 5 % is more than 256 MiB: the cap.
  CHECK(min_free_space_for(std::nullopt, 5120 * kMiB) == 262143 * 1024);
  CHECK(min_free_space_for(std::nullopt, 6144 * kMiB) == 256 * kMiB);
  CHECK(min_free_space_for(std::nullopt, 1ULL << 40) == 256 * kMiB);
  CHECK(min_free_space_for(std::nullopt, 1000) == 0);
  // An explicit value wins, even above the filesystem's size; 0 is no floor.
  CHECK(min_free_space_for(512 * kMiB, 48 * kMiB) == 512 * kMiB);
  CHECK(min_free_space_for(0, 48 * kMiB) == 0);

  CHECK(describe_min_free_space(std::nullopt, 48 * kMiB) ==
        "2457KiB (auto: the smaller of 256MiB and 5 % of 48MiB)");
  CHECK(describe_min_free_space(64 * kMiB, 48 * kMiB) == "64MiB");
}

TEST_CASE("default_listener_name derives a file-name-safe name from the address") {
  CHECK(default_listener_name(":9000") == "tcp-9000");
  CHECK(default_listener_name("127.0.0.1:9000") == "tcp-127.0.0.1-9000");
  CHECK(default_listener_name("[::1]:9000") == "tcp-__1-9000");
  CHECK(default_listener_name("localhost:0") == "tcp-localhost-0");
  CHECK(default_listener_name("unix:/run/zcrecv/x.sock") == "unix-x.sock");
  CHECK(default_listener_name("/tmp/y.sock") == "unix-y.sock");
  CHECK(default_listener_name("unix:@name") == "unix-name");
  CHECK(default_listener_name("unix:rel.sock") == "unix-rel.sock");
  CHECK(default_listener_name("unix:/tmp/a b*c") == "unix-a_b_c");
}

TEST_CASE("enum spellings parse back, and only those") {
  for (const LogLevel level :
       {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    CHECK(parse_log_level(to_string(level)) == level);
  }
  CHECK(to_string(LogLevel::kWarn) == "warn");
  CHECK(parse_log_format("json") == LogFormat::kJson);
  CHECK(parse_log_format("text") == LogFormat::kText);
  CHECK(parse_sync_mode("none") == SyncMode::kNone);
  CHECK(parse_sync_mode("publish") == SyncMode::kPublish);
  CHECK_FALSE(parse_log_level("INFO").has_value());
  CHECK_FALSE(parse_log_level("warning").has_value());
  CHECK_FALSE(parse_log_format("").has_value());
  CHECK_FALSE(parse_sync_mode("fsync").has_value());
  // on_publish_done has no parse function of its own (the file reader uses kOnPublishDone):
  // "remove" read and "delete" refused are checked through a file above.
  CHECK(to_string(OnPublishDone::kKeep) == "keep");
  CHECK(to_string(OnPublishDone::kRemove) == "remove");
}

}  // namespace
}  // namespace zcrecv::config

namespace zcrecv::config {
namespace {

TEST_CASE("[retention] and output.time_zone: defaults off and UTC, values read, round trip") {
  const Config defaults = load("");
  CHECK_FALSE(defaults.retention.enabled());
  CHECK(defaults.retention.check_interval == std::chrono::minutes(1));
  CHECK(defaults.output.time_zone == TimeZone::kUtc);

  const Config config = load(
      "[output]\ntime_zone = \"local\"\n[retention]\nmax_bytes = \"10GiB\"\nmax_files = 500\n"
      "max_age = \"14d\"\ncheck_interval = \"30s\"\n");
  CHECK(config.output.time_zone == TimeZone::kLocal);
  CHECK(config.retention.enabled());
  CHECK(config.retention.max_bytes == std::uint64_t{10} << 30);
  CHECK(config.retention.max_files == 500);
  CHECK(config.retention.max_age == std::chrono::hours(24 * 14));
  CHECK(config.retention.check_interval == 30s);
  auto again = load_config_string(to_toml(config), "effective", {});
  REQUIRE(again.ok());
  CHECK(*again == config);

  // "0" and 0 are no limit.
  CHECK_FALSE(load("[retention]\nmax_bytes = \"0\"\nmax_files = 0\nmax_age = \"0\"\n")
                  .retention.enabled());
  CHECK(load("[retention]\nmax_files = 1\n").retention.enabled());
}

TEST_CASE("[retention] and output.time_zone: bad values are refused, naming the key") {
  CHECK(errors_of("[output]\ntime_zone = \"Europe/Paris\"\n") ==
        R"(t.toml:2:13: output.time_zone: expected one of "UTC", "local", got "Europe/Paris")");
  CHECK(errors_of("[retention]\nmax_bytes = \"lots\"\nmax_files = -1\nmax_age = 5\n"
                  "check_interval = \"0s\"\nmax_size = 1\n") ==
        "t.toml:2:13: retention.max_bytes: expected a size like \"64MiB\" or \"1G\", got "
        "\"lots\"\n"
        "t.toml:3:13: retention.max_files: expected an integer 0..9223372036854775807, got -1\n"
        "t.toml:4:11: retention.max_age: expected a string, got 5\n"
        "t.toml:5:18: retention.check_interval: expected a duration above 0, like \"1m\", got "
        "\"0s\"\n"
        "t.toml:6:1: retention.max_size: expected a key of [retention] (max_bytes, max_files, "
        "max_age, check_interval), got unknown key \"max_size\"");
  CHECK(errors_of("retention = 3\n") == "t.toml:1:13: retention: expected a [retention] table, got 3");
}

}  // namespace
}  // namespace zcrecv::config
