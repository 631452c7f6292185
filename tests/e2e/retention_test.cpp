// The real zcrecv binary with [retention]: files deleted by count, by bytes and by age (modification
// times set with utimensat, then the timer check), files whose hand-off is pending kept, the
// deletions in the log and the metrics, and a reload that changes the limits.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "handoff/handoff_record.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/loopback.hpp"
#include "support/poll_until.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::size_t kFileSize = 10 * 1024;
constexpr const char* kDeleted = "retention: deleted ";

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t found = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++found;
  }
  return found;
}

// A daemon on 127.0.0.1:0 writing "{seq}.bin" files of kFileSize bytes into dir/out, with a
// metrics endpoint, `retention` as its [retention] table and `output` added to [output].
class RetentionDaemon {
 public:
  RetentionDaemon(const TempDir& dir, const std::string& retention, const std::string& output = "")
      : out_(dir / "out"), config_(dir / "zcrecv.toml") {
    write(retention, output);
    process_.emplace(std::vector<std::string>{zcrecv_binary(), "-c", config_.string()});
    tcp_ = listening_address(process_->wait_for_stderr("listening on 127.0.0.1"));
    metrics_ = listening_address(process_->wait_for_stderr("metrics listening on "));
  }

  // Rewrites the configuration file (for a reload).
  void write(const std::string& retention, const std::string& output = "") const {
    write_text(config_, "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"in\"\n\n"
                        "[output]\ndirectory = \"" +
                            out_.string() +
                            "\"\nname = \"{seq}.bin\"\nmax_file_size = \"" +
                            std::to_string(kFileSize) + "\"\nsync = \"none\"\n" + output +
                            "\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[retention]\n" + retention);
  }

  // Sends `files` files' worth of bytes on one connection and waits for its end line.
  void send_files(std::size_t files) {
    const std::vector<std::byte> data = random_bytes(files * kFileSize, files);
    Sender sender(connect_blocking(tcp_), data);
    CHECK(sender.join().empty());
    ++connections_;
    process_->wait_for_stderr_count(" files, ", connections_);
  }

  // The value of the sample `series` on the metrics endpoint.
  double metric(const std::string& series) {
    const HttpReply reply = http_request(metrics_, "/metrics");
    REQUIRE(reply.status == 200);
    const std::size_t at = reply.body.find("\n" + series + " ");
    REQUIRE_MESSAGE(at != std::string::npos, series);
    return std::stod(reply.body.substr(at + series.size() + 2));
  }

  // Waits until `series` shows `expected`: the counters move just after the files do.
  void wait_for_metric(const std::string& series, double expected) {
    poll_until([&] { return metric(series) == expected; },
               series + " = " + std::to_string(expected));
  }

  void wait_for_files(std::size_t files) {
    poll_until([&] { return list_files(out_).size() == files; },
               std::to_string(files) + " files left in " + out_.string());
  }

  Process& process() { return *process_; }
  // SIGTERM, then the exit status.
  int stop() {
    process_->signal(SIGTERM);
    return process_->wait();
  }
  [[nodiscard]] const fs::path& out() const { return out_; }

 private:
  fs::path out_;
  fs::path config_;
  std::optional<Process> process_;
  net::SocketAddress tcp_;
  net::SocketAddress metrics_;
  std::size_t connections_ = 0;
};

std::vector<std::string> sorted_files(const fs::path& out) {
  std::vector<std::string> files = list_files(out);
  std::sort(files.begin(), files.end());
  return files;
}

// Sets the modification time of `path` to `age` ago.
void age_file(const fs::path& path, std::chrono::seconds age) {
  const auto then = std::chrono::system_clock::now() - age;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(then.time_since_epoch());
  const timespec times[2] = {{seconds.count(), 0}, {seconds.count(), 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

TEST_CASE("retention e2e: max_files keeps the newest files, logs and counts each deletion") {
  TempDir dir;
  RetentionDaemon daemon(dir, "max_files = 3\ncheck_interval = \"1h\"\n");
  daemon.send_files(10);
  // Deleted at publish time: the hour-long timer plays no part.
  daemon.wait_for_files(3);
  CHECK(sorted_files(daemon.out()) ==
        std::vector<std::string>{"000007.bin", "000008.bin", "000009.bin"});
  daemon.process().wait_for_stderr_count(kDeleted, 7);
  const std::string log = daemon.process().stderr_text();
  for (int seq = 0; seq < 7; ++seq) {
    CHECK(count(log, "retention: deleted 00000" + std::to_string(seq) + ".bin (10240 bytes): "
                     "max_files") == 1);
  }
  CHECK(daemon.metric(R"(zcrecv_retention_deleted_files_total{reason="max_files"})") == 7);
  CHECK(daemon.metric(R"(zcrecv_retention_deleted_bytes_total{reason="max_files"})") ==
        7 * kFileSize);
  CHECK(daemon.metric(R"(zcrecv_retention_deleted_files_total{reason="max_bytes"})") == 0);
  daemon.wait_for_metric("zcrecv_retention_files", 3);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("retention e2e: max_bytes keeps what fits, files there at start included") {
  TempDir dir;
  // Files of an earlier run, older than anything published now: they go first.
  fs::create_directories(dir / "out/old");
  write_text(dir / "out/old/a.bin", std::string(kFileSize, 'a'));
  write_text(dir / "out/old/b.bin", std::string(kFileSize, 'b'));
  age_file(dir / "out/old/a.bin", 2h);
  age_file(dir / "out/old/b.bin", 1h);
  // A dot-file (what partial files are) is never retention's, whatever its size or age.
  write_text(dir / "out/.c.bin", std::string(5 * kFileSize, 'c'));
  age_file(dir / "out/.c.bin", 3h);

  RetentionDaemon daemon(dir, "max_bytes = \"25KiB\"\n");
  daemon.send_files(3);
  daemon.process().wait_for_stderr_count(kDeleted, 3);
  CHECK(sorted_files(daemon.out()) ==
        std::vector<std::string>{".c.bin", "000001.bin", "000002.bin"});
  const std::string log = daemon.process().stderr_text();
  CHECK(log.find("retention: deleted old/a.bin (10240 bytes): max_bytes") <
        log.find("retention: deleted old/b.bin (10240 bytes): max_bytes"));
  CHECK(log.find("retention: deleted 000000.bin (10240 bytes): max_bytes") != std::string::npos);
  CHECK(daemon.metric(R"(zcrecv_retention_deleted_files_total{reason="max_bytes"})") == 3);
  daemon.wait_for_metric("zcrecv_retention_bytes", 2 * kFileSize);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("retention e2e: max_age deletes files whose modification time is too old, on the timer") {
  TempDir dir;
  RetentionDaemon daemon(dir, "max_age = \"1h\"\ncheck_interval = \"200ms\"\n");
  daemon.send_files(4);
  daemon.wait_for_files(4);
  age_file(daemon.out() / "000000.bin", 2h);
  age_file(daemon.out() / "000002.bin", 90min);
  age_file(daemon.out() / "000003.bin", 30min);
  daemon.wait_for_files(2);
  CHECK(sorted_files(daemon.out()) == std::vector<std::string>{"000001.bin", "000003.bin"});
  daemon.process().wait_for_stderr_count(kDeleted, 2);
  CHECK(daemon.metric(R"(zcrecv_retention_deleted_files_total{reason="max_age"})") == 2);
  const std::string log = daemon.process().stderr_text();
  CHECK(count(log, kDeleted) == 2);
  CHECK(log.find("retention: deleted 000000.bin (10240 bytes): max_age") != std::string::npos);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("retention e2e: a file whose hand-off is pending is kept, and counts") {
  TempDir dir;
  if (skipped_because(!handoff::check_user_xattrs(
                          sys::open(dir.path().c_str(), O_DIRECTORY | O_RDONLY)->get()),
                      "the temporary directory's filesystem takes no user extended attributes")) {
    return;
  }
  // The hook succeeds for odd {seq} and fails for even ones, which stay pending.
  const fs::path hook = dir / "hook.sh";
  write_text(hook, "#!/bin/sh\ncase \"$1\" in *[13579].bin) exit 0 ;; *) exit 1 ;; esac\n");
  fs::permissions(hook, fs::perms::owner_all);
  RetentionDaemon daemon(dir, "max_files = 2\ncheck_interval = \"200ms\"\n",
                         "on_publish = [\"" + hook.string() + "\", \"{name}\"]\n");
  daemon.send_files(6);
  // 0, 2 and 4 are pending and count: 1, 3 and 5 must all go, once their hooks are done.
  daemon.wait_for_files(3);
  CHECK(sorted_files(daemon.out()) ==
        std::vector<std::string>{"000000.bin", "000002.bin", "000004.bin"});
  for (const std::string& name : sorted_files(daemon.out())) {
    auto file = sys::open((daemon.out() / name).c_str(), O_RDONLY);
    REQUIRE(file.ok());
    auto record = handoff::read_record(file->get());
    REQUIRE(record.ok());
    REQUIRE(record->has_value());
    CHECK((*record)->state == handoff::HandoffState::kPending);
  }
  daemon.wait_for_metric(R"(zcrecv_retention_deleted_files_total{reason="max_files"})", 3);
  daemon.wait_for_metric("zcrecv_retention_held_files", 3);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("retention e2e: a reload applies new limits at once, and no limit deletes nothing") {
  TempDir dir;
  RetentionDaemon daemon(dir, "");
  daemon.send_files(5);
  daemon.wait_for_files(5);
  daemon.write("max_files = 2\ncheck_interval = \"1h\"\n");
  daemon.process().signal(SIGHUP);
  daemon.wait_for_files(2);
  CHECK(sorted_files(daemon.out()) == std::vector<std::string>{"000003.bin", "000004.bin"});
  daemon.process().wait_for_stderr("retention: max_bytes 0, max_files 2, max_age 0s");
  // Switched off again: the next files all stay.
  daemon.write("max_files = 0\n");
  daemon.process().signal(SIGHUP);
  daemon.process().wait_for_stderr("retention: off");
  daemon.process().wait_for_stderr_count("configuration reloaded", 2);
  daemon.send_files(3);
  CHECK(list_files(daemon.out()).size() == 2 + 3);
  CHECK(count(daemon.process().stderr_text(), kDeleted) == 3);
  CHECK(daemon.stop() == 0);
}

}  // namespace
}  // namespace zcrecv::test
