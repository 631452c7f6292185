// The real zcrecv binary with [output] on_publish: a hook script that records its arguments and
// environment, failing, hanging and slow hooks, SIGKILL of the daemon with hooks running and a
// backlog, and a real shipper (rclone into a local WebDAV server started by the test).

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "handoff/handoff_record.hpp"
#include "support/daemon_process.hpp"
#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/skip.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::size_t kKiB = 1024;
// What the daemon logs when a hook succeeded, and when one failed.
constexpr const char* kSucceeded = ": exit 0 after ";
constexpr const char* kRetrying = ", retrying in ";

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (std::size_t at = line.find(separator); at != std::string::npos;
       at = line.find(separator, start)) {
    fields.push_back(line.substr(start, at - start));
    start = at + 1;
  }
  fields.push_back(line.substr(start));
  return fields;
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t found = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++found;
  }
  return found;
}

// An executable /bin/sh script at dir/NAME.
fs::path write_hook(const TempDir& dir, const std::string& name, const std::string& body) {
  const fs::path path = dir / name;
  write_text(path, "#!/bin/sh\n" + body);
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

// A hook that appends one line per run to `log`: its eight arguments, the eight ZCRECV_*
// variables and the time, '|'-separated; then runs `then`.
fs::path recording_hook(const TempDir& dir, const fs::path& log, const std::string& then = "") {
  return write_hook(dir, "record.sh",
                    "printf '%s\\n' \"$1|$2|$3|$4|$5|$6|$7|$8|$ZCRECV_PATH|$ZCRECV_NAME|"
                    "$ZCRECV_BYTES|$ZCRECV_LISTENER|$ZCRECV_PEER|$ZCRECV_CONN|$ZCRECV_SEQ|"
                    "$ZCRECV_COMPLETION|$(date +%s.%N)\" >> " +
                        log.string() + "\n" + then);
}

// A configuration file whose [output] runs `hook` with every placeholder, then `extra` keys.
fs::path hook_config(const TempDir& dir, const fs::path& hook, const std::string& extra = "") {
  const fs::path path = dir / "zcrecv.toml";
  write_text(path, "[output]\non_publish = [\"" + hook.string() +
                       "\", \"{path}\", \"{name}\", \"{bytes}\", \"{listener}\", \"{peer}\", "
                       "\"{conn}\", \"{seq}\", \"{completion}\"]\n" +
                       extra);
  return path;
}

// The hand-off state of `path`; std::nullopt without a record.
std::optional<handoff::HandoffState> handoff_state(const fs::path& path) {
  auto file = sys::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE_MESSAGE(file.ok(), path.string());
  auto record = handoff::read_record(file->get());
  REQUIRE(record.ok());
  return record->has_value() ? std::optional((*record)->state) : std::nullopt;
}

// The published files whose hook succeeded according to a daemon's log.
std::multiset<std::string> handed_off(const std::string& log) {
  std::multiset<std::string> paths;
  for (const std::string& line : lines_of(log)) {
    const auto at = line.find("on_publish /");
    const auto end = line.find(kSucceeded);
    if (at != std::string::npos && end != std::string::npos) {
      paths.insert(line.substr(at + 11, end - at - 11));
    }
  }
  return paths;
}

TEST_CASE("handoff e2e: every published file handed off exactly once, with its placeholders") {
  TempDir dir;
  const fs::path log = dir / "hook.log";
  const fs::path config = hook_config(dir, recording_hook(dir, log));
  DaemonProcess daemon(dir, {"-c", config.string(), "--max-file-size", "100KiB", "--sync", "none"});
  std::vector<std::vector<std::byte>> sent;
  std::vector<std::unique_ptr<Sender>> senders;
  for (std::size_t i = 0; i < 4; ++i) {
    // The last one is reset past its first file (over TCP: a Unix socket has no reset): its
    // second file is published ".incomplete".
    const auto& address = i % 2 == 0 || i == 3 ? daemon.tcp() : daemon.unix_socket();
    SenderOptions options;
    if (i == 3) {
      options.reset_after = 120 * kKiB;
    }
    sent.push_back(random_bytes(i == 3 ? 130 * kKiB + 3 : 250 * kKiB + i, 40 + i));
    senders.push_back(std::make_unique<Sender>(connect_blocking(address), sent[i], options));
  }
  for (auto& sender : senders) {
    CHECK(sender->join().empty());
  }
  daemon.wait_for_ended(4);
  const std::vector<std::string> files = list_files(daemon.out());
  REQUIRE(files.size() == 11);
  daemon.process().wait_for_stderr_count(kSucceeded, files.size());
  daemon.process().signal(SIGUSR2);
  const std::string statistics = daemon.process().wait_for_stderr("statistics:");
  CHECK(statistics.find("hooks started=" + std::to_string(files.size()) + " succeeded=" +
                        std::to_string(files.size()) + " failed=0 backlog=0") != std::string::npos);
  CHECK(daemon.stop() == 0);

  std::map<std::string, std::vector<std::string>> runs;
  for (const std::string& line : lines_of(read_text(log))) {
    const std::vector<std::string> fields = split(line, '|');
    REQUIRE(fields.size() == 17);
    runs[fields[1]] = fields;
  }
  CHECK(lines_of(read_text(log)).size() == files.size());
  REQUIRE(runs.size() == files.size());
  bool saw_incomplete = false;
  for (const std::string& name : files) {
    INFO("file ", name);
    REQUIRE(runs.contains(name));
    const std::vector<std::string>& run = runs[name];
    const fs::path path = daemon.out() / name;
    CHECK(run[0] == path.string());
    CHECK(fs::path(run[0]).is_absolute());
    CHECK(run[2] == std::to_string(fs::file_size(path)));
    CHECK((run[3] == "tcp-127.0.0.1-0" || run[3] == "unix-in.sock"));
    if (run[3] == "unix-in.sock") {
      CHECK(run[4].starts_with("unix uid="));
    } else {
      CHECK(run[4].starts_with("127.0.0.1:"));
    }
    // Names are {conn}-{seq}.bin[.incomplete].
    CHECK(name.starts_with(run[5] + "-"));
    CHECK(name.substr(run[5].size() + 1, 6) == std::string(6 - run[6].size(), '0') + run[6]);
    const bool incomplete = name.ends_with(".incomplete");
    saw_incomplete = saw_incomplete || incomplete;
    CHECK(run[7] == (incomplete ? "incomplete" : "complete"));
    // The environment says the same.
    for (std::size_t i = 0; i < 8; ++i) {
      CHECK(run[8 + i] == run[i]);
    }
    CHECK(handoff_state(path) == handoff::HandoffState::kDone);
  }
  CHECK(saw_incomplete);
}

TEST_CASE("handoff e2e: on_publish_done = remove removes a file after its hook succeeded only") {
  TempDir dir;
  const fs::path hook = write_hook(
      dir, "ship.sh", "case \"$2\" in *-000001.bin) echo \"no room for $2\" >&2; exit 1;; esac\n");
  const fs::path config = hook_config(dir, hook, "on_publish_done = \"remove\"\n");
  DaemonProcess daemon(dir, {"-c", config.string(), "--max-file-size", "100KiB"});
  const auto data = random_bytes(250 * kKiB, 50);
  Sender sender(connect_blocking(daemon.tcp()), data);
  CHECK(sender.join().empty());
  daemon.wait_for_ended(1);
  daemon.process().wait_for_stderr_count(kSucceeded, 2);
  const std::string failure = daemon.process().wait_for_stderr(kRetrying);
  CHECK(failure.find("-000001.bin: exit 1 after ") != std::string::npos);
  CHECK(failure.find("no room for ") != std::string::npos);
  CHECK(daemon.stop() == 0);
  const std::vector<std::string> left = list_files(daemon.out());
  REQUIRE(left.size() == 1);
  CHECK(left.front().ends_with("-000001.bin"));
  CHECK(handoff_state(daemon.out() / left.front()) == handoff::HandoffState::kPending);
  CHECK(read_file(daemon.out() / left.front()) ==
        std::vector<std::byte>(data.begin() + 100 * kKiB, data.begin() + 200 * kKiB));
}

TEST_CASE("handoff e2e: a hook that fails twice runs three times, with the backoff between") {
  TempDir dir;
  const fs::path log = dir / "hook.log";
  const fs::path count = dir / "count";
  const fs::path hook = recording_hook(
      dir, log,
      "n=$(cat " + count.string() + " 2>/dev/null || echo 0); n=$((n + 1)); echo $n > " +
          count.string() + "; [ $n -ge 3 ] || { echo \"upload failed ($n)\" >&2; exit 7; }\n");
  DaemonProcess daemon(dir, {"-c", hook_config(dir, hook).string()});
  const auto data = random_bytes(10 * kKiB, 51);
  Sender sender(connect_blocking(daemon.tcp()), data);
  CHECK(sender.join().empty());
  daemon.process().wait_for_stderr_count(kSucceeded, 1);
  const std::string stderr_text = daemon.process().stderr_text();
  CHECK(stderr_text.find("exit 7 after") != std::string::npos);
  CHECK(stderr_text.find("upload failed (1); failure 1, retrying in 1 s") != std::string::npos);
  CHECK(stderr_text.find("upload failed (2); failure 2, retrying in 2 s") != std::string::npos);
  CHECK(daemon.stop() == 0);
  const std::vector<std::string> runs = lines_of(read_text(log));
  REQUIRE(runs.size() == 3);
  std::vector<double> at;
  for (const std::string& run : runs) {
    at.push_back(std::stod(split(run, '|').back()));
    CHECK(split(run, '|')[1] == split(runs.front(), '|')[1]);
  }
  CHECK(at[1] - at[0] >= 1.0);
  CHECK(at[2] - at[1] >= 2.0);
  CHECK(handoff_state(daemon.out() / split(runs.front(), '|')[1]) == handoff::HandoffState::kDone);
}

TEST_CASE("handoff e2e: a hook that hangs is killed at on_publish_timeout and run again") {
  TempDir dir;
  const fs::path marker = dir / "hung-once";
  const fs::path hook = write_hook(
      dir, "hang.sh",
      "[ -e " + marker.string() + " ] && exit 0\ntouch " + marker.string() + "\nsleep 60\n");
  const fs::path config = hook_config(dir, hook, "on_publish_timeout = \"1s\"\n");
  DaemonProcess daemon(dir, {"-c", config.string()});
  const auto data = random_bytes(kKiB, 52);
  Sender sender(connect_blocking(daemon.tcp()), data);
  CHECK(sender.join().empty());
  const std::string killed = daemon.process().wait_for_stderr(kRetrying);
  // The SIGTERM ends the hook at 1 s; it is reaped after its group's SIGKILL, 5 s later.
  CHECK(killed.find("timed out, killed by SIGTERM after 6.") != std::string::npos);
  daemon.process().wait_for_stderr_count(kSucceeded, 1);
  CHECK(daemon.stop() == 0);
  const std::vector<std::string> files = list_files(daemon.out());
  REQUIRE(files.size() == 1);
  CHECK(handoff_state(daemon.out() / files.front()) == handoff::HandoffState::kDone);
}

TEST_CASE("handoff e2e: 50 streams finish in their own time while the hooks wait behind a gate") {
  TempDir dir;
  // Every hook waits until the test opens the gate: the streams can only all end first if they
  // do not wait for their hooks.
  const fs::path gate = dir / "gate";
  const fs::path hook =
      write_hook(dir, "gated.sh", "while [ ! -e '" + gate.string() + "' ]; do sleep 0.05; done\n");
  const fs::path config = hook_config(dir, hook, "on_publish_concurrency = 2\n");
  DaemonProcess daemon(dir, {"-c", config.string(), "--max-file-size", "256KiB", "--sync", "none"});
  constexpr std::size_t kStreams = 50;
  std::vector<std::vector<std::byte>> sent;
  for (std::size_t i = 0; i < kStreams; ++i) {
    sent.push_back(random_bytes(64 * kKiB + i * 7919, 300 + i));
  }
  std::vector<std::unique_ptr<Sender>> senders;
  for (std::size_t i = 0; i < kStreams; ++i) {
    const auto& address = i % 2 == 0 ? daemon.tcp() : daemon.unix_socket();
    senders.push_back(std::make_unique<Sender>(connect_blocking(address), sent[i]));
  }
  for (auto& sender : senders) {
    CHECK(sender->join().empty());
  }
  daemon.wait_for_ended(kStreams);
  CHECK(count(daemon.process().stderr_text(), kSucceeded) == 0);
  daemon.process().signal(SIGUSR2);
  const std::string statistics = daemon.process().wait_for_stderr("statistics:");
  CHECK(statistics.find(" failed=0 backlog=") != std::string::npos);
  CHECK(statistics.find(" backlog=0") == std::string::npos);

  // Open, the gate lets every queued hook run to success.
  write_text(gate, "");
  daemon.process().wait_for_stderr_count(kSucceeded, kStreams, 120s);
  CHECK(daemon.stop() == 0);

  const auto streams = reassemble(daemon.out());
  REQUIRE(streams.size() == kStreams);
  std::multiset<std::vector<std::byte>> expected(sent.begin(), sent.end());
  for (const auto& [conn, stream] : streams) {
    // A structured binding cannot be captured by INFO's lambda (clang refuses it).
    const std::string& id = conn;
    INFO("connection ", id);
    CHECK_FALSE(stream.incomplete);
    const auto found = expected.find(stream.bytes);
    REQUIRE(found != expected.end());
    expected.erase(found);
  }
}

TEST_CASE("handoff e2e: after SIGKILL with hooks running, a restart hands off the rest, once") {
  TempDir dir;
  const fs::path log = dir / "hook.log";
  const fs::path hook = recording_hook(dir, log, "sleep 0.3\n");
  const fs::path config = hook_config(dir, hook, "on_publish_concurrency = 1\n");
  std::set<std::string> done_before;
  {
    DaemonProcess daemon(dir, {"-c", config.string(), "--sync", "none"});
    for (std::size_t i = 0; i < 10; ++i) {
      const auto data = random_bytes(4 * kKiB, 60 + i);
      Sender sender(connect_blocking(daemon.tcp()), data);
      CHECK(sender.join().empty());
    }
    daemon.wait_for_ended(10);
    // A stream still open at the kill leaves a partial file, which recovery publishes.
    auto open_stream = connect_blocking(daemon.unix_socket());
    write_all(open_stream, random_bytes(3 * kKiB, 70));
    poll_until(
        [&] {
          for (const auto& entry : fs::directory_iterator(daemon.out())) {
            if (entry.path().filename().string().front() == '.' && entry.file_size() == 3 * kKiB) {
              return true;
            }
          }
          return false;
        },
        "the open stream's partial file holds its bytes");
    daemon.process().wait_for_stderr_count(kSucceeded, 3);
    daemon.process().signal(SIGKILL);
    // A hook that was running goes on, orphaned, but nothing marks its file done any more.
    CHECK(daemon.process().wait() == 128 + SIGKILL);
  }
  std::set<std::string> pending;
  for (const std::string& name : list_files(dir / "out")) {
    const fs::path path = dir / "out" / name;
    if (path.filename().string().front() == '.') {
      continue;
    }
    if (handoff_state(path) == handoff::HandoffState::kDone) {
      done_before.insert(path.string());
    } else {
      pending.insert(path.string());
    }
  }
  CHECK(done_before.size() >= 3);
  CHECK(done_before.size() + pending.size() == 10);

  DaemonProcess restarted(dir, {"-c", config.string(), "--sync", "none"});
  restarted.process().wait_for_stderr("recovered a partial file left by an unclean stop");
  // The recovered file is handed off too: 11 files in all.
  restarted.process().wait_for_stderr_count(kSucceeded, 11 - done_before.size());
  CHECK(restarted.stop() == 0);
  const std::multiset<std::string> after = handed_off(restarted.process().stderr_text());
  std::set<std::string> expected = pending;
  for (const std::string& name : list_files(dir / "out")) {
    if (name.ends_with(".incomplete")) {
      expected.insert((dir / "out" / name).string());
    }
  }
  CHECK(std::set<std::string>(after.begin(), after.end()) == expected);
  CHECK(after.size() == expected.size());
  for (const std::string& name : list_files(dir / "out")) {
    CHECK(handoff_state(dir / "out" / name) == handoff::HandoffState::kDone);
  }
  CHECK(list_files(dir / "out").size() == 11);
}

TEST_CASE("handoff e2e: a reload switches hooks on for the connections accepted afterwards") {
  TempDir dir;
  const fs::path log = dir / "hook.log";
  const fs::path hook = recording_hook(dir, log);
  const fs::path config = dir / "zcrecv.toml";
  write_text(config, "[output]\nsync = \"none\"\n");
  DaemonProcess daemon(dir, {"-c", config.string()});
  const auto before = random_bytes(5 * kKiB, 90);
  Sender first(connect_blocking(daemon.tcp()), before);
  CHECK(first.join().empty());
  daemon.wait_for_ended(1);
  const std::vector<std::string> unmarked = list_files(daemon.out());
  REQUIRE(unmarked.size() == 1);

  hook_config(dir, hook, "on_publish_concurrency = 1\n");
  daemon.process().signal(SIGHUP);
  CHECK(daemon.process()
            .wait_for_stderr("on_publish: \"" + hook.string())
            .find("(1 at once, timeout 5m, then keep); applies to the hooks started from now on") !=
        std::string::npos);
  daemon.process().wait_for_stderr("configuration reloaded");
  const auto after = random_bytes(6 * kKiB, 91);
  Sender second(connect_blocking(daemon.tcp()), after);
  CHECK(second.join().empty());
  daemon.wait_for_ended(2);
  daemon.process().wait_for_stderr_count(kSucceeded, 1);
  CHECK(daemon.stop() == 0);

  const std::vector<std::string> runs = lines_of(read_text(log));
  REQUIRE(runs.size() == 1);
  const std::string handed = split(runs.front(), '|')[1];
  CHECK(handed != unmarked.front());
  CHECK(read_file(daemon.out() / handed) == after);
  CHECK_FALSE(handoff_state(daemon.out() / unmarked.front()).has_value());
}

TEST_CASE("handoff e2e: on_publish on a filesystem without user xattrs is refused at start") {
  TempDir dir;
  // ramfs keeps no user extended attributes. Mounting needs root, as the tmpfs tests do.
  struct Ramfs {
    explicit Ramfs(const fs::path& at) : path(at) {
      fs::create_directory(path);
      mounted = ::mount("ramfs", path.c_str(), "ramfs", 0, nullptr) == 0;
    }
    Ramfs(const Ramfs&) = delete;
    Ramfs& operator=(const Ramfs&) = delete;
    ~Ramfs() {
      if (mounted) {
        ::umount2(path.c_str(), MNT_DETACH);
      }
    }
    fs::path path;
    bool mounted = false;
  } ramfs(dir / "ramfs");
  if (skipped_because(!ramfs.mounted,
                      "cannot mount a ramfs here; run the tests as root to cover this")) {
    return;
  }
  const fs::path config = dir / "zcrecv.toml";
  write_text(config, "[output]\non_publish = [\"/bin/true\", \"{path}\"]\n");
  const fs::path out = ramfs.path / "out";
  Process zcrecv({zcrecv_binary(), "-c", config.string(), "-l", "127.0.0.1:0", "-o", out.string()});
  CHECK(zcrecv.wait() == 2);
  const std::string line = zcrecv.wait_for_stderr("output.on_publish: ");
  CHECK(line.find("user extended attribute") != std::string::npos);
  CHECK(line.find("Operation not supported") != std::string::npos);
  CHECK(line.find(out.string()) != std::string::npos);
  CHECK(zcrecv.stderr_text().find("listening on") == std::string::npos);
}

TEST_CASE("handoff e2e: rclone copies every file to a local WebDAV remote, byte for byte") {
  REQUIRE_MESSAGE(fs::exists("/usr/bin/rclone"), "rclone is missing: run .ci/install-deps");
  TempDir dir;
  const fs::path remote = dir / "remote";
  fs::create_directory(remote);
  Process webdav({"rclone", "serve", "webdav", "--config", "/dev/null", "--addr", "127.0.0.1:0",
                  remote.string()});
  const std::string serving = webdav.wait_for_stderr("Server started on http://");
  const std::string url =
      serving.substr(serving.find("http://"), serving.rfind('/') - serving.find("http://"));
  const fs::path config = dir / "zcrecv.toml";
  write_text(config,
             "[output]\non_publish = [\"rclone\", \"copyto\", \"{path}\", \"dav:{name}\"]\n");
  DaemonProcess daemon(dir, {"-c", config.string(), "--max-file-size", "200KiB"},
                       {"env", "RCLONE_CONFIG=/dev/null", "RCLONE_CONFIG_DAV_TYPE=webdav",
                        "RCLONE_CONFIG_DAV_URL=" + url});
  std::vector<std::unique_ptr<Sender>> senders;
  std::vector<std::vector<std::byte>> sent;
  for (std::size_t i = 0; i < 3; ++i) {
    sent.push_back(random_bytes(450 * kKiB + i, 80 + i));
  }
  for (std::size_t i = 0; i < 3; ++i) {
    senders.push_back(std::make_unique<Sender>(connect_blocking(daemon.tcp()), sent[i]));
  }
  for (auto& sender : senders) {
    CHECK(sender->join().empty());
  }
  daemon.wait_for_ended(3);
  const std::vector<std::string> files = list_files(daemon.out());
  CHECK(files.size() == 9);
  daemon.process().wait_for_stderr_count(kSucceeded, files.size());
  CHECK(daemon.stop() == 0);
  CHECK(list_files(remote) == files);
  for (const std::string& name : files) {
    INFO("file ", name);
    CHECK(read_file(remote / name) == read_file(daemon.out() / name));
  }
  CHECK(reassemble(remote).size() == 3);
}

}  // namespace
}  // namespace zcrecv::test
