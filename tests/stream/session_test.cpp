#include "stream/session.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/pipe.hpp"
#include "output/name_template.hpp"
#include "output/output_directory.hpp"
#include "output/rotating_file.hpp"
#include "stream/rotating_sink.hpp"
#include "support/loop_thread.hpp"
#include "support/poll_until.hpp"
#include "support/socket_pair.hpp"
#include "support/stream_files.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::stream {
namespace {

using test::TempDir;

std::span<const std::byte> bytes_of(const std::string& text) {
  return std::as_bytes(std::span(text));
}

// A session on its own loop thread, into "{conn}-{seq}.bin" files of `max_file_size` under
// dir/out, with what its owner is told recorded for the test.
class SessionFixture final : public SessionOwner {
 public:
  SessionFixture(const TempDir& dir, SessionSettings settings, std::uint64_t max_file_size)
      : directory_(std::move(output::OutputDirectory::open(dir / "out")).value()),
        pipe_(std::move(io::Pipe::create()).value()),
        buffer_(std::size_t{64} << 10),
        pump_(pipe_, buffer_) {
    auto pair = test::make_tcp_pair();
    sender_ = std::move(pair.sender);
    output::RotationSettings rotation;
    rotation.max_file_size = max_file_size;
    rotation.sync = output::SyncMode::kNone;
    auto sink = std::make_unique<RotatingSink>(output::RotatingFile(
        directory_, *output::NameTemplate::parse("{conn}-{seq}.bin"),
        output::ConnectionNames{"l", "p", "c0", "h", {}}, rotation));
    thread_.call([&] {
      session_ = std::make_unique<Session>(thread_.loop(), pump_, *this, settings,
                                           std::move(pair.receiver), std::move(sink),
                                           io::CopyMode::kAuto);
      REQUIRE(session_->start().ok());
    });
  }
  ~SessionFixture() override {
    thread_.call([&] { session_.reset(); });
  }

  const sys::UniqueFd& sender() const { return sender_; }
  void send(const std::string& text) const { test::write_all(sender_, bytes_of(text)); }
  void close_sending() const { REQUIRE(sys::shutdown(sender_.get(), SHUT_WR).ok()); }
  void wait_finished() const {
    test::poll_until([&] { return finished_.load(); }, "the session finished");
  }
  // Runs `task` with the session on its loop thread.
  template <class Task>
  void with_session(Task task) {
    thread_.call([&] { task(*session_); });
  }

  void record_split(bool /*first*/) override { ++splits_; }
  void ended(EndCause cause, std::uint64_t lost) override {
    cause_ = cause;
    lost_ = lost;
  }
  void finished() override { finished_ = true; }

  std::atomic<int> splits_{0};
  std::optional<EndCause> cause_;
  std::uint64_t lost_ = 0;

 private:
  output::OutputDirectory directory_;
  io::Pipe pipe_;
  std::vector<std::byte> buffer_;
  io::SplicePump pump_;
  sys::UniqueFd sender_;
  std::atomic<bool> finished_{false};
  test::LoopThread thread_;
  std::unique_ptr<Session> session_;
};

std::string text_of(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

TEST_CASE("Session: with a delimiter, size rotation ends each file just after a record") {
  TempDir dir;
  SessionSettings settings;
  settings.record_delimiter = std::byte{'\n'};
  settings.record_max = 16;
  std::string sent;
  {
    SessionFixture fixture(dir, settings, 40);
    // Records of 5 to 14 bytes: one always ends in a file's last 16 bytes.
    for (int i = 0; i < 60; ++i) {
      sent += std::string(4 + i % 10, static_cast<char>('a' + i % 26)) + "\n";
    }
    fixture.send(sent);
    fixture.close_sending();
    fixture.wait_finished();
    CHECK(fixture.cause_ == EndCause::kEndOfStream);
    CHECK(fixture.splits_ == 0);
  }
  auto stream = test::only_stream(dir / "out");
  CHECK(text_of(stream.bytes) == sent);
  REQUIRE(stream.sizes.size() > 5);
  for (std::size_t i = 0; i < stream.sizes.size(); ++i) {
    INFO("file ", i);
    CHECK(stream.sizes[i] <= 40);
    CHECK(text_of(stream.file(i)).ends_with("\n"));
    if (i + 1 < stream.sizes.size()) {
      CHECK(stream.sizes[i] > 40 - 16);
    }
  }
}

TEST_CASE("Session: a record longer than record_max is split at the size and reported") {
  TempDir dir;
  SessionSettings settings;
  settings.record_delimiter = std::byte{'\n'};
  settings.record_max = 8;
  const std::string sent = "ab\n" + std::string(50, 'x') + "\ncd\n";
  {
    SessionFixture fixture(dir, settings, 20);
    fixture.send(sent);
    fixture.close_sending();
    fixture.wait_finished();
    CHECK(fixture.splits_ >= 1);
  }
  auto stream = test::only_stream(dir / "out");
  CHECK(text_of(stream.bytes) == sent);
  CHECK(stream.sizes.front() == 20);
}

TEST_CASE("Session: a sender that stops exactly at max_bytes and closes later is complete") {
  TempDir dir;
  SessionSettings settings;
  settings.max_bytes = 10;
  SessionFixture fixture(dir, settings, 0);
  fixture.send("0123456789");
  // The limit is reached before the end of the stream arrives: the session waits for it.
  test::poll_until(
      [&] {
        std::uint64_t bytes = 0;
        fixture.with_session([&](Session& session) { bytes = session.bytes(); });
        return bytes == 10;
      },
      "the session read the 10 bytes");
  fixture.close_sending();
  fixture.wait_finished();
  CHECK(fixture.cause_ == EndCause::kEndOfStream);
}

TEST_CASE("Session: one byte past max_bytes cuts the stream, the limit's bytes kept") {
  TempDir dir;
  SessionSettings settings;
  settings.max_bytes = 10;
  {
    SessionFixture fixture(dir, settings, 0);
    fixture.send("0123456789");
    fixture.send("X");
    fixture.wait_finished();
    CHECK(fixture.cause_ == EndCause::kByteLimit);
    CHECK(fixture.lost_ == 0);
  }
  auto stream = test::only_stream(dir / "out");
  CHECK(stream.incomplete);
  CHECK(text_of(stream.bytes) == "0123456789");
}

}  // namespace
}  // namespace zcrecv::stream
