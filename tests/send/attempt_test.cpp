// One attempt of zcsend against receivers on loopback that answer every way a receiver can.

#include "send/attempt.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>

#include <chrono>
#include <string>

#include "net/listen_address.hpp"
#include "send/fake_receiver.hpp"
#include "support/files.hpp"
#include "support/random_bytes.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::send {
namespace {

using test::FakeReceiver;
using Answer = FakeReceiver::Answer;

struct Attempted {
  AttemptOutcome outcome;
  std::string sent;
};

// Sends `size` bytes from a file to a receiver answering `answer`.
Attempted attempt(Answer answer, std::size_t size,
                  std::chrono::nanoseconds timeout = std::chrono::seconds(10)) {
  test::TempDir dir;
  const auto data = test::random_bytes(size, 77 + size);
  const std::string text(reinterpret_cast<const char*>(data.data()), data.size());
  test::write_text(dir / "input", text);
  auto file = sys::open((dir / "input").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(file.ok());
  FakeReceiver receiver({answer});
  oneshot::ProgressMeter meter(false);
  Attempted result{send_attempt(*net::parse_listen_address(receiver.address()), file->get(),
                                size, timeout, meter),
                   text};
  if (answer != Answer::kSilent && answer != Answer::kResetEarly) {
    REQUIRE(receiver.received().size() == 1);
    CHECK(receiver.received()[0] == text);
  }
  return result;
}

TEST_CASE("attempt: OK <n> with n = the bytes sent is acknowledged, for 0, 1 and 3 MiB + 1") {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{3 * 1024 * 1024 + 1}}) {
    INFO("size ", size);
    auto result = attempt(Answer::kOk, size);
    CHECK(result.outcome.acknowledged);
    CHECK(result.outcome.failure.empty());
    CHECK(result.outcome.sent == size);
    CHECK(result.outcome.peer.rfind("127.0.0.1:", 0) == 0);
  }
}

TEST_CASE("attempt: ERR, a wrong count, a reset, a close and a stranger's answer are failures") {
  struct Case {
    Answer answer;
    std::string failure;
  };
  for (const auto& [answer, failure] :
       {Case{Answer::kErr, "ERR 100000 disk_full"},
        Case{Answer::kWrongCount, "OK 99999, but 100000 bytes were sent"},
        Case{Answer::kReset, "connection reset"},
        Case{Answer::kCloseSilently, "closed without a receipt"},
        Case{Answer::kNotAReceipt, "not a receipt: \"HTTP/1.0 400 Bad Request\\x0d\""}}) {
    INFO(failure);
    auto result = attempt(answer, 100'000);
    CHECK_FALSE(result.outcome.acknowledged);
    CHECK(result.outcome.failure == failure);
    CHECK(result.outcome.sent == 100'000);
  }
}

TEST_CASE("attempt: a receiver that never answers fails at --timeout, not before") {
  const auto started = std::chrono::steady_clock::now();
  auto result = attempt(Answer::kSilent, 1000, std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK_FALSE(result.outcome.acknowledged);
  CHECK(result.outcome.failure == "no receipt within --timeout (300ms)");
  CHECK(took >= std::chrono::milliseconds(300));
}

TEST_CASE("attempt: a reset in the middle of a large input fails the attempt") {
  auto result = attempt(Answer::kResetEarly, 64 * 1024 * 1024);
  CHECK_FALSE(result.outcome.acknowledged);
  CHECK_FALSE(result.outcome.failure.empty());
  CHECK(result.outcome.sent < 64 * 1024 * 1024);
}

TEST_CASE("attempt: nothing listening is a connect failure naming the address") {
  // A port that was just free: bound, read back, closed.
  std::string address;
  {
    FakeReceiver gone({Answer::kOk});
    address = gone.address();
  }
  oneshot::ProgressMeter meter(false);
  auto file = sys::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(file.ok());
  auto outcome = send_attempt(*net::parse_listen_address(address), file->get(), 0,
                              std::chrono::seconds(5), meter);
  CHECK_FALSE(outcome.acknowledged);
  CHECK(outcome.failure == "connect: Connection refused");
  CHECK(outcome.peer == address);
}

}  // namespace
}  // namespace zcrecv::send
