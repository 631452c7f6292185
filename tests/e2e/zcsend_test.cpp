// The real zcsend binary against the real zcrecv (daemon with --receipt, --once --receipt) and
// against fake receivers on loopback that answer ERR, a wrong count, reset, close without a
// receipt or stay silent: zcsend must move on to the next --to, and fail with exit status 1
// when every attempt failed.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "send/fake_receiver.hpp"
#include "support/daemon_process.hpp"
#include "support/files.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using Answer = FakeReceiver::Answer;

std::string bytes_text(const std::vector<std::byte>& data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

// Writes `size` pseudo-random bytes into dir/name and returns them.
std::string make_input(const TempDir& dir, const std::string& name, std::size_t size) {
  std::string text = bytes_text(random_bytes(size, 900 + size));
  write_text(dir / name, text);
  return text;
}

struct Run {
  int status;
  std::string log;
};

// Runs zcsend with `args` (quick retries unless the test says otherwise), standard input from
// `stdin_path` if given.
Run zcsend(std::vector<std::string> args, const fs::path& stdin_path = {}) {
  std::vector<std::string> argv{ZCSEND_BINARY, "--backoff", "10ms", "--backoff-max", "50ms"};
  argv.insert(argv.end(), args.begin(), args.end());
  sys::UniqueFd in;
  Process::Options options;
  if (!stdin_path.empty()) {
    in = sys::UniqueFd(::open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(in.valid());
    options.stdin_fd = in.get();
  }
  Process process(argv, options);
  const int status = process.wait();
  return {status, process.stderr_text()};
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// The streams stored under `out`, as strings, sorted.
std::vector<std::string> stored(const fs::path& out) {
  std::vector<std::string> streams;
  for (const auto& [conn, stream] : reassemble(out)) {
    CHECK_FALSE(stream.incomplete);
    streams.push_back(bytes_text(stream.bytes));
  }
  std::sort(streams.begin(), streams.end());
  return streams;
}

TEST_CASE("zcsend: files and standard input into the zcrecv daemon with receipts, TCP and Unix") {
  TempDir dir;
  DaemonProcess daemon(dir, {"--receipt", "--max-file-size", "1MiB"});
  std::vector<std::string> expected{make_input(dir, "a", 3 * 1024 * 1024 + 7),
                                    make_input(dir, "b", 0), make_input(dir, "c", 1)};
  expected.push_back(make_input(dir, "stdin", 200'000));
  for (const std::string& to :
       {daemon.tcp().to_string(), "unix:" + (dir / "in.sock").string()}) {
    INFO(to);
    auto run = zcsend({"--to", to, "--remove", (dir / "a").string(), (dir / "b").string(),
                       (dir / "c").string(), "-"},
                      dir / "stdin");
    CHECK(run.status == 0);
    CHECK(contains(run.log, (dir / "a").string() + ": acknowledged by " + to + ": 3145735 bytes, 1 attempt, "));
    CHECK(contains(run.log, "-: acknowledged by " + to + ": 200000 bytes, 1 attempt, "));
    // --remove deleted the files, never standard input's.
    CHECK_FALSE(fs::exists(dir / "a"));
    CHECK(fs::exists(dir / "stdin"));
    for (const char* name : {"a", "b", "c"}) {
      write_text(dir / name, expected[static_cast<std::size_t>(name[0] - 'a')]);
    }
  }
  CHECK(daemon.stop() == 0);
  // The empty input leaves no file in the daemon (keep_empty is off): 3 streams per address.
  auto streams = stored(daemon.out());
  std::vector<std::string> want{expected[0], expected[2], expected[3],
                                expected[0], expected[2], expected[3]};
  std::sort(want.begin(), want.end());
  REQUIRE(streams.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("stream ", i, ": ", streams[i].size(), " bytes, expected ", want[i].size());
    CHECK(streams[i] == want[i]);
  }
}

TEST_CASE("zcsend: into zcrecv --once --receipt, with progress, one file byte-exact") {
  TempDir dir;
  const std::string data = make_input(dir, "input", 5 * 1024 * 1024 + 3);
  Process once({zcrecv_binary(), "--once", "--receipt", "-l", "127.0.0.1:0", "-o",
                (dir / "received.bin").string()});
  const auto address = listening_address(once.wait_for_stderr("listening on "));
  auto run = zcsend({"--progress", "--to", address.to_string(), (dir / "input").string()});
  CHECK(run.status == 0);
  CHECK(once.wait() == 0);
  CHECK(read_text(dir / "received.bin") == data);
  // The progress line's final figures, then the summary.
  CHECK(contains(run.log, "5.00 MiB"));
  CHECK(contains(run.log, ": acknowledged by " + address.to_string() + ": 5242883 bytes"));
}

TEST_CASE("zcsend: every kind of failure moves on to the next --to, and all failing is exit 1") {
  TempDir dir;
  const std::string data = make_input(dir, "spool", 300'000);
  FakeReceiver err({Answer::kErr});
  FakeReceiver wrong({Answer::kWrongCount});
  FakeReceiver reset({Answer::kReset});
  FakeReceiver closed({Answer::kCloseSilently});
  FakeReceiver silent({Answer::kSilent});
  FakeReceiver stranger({Answer::kNotAReceipt});
  auto run = zcsend({"--to", err.address(), "--to", wrong.address(), "--to", reset.address(),
                     "--to", closed.address(), "--to", silent.address(), "--to",
                     stranger.address(), "--attempts", "6", "--timeout", "500ms", "--remove",
                     (dir / "spool").string()});
  CHECK(run.status == 1);
  for (FakeReceiver* receiver : {&err, &wrong, &reset, &closed, &stranger}) {
    REQUIRE(receiver->connections() == 1);
    CHECK(receiver->received()[0] == data);
  }
  CHECK(silent.connections() == 1);
  const std::string spool = (dir / "spool").string();
  CHECK(contains(run.log, spool + ": attempt 1 of 6 to " + err.address() +
                              " failed after 300000 bytes: ERR 300000 disk_full"));
  CHECK(contains(run.log, "attempt 2 of 6 to " + wrong.address() +
                              " failed after 300000 bytes: OK 299999, but 300000 bytes were sent"));
  CHECK(contains(run.log, "attempt 3 of 6 to " + reset.address() +
                              " failed after 300000 bytes: connection reset"));
  CHECK(contains(run.log, "attempt 4 of 6 to " + closed.address() +
                              " failed after 300000 bytes: closed without a receipt"));
  CHECK(contains(run.log, "attempt 5 of 6 to " + silent.address() +
                              " failed after 300000 bytes: no receipt within --timeout (500ms)"));
  CHECK(contains(run.log, "attempt 6 of 6 to " + stranger.address()));
  CHECK(contains(run.log, spool + ": NOT acknowledged: 300000 bytes, 6 attempts, "));
  // --remove keeps what was not acknowledged.
  CHECK(read_text(dir / "spool") == data);
}

TEST_CASE("zcsend: a failed attempt is retried on the next address, which acknowledges it") {
  TempDir dir;
  const std::string first = make_input(dir, "first", 70'000);
  const std::string second = make_input(dir, "second", 80'000);
  FakeReceiver failing({Answer::kErr});
  FakeReceiver good({Answer::kOk});
  auto run = zcsend({"--to", failing.address(), "--to", good.address(), "--remove",
                     (dir / "first").string(), (dir / "second").string()});
  CHECK(run.status == 0);
  CHECK(contains(run.log, (dir / "first").string() + ": acknowledged by " + good.address() +
                              ": 70000 bytes, 2 attempts, "));
  // The second input starts where the first was acknowledged.
  CHECK(contains(run.log, (dir / "second").string() + ": acknowledged by " + good.address() +
                              ": 80000 bytes, 1 attempt, "));
  CHECK(failing.connections() == 1);
  CHECK(good.received() == std::vector<std::string>{first, second});
  CHECK_FALSE(fs::exists(dir / "first"));
  CHECK_FALSE(fs::exists(dir / "second"));
}

TEST_CASE("zcsend: one --to retried with backoff until it answers OK") {
  TempDir dir;
  make_input(dir, "input", 1000);
  FakeReceiver flaky({Answer::kReset, Answer::kCloseSilently, Answer::kOk});
  auto run = zcsend({"--to", flaky.address(), (dir / "input").string()});
  CHECK(run.status == 0);
  CHECK(flaky.connections() == 3);
  CHECK(contains(run.log, "1000 bytes, 3 attempts, "));
}

TEST_CASE("zcsend: standard input from a pipe is kept, and sent whole again after a reset") {
  const std::string data = bytes_text(random_bytes(3 * 1024 * 1024 + 5, 31));
  FakeReceiver flaky({Answer::kResetEarly, Answer::kOk});
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  sys::UniqueFd read_end(fds[0]);
  sys::UniqueFd write_end(fds[1]);
  Process process({ZCSEND_BINARY, "--backoff", "10ms", "--to", flaky.address()},
                  {.stdin_fd = read_end.get()});
  read_end.reset();
  for (std::size_t done = 0; done < data.size();) {
    const ssize_t put = ::write(write_end.get(), data.data() + done, data.size() - done);
    REQUIRE(put > 0);
    done += static_cast<std::size_t>(put);
  }
  write_end.reset();
  CHECK(process.wait() == 0);
  REQUIRE(flaky.connections() == 2);
  CHECK(flaky.received()[1] == data);
  CHECK(contains(process.stderr_text(), "-: acknowledged by " + flaky.address() +
                                            ": 3145733 bytes, 2 attempts, "));
}

TEST_CASE("zcsend: an unreadable input is exit 3, the others are still sent") {
  TempDir dir;
  const std::string data = make_input(dir, "present", 4096);
  FakeReceiver good({Answer::kOk});
  auto run = zcsend({"--to", good.address(), (dir / "missing").string(),
                     (dir / "present").string()});
  CHECK(run.status == 3);
  CHECK(contains(run.log, (dir / "missing").string() + ": not sent: " +
                              (dir / "missing").string() + ": open: No such file or directory"));
  CHECK(good.received() == std::vector<std::string>{data});
}

TEST_CASE("zcsend: bad options are exit 2, every one named, nothing sent") {
  FakeReceiver receiver({Answer::kOk});
  auto run = zcsend({"--to", receiver.address(), "--to", "host-without-port", "--attempts",
                     "many", "--timeout", "-1s", "--log-level", "loud", "/dev/null"});
  CHECK(run.status == 2);
  CHECK(contains(run.log, "--to: listen address \"host-without-port\""));
  CHECK(contains(run.log, "--attempts: expected a whole number from 1 to 1000, got \"many\""));
  CHECK(contains(run.log, "--timeout: expected a duration"));
  CHECK(contains(run.log, "--log-level: expected trace, debug, info, warn or error"));
  CHECK(receiver.connections() == 0);
  auto none = zcsend({"/dev/null"});
  CHECK(none.status == 2);
  CHECK(contains(none.log, "--to: at least one address to send to is required"));
}

}  // namespace
}  // namespace zcrecv::test
