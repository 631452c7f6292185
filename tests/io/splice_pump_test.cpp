#include "io/splice_pump.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/socket_pair.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::io {
namespace {

using test::random_bytes;
using test::Sender;
using test::SenderOptions;
using test::SocketPair;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;
constexpr std::size_t kUnlimited = std::numeric_limits<std::size_t>::max();
// Far above what any case needs; reaching it fails the test instead of hanging it.
constexpr std::chrono::seconds kDeadline{30};

template <class T>
T require(sys::Result<T> result) {
  if (!result) {
    throw std::runtime_error(result.error().message());
  }
  return std::move(result).value();
}

void require(const sys::Result<void>& result) {
  if (!result) {
    throw std::runtime_error(result.error().message());
  }
}

// A worker's share: one pipe and one fallback buffer, as the daemon gives each worker thread.
struct Worker {
  Pipe pipe = require(Pipe::create());
  std::vector<std::byte> buffer = std::vector<std::byte>(256 * kKiB);
  SplicePump pump{pipe, buffer};

  // The shared pipe must be empty whenever pump() returned, whatever happened.
  // FIONREAD on a pipe: the bytes held in it.
  [[nodiscard]] std::size_t bytes_in_pipe() const {
    int count = 0;
    if (::ioctl(pipe.read_fd(), FIONREAD, &count) == -1) {
      throw std::runtime_error(std::string("ioctl(FIONREAD): ") + std::strerror(errno));
    }
    return static_cast<std::size_t>(count);
  }
};

// How a drive() ended.
struct Outcome {
  std::optional<sys::Error> error;
  PumpStatus status = PumpStatus::kWouldBlock;
  std::size_t bytes = 0;
  int would_block = 0;
};

void wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  pollfd entry{fd, events, 0};
  if (left.count() <= 0 ||
      require(sys::poll(std::span(&entry, 1), static_cast<int>(left.count()))) == 0) {
    throw std::runtime_error("stalled: fd " + std::to_string(fd) + " never became ready");
  }
}

// The blocking driver: pumps `stream` in `budget`-sized events until end of stream, `total`
// bytes, or an error, waiting in poll() as an event loop would. Checks after every call that the
// worker's pipe is empty and the bytes reported add up.
Outcome drive(Worker& worker, PumpStream& stream, std::size_t total = kUnlimited,
              std::size_t budget = 3 * kMiB + 7) {
  auto deadline = std::chrono::steady_clock::now() + kDeadline;
  Outcome outcome;
  for (;;) {
    std::uint64_t before = stream.bytes();
    std::size_t limit = std::min(budget, total - outcome.bytes);
    auto result = worker.pump.pump(stream, limit);
    REQUIRE(worker.bytes_in_pipe() == 0);
    if (!result) {
      outcome.error = result.error();
      outcome.bytes += stream.bytes() - before;
      return outcome;
    }
    REQUIRE(stream.bytes() - before == result->bytes);
    REQUIRE(result->bytes <= limit);
    outcome.bytes += result->bytes;
    outcome.status = result->status;
    switch (result->status) {
      case PumpStatus::kLimit:
        REQUIRE(result->bytes == limit);
        if (outcome.bytes == total) {
          return outcome;
        }
        break;
      case PumpStatus::kEndOfStream:
        return outcome;
      case PumpStatus::kWouldBlock:
        ++outcome.would_block;
        wait_for(stream.source(), POLLIN, deadline);
        break;
      case PumpStatus::kSinkFull:
        wait_for(stream.sink(), POLLOUT, deadline);
        break;
    }
  }
}

// An unnamed regular file in `directory` (O_TMPFILE): no name to clean up, gone at close.
sys::UniqueFd temp_file(const char* directory, int flags = 0) {
  return require(sys::open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC | flags, 0600));
}

std::vector<std::byte> contents(int fd) {
  std::vector<std::byte> bytes(static_cast<std::size_t>(require(sys::fstat(fd)).st_size));
  std::size_t at = 0;
  while (at < bytes.size()) {
    ssize_t got = ::pread(fd, bytes.data() + at, bytes.size() - at, static_cast<off_t>(at));
    if (got <= 0) {
      throw std::runtime_error("pread of a test file failed");
    }
    at += static_cast<std::size_t>(got);
  }
  return bytes;
}

std::vector<std::byte> slice(const std::vector<std::byte>& bytes, std::size_t from,
                             std::size_t to) {
  return {bytes.begin() + static_cast<std::ptrdiff_t>(from),
          bytes.begin() + static_cast<std::ptrdiff_t>(to)};
}

// Reads a blocking or non-blocking fd to its end.
std::vector<std::byte> read_to_end(int fd) {
  auto deadline = std::chrono::steady_clock::now() + kDeadline;
  std::vector<std::byte> bytes;
  std::array<std::byte, 64 * kKiB> chunk{};
  for (;;) {
    auto got = require(sys::read(fd, chunk));
    if (!got) {
      wait_for(fd, POLLIN, deadline);
      continue;
    }
    if (*got == 0) {
      return bytes;
    }
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(*got));
  }
}

// A pipe sink, as `zcrecv --once -o - | consumer` has: the pump writes into a non-blocking write
// end while a thread reads the other end to its end.
class PipeReader {
 public:
  PipeReader() {
    auto fds = require(sys::pipe2(O_CLOEXEC));
    read_end_ = std::move(fds.read_end);
    write_end_ = std::move(fds.write_end);
    require(sys::set_nonblocking(write_end_.get(), true));
    thread_ = std::thread([this] { received_ = read_to_end(read_end_.get()); });
  }
  PipeReader(const PipeReader&) = delete;
  PipeReader& operator=(const PipeReader&) = delete;
  ~PipeReader() { finish(); }

  [[nodiscard]] int sink() const { return write_end_.get(); }
  // Closes the write end and returns everything the reader got.
  std::vector<std::byte> finish() {
    write_end_.reset();
    if (thread_.joinable()) {
      thread_.join();
    }
    return received_;
  }

 private:
  sys::UniqueFd read_end_;
  sys::UniqueFd write_end_;
  std::vector<std::byte> received_;
  std::thread thread_;
};

enum class Transport { kTcp, kUnix };
enum class SinkKind { kDiskFile, kTmpfsFile, kPipe, kDevNull };

const char* name(Transport transport) { return transport == Transport::kTcp ? "tcp" : "unix"; }

const char* name(SinkKind sink) {
  switch (sink) {
    case SinkKind::kDiskFile:
      return "file on /var/tmp";
    case SinkKind::kTmpfsFile:
      return "file on /dev/shm";
    case SinkKind::kPipe:
      return "pipe";
    case SinkKind::kDevNull:
      return "/dev/null";
  }
  return "?";
}

SocketPair make_pair(Transport transport) {
  return transport == Transport::kTcp ? test::make_tcp_pair() : test::make_unix_pair();
}

// Sends `data` over `transport` into `sink` with `mode` and checks that exactly `data` arrived.
void check_stream(const std::vector<std::byte>& data, Transport transport, SinkKind sink,
                  CopyMode mode) {
  INFO(data.size(), " bytes over ", name(transport), " into ", name(sink), ", --copy-mode ",
       to_string(mode));
  Worker worker;
  auto pair = make_pair(transport);
  Sender sender(std::move(pair.sender), data);
  std::optional<PipeReader> reader;
  sys::UniqueFd file;
  switch (sink) {
    case SinkKind::kDiskFile:
      file = temp_file("/var/tmp");
      break;
    case SinkKind::kTmpfsFile:
      file = temp_file("/dev/shm");
      break;
    case SinkKind::kPipe:
      reader.emplace();
      break;
    case SinkKind::kDevNull:
      file = require(sys::open("/dev/null", O_WRONLY | O_CLOEXEC));
      break;
  }
  PumpStream stream(pair.receiver.get(), reader ? reader->sink() : file.get(), mode);
  DataPath expected = mode == CopyMode::kReadWrite ? DataPath::kReadWrite
                      : sink == SinkKind::kPipe    ? DataPath::kSpliceDirect
                                                   : DataPath::kSplice;
  CHECK(stream.path() == expected);

  Outcome outcome = drive(worker, stream);
  REQUIRE_FALSE(outcome.error.has_value());
  CHECK(outcome.status == PumpStatus::kEndOfStream);
  CHECK(outcome.bytes == data.size());
  CHECK(stream.bytes() == data.size());
  CHECK(stream.pending() == 0);
  CHECK(stream.path() == expected);
  CHECK_FALSE(stream.fallback_reason().has_value());
  CHECK(sender.join() == "");
  switch (sink) {
    case SinkKind::kDiskFile:
    case SinkKind::kTmpfsFile:
      CHECK(contents(file.get()) == data);
      break;
    case SinkKind::kPipe:
      CHECK(reader->finish() == data);
      break;
    case SinkKind::kDevNull:
      break;
  }
}

TEST_CASE("every byte arrives, in order, for every size, transport, sink and copy mode") {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4095}, std::size_t{4096},
                           std::size_t{4097}, kMiB - 1, kMiB, kMiB + 1}) {
    auto data = random_bytes(size, size);
    for (Transport transport : {Transport::kTcp, Transport::kUnix}) {
      for (SinkKind sink :
           {SinkKind::kDiskFile, SinkKind::kTmpfsFile, SinkKind::kPipe, SinkKind::kDevNull}) {
        for (CopyMode mode : {CopyMode::kAuto, CopyMode::kReadWrite}) {
          check_stream(data, transport, sink, mode);
        }
      }
    }
  }
}

TEST_CASE("64 MiB arrive byte-exact on the main paths") {
  auto data = random_bytes(64 * kMiB, 64);
  check_stream(data, Transport::kTcp, SinkKind::kDiskFile, CopyMode::kAuto);
  check_stream(data, Transport::kUnix, SinkKind::kTmpfsFile, CopyMode::kAuto);
  check_stream(data, Transport::kTcp, SinkKind::kPipe, CopyMode::kAuto);
  check_stream(data, Transport::kTcp, SinkKind::kTmpfsFile, CopyMode::kReadWrite);
}

TEST_CASE("a sink opened O_APPEND falls back to read/write for that file and keeps every byte") {
  auto data = random_bytes(3 * kMiB + 5, 7);
  Worker worker;
  auto pair = test::make_tcp_pair();
  Sender sender(std::move(pair.sender), data);
  auto file = temp_file("/var/tmp", O_APPEND);
  PumpStream stream(pair.receiver.get(), file.get(), CopyMode::kAuto);
  CHECK(stream.path() == DataPath::kSplice);

  Outcome outcome = drive(worker, stream);
  REQUIRE_FALSE(outcome.error.has_value());
  CHECK(outcome.status == PumpStatus::kEndOfStream);
  CHECK(stream.path() == DataPath::kReadWrite);
  REQUIRE(stream.fallback_reason().has_value());
  CHECK(*stream.fallback_reason() ==
        "splice(pipe → file): Invalid argument; using read/write for this file");
  CHECK(sender.join() == "");
  CHECK(contents(file.get()) == data);
}

TEST_CASE("--copy-mode splice turns the O_APPEND refusal into an error and keeps the bytes") {
  auto data = random_bytes(2 * kMiB + 3, 8);
  Worker worker;
  auto pair = test::make_unix_pair();
  Sender sender(std::move(pair.sender), data);
  auto appending = temp_file("/dev/shm", O_APPEND);
  PumpStream stream(pair.receiver.get(), appending.get(), CopyMode::kSplice);

  Outcome refused = drive(worker, stream);
  REQUIRE(refused.error.has_value());
  CHECK(refused.error->message() ==
        "splice(pipe → file): Invalid argument and --copy-mode splice forbids the read/write "
        "fallback");
  CHECK(refused.bytes == 0);
  CHECK(stream.pending() > 0);
  CHECK(stream.path() == DataPath::kSplice);
  CHECK_FALSE(stream.fallback_reason().has_value());

  // On the same sink again, the kept bytes go out first (pending bytes are written with write(2)
  // whatever the mode), then the next splice is refused the same way: nothing dropped or doubled.
  std::size_t kept = stream.pending();
  Outcome again = drive(worker, stream);
  REQUIRE(again.error.has_value());
  CHECK(again.error->message() == refused.error->message());
  CHECK(again.bytes == kept);
  CHECK(stream.pending() > 0);
  CHECK(contents(appending.get()) == slice(data, 0, kept));

  auto file = temp_file("/dev/shm");
  stream.set_sink(file.get());
  Outcome rest = drive(worker, stream);
  REQUIRE_FALSE(rest.error.has_value());
  CHECK(rest.status == PumpStatus::kEndOfStream);
  CHECK(sender.join() == "");
  CHECK(stream.bytes() == data.size());
  CHECK(contents(file.get()) == slice(data, kept, data.size()));
}

TEST_CASE("a byte limit stops exactly and leaves the rest in the socket") {
  constexpr std::size_t kLimit = 300'001;
  auto data = random_bytes(kMiB + 12'345, 9);
  for (Transport transport : {Transport::kTcp, Transport::kUnix}) {
    for (CopyMode mode : {CopyMode::kAuto, CopyMode::kReadWrite}) {
      INFO(name(transport), " --copy-mode ", to_string(mode));
      Worker worker;
      auto pair = make_pair(transport);
      Sender sender(std::move(pair.sender), data);
      auto file = temp_file("/var/tmp");
      PumpStream stream(pair.receiver.get(), file.get(), mode);

      Outcome outcome = drive(worker, stream, kLimit, 64 * kKiB + 1);
      REQUIRE_FALSE(outcome.error.has_value());
      CHECK(outcome.status == PumpStatus::kLimit);
      CHECK(stream.bytes() == kLimit);
      CHECK(stream.pending() == 0);
      CHECK(contents(file.get()) == slice(data, 0, kLimit));
      CHECK(read_to_end(pair.receiver.get()) == slice(data, kLimit, data.size()));
      CHECK(sender.join() == "");
    }
  }
}

TEST_CASE("a limit of zero moves nothing") {
  Worker worker;
  auto pair = test::make_unix_pair();
  std::array<std::byte, 1> byte{std::byte{1}};
  REQUIRE(require(sys::write(pair.sender.get(), byte)) == 1);
  auto file = temp_file("/dev/shm");
  PumpStream stream(pair.receiver.get(), file.get(), CopyMode::kAuto);
  auto result = worker.pump.pump(stream, 0);
  REQUIRE(result.ok());
  CHECK(result->bytes == 0);
  CHECK(result->status == PumpStatus::kLimit);
  std::array<std::byte, 2> left{};
  CHECK(require(sys::read(pair.receiver.get(), left)) == 1);
  CHECK(left[0] == byte[0]);
}

TEST_CASE("a peer reset mid-stream: every byte sent before it is kept, then ECONNRESET") {
  constexpr std::size_t kSentBeforeReset = 300'000;
  auto data = random_bytes(kMiB, 10);
  for (CopyMode mode : {CopyMode::kAuto, CopyMode::kReadWrite}) {
    INFO("--copy-mode ", to_string(mode));
    Worker worker;
    auto pair = test::make_tcp_pair();
    Sender sender(std::move(pair.sender), data,
                  SenderOptions{.chunk_size = 10'000, .reset_after = kSentBeforeReset});
    auto file = temp_file("/var/tmp");
    PumpStream stream(pair.receiver.get(), file.get(), mode);

    Outcome outcome = drive(worker, stream);
    CHECK(sender.join() == "");
    // Linux hands out the data queued before the RST first, then reports the reset once.
    REQUIRE(outcome.error.has_value());
    CHECK(outcome.error->errno_value() == ECONNRESET);
    CHECK(outcome.error->message() == (mode == CopyMode::kAuto
                                           ? "splice(socket → pipe): Connection reset by peer"
                                           : "read(socket): Connection reset by peer"));
    CHECK(stream.pending() == 0);
    CHECK(contents(file.get()) == slice(data, 0, kSentBeforeReset));
  }
}

TEST_CASE("a slow sender's many small writes arrive whole") {
  auto data = random_bytes(std::size_t{150} * 997, 11);
  for (CopyMode mode : {CopyMode::kAuto, CopyMode::kReadWrite}) {
    INFO("--copy-mode ", to_string(mode));
    Worker worker;
    auto pair = test::make_unix_pair();
    Sender sender(std::move(pair.sender), data,
                  SenderOptions{.chunk_size = 997, .pause = std::chrono::milliseconds(1)});
    auto file = temp_file("/var/tmp");
    PumpStream stream(pair.receiver.get(), file.get(), mode);

    Outcome outcome = drive(worker, stream);
    REQUIRE_FALSE(outcome.error.has_value());
    CHECK(outcome.status == PumpStatus::kEndOfStream);
    // The pump returned to wait instead of spinning on an empty socket.
    CHECK(outcome.would_block > 10);
    CHECK(sender.join() == "");
    CHECK(contents(file.get()) == data);
  }
}

TEST_CASE("set_sink mid-stream: the two files concatenated are the stream") {
  constexpr std::size_t kFirst = kMiB + 3;
  auto data = random_bytes(2 * kMiB + kMiB / 2, 12);
  for (CopyMode mode : {CopyMode::kAuto, CopyMode::kReadWrite}) {
    INFO("--copy-mode ", to_string(mode));
    Worker worker;
    auto pair = test::make_tcp_pair();
    Sender sender(std::move(pair.sender), data);
    auto first = temp_file("/var/tmp");
    auto second = temp_file("/dev/shm");
    PumpStream stream(pair.receiver.get(), first.get(), mode);

    Outcome head = drive(worker, stream, kFirst, 256 * kKiB);
    REQUIRE_FALSE(head.error.has_value());
    CHECK(head.status == PumpStatus::kLimit);
    stream.set_sink(second.get());
    Outcome tail = drive(worker, stream);
    REQUIRE_FALSE(tail.error.has_value());
    CHECK(tail.status == PumpStatus::kEndOfStream);
    CHECK(stream.bytes() == data.size());
    CHECK(sender.join() == "");
    CHECK(contents(first.get()) == slice(data, 0, kFirst));
    CHECK(contents(second.get()) == slice(data, kFirst, data.size()));
  }
}

TEST_CASE("a stream without a sink opens a file only once bytes arrive, every byte kept") {
  auto data = random_bytes(kMiB + 5, 14);
  for (CopyMode mode : {CopyMode::kAuto, CopyMode::kReadWrite}) {
    for (int extra_flags : {0, O_APPEND}) {
      INFO("--copy-mode ", to_string(mode), ", O_APPEND ", extra_flags != 0);
      Worker worker;
      auto pair = test::make_tcp_pair();
      Sender sender(std::move(pair.sender), data, {.chunk_size = 64 * kKiB,
                                                   .pause = std::chrono::milliseconds(5)});
      auto file = temp_file("/var/tmp", extra_flags);
      PumpStream stream(pair.receiver.get(), -1, mode);
      int opened = 0;
      stream.set_file_opener([&]() -> sys::Result<int> {
        ++opened;
        return file.get();
      });
      Outcome outcome = drive(worker, stream);
      REQUIRE_FALSE(outcome.error.has_value());
      CHECK(outcome.status == PumpStatus::kEndOfStream);
      CHECK(opened == 1);
      CHECK(stream.sink() == file.get());
      const bool splices = mode == CopyMode::kAuto && extra_flags == 0;
      CHECK(stream.path() == (splices ? DataPath::kSplice : DataPath::kReadWrite));
      CHECK(sender.join() == "");
      CHECK(contents(file.get()) == data);
    }
  }
}

TEST_CASE("a stream that ends before its first byte never calls its file opener") {
  for (CopyMode mode : {CopyMode::kAuto, CopyMode::kReadWrite}) {
    INFO("--copy-mode ", to_string(mode));
    Worker worker;
    auto pair = test::make_unix_pair();
    pair.sender.reset();
    PumpStream stream(pair.receiver.get(), -1, mode);
    int opened = 0;
    stream.set_file_opener([&]() -> sys::Result<int> {
      ++opened;
      return sys::Error::invalid("not expected");
    });
    Outcome outcome = drive(worker, stream);
    REQUIRE_FALSE(outcome.error.has_value());
    CHECK(outcome.status == PumpStatus::kEndOfStream);
    CHECK(opened == 0);
    CHECK(stream.bytes() == 0);
  }
}

TEST_CASE("a file opener's failure keeps the bytes, and the next file takes them first") {
  constexpr std::size_t kFirst = 300'000;
  auto data = random_bytes(kMiB + 11, 15);
  for (CopyMode mode : {CopyMode::kAuto, CopyMode::kReadWrite}) {
    INFO("--copy-mode ", to_string(mode));
    Worker worker;
    auto pair = test::make_tcp_pair();
    Sender sender(std::move(pair.sender), data);
    auto first = temp_file("/var/tmp");
    auto second = temp_file("/dev/shm");
    PumpStream stream(pair.receiver.get(), -1, mode);
    int opened = 0;
    stream.set_file_opener([&]() -> sys::Result<int> {
      ++opened;
      if (opened == 1) {
        return sys::Error::from_errno(ENOSPC, "openat");
      }
      return opened == 2 ? first.get() : second.get();
    });
    Outcome refused = drive(worker, stream);
    REQUIRE(refused.error.has_value());
    CHECK(refused.error->errno_value() == ENOSPC);
    CHECK(refused.error->message() == "openat: No space left on device");
    CHECK(stream.bytes() == 0);
    CHECK(stream.pending() > 0);

    Outcome head = drive(worker, stream, kFirst);
    REQUIRE_FALSE(head.error.has_value());
    CHECK(head.status == PumpStatus::kLimit);
    stream.clear_sink();
    CHECK(stream.sink() == -1);
    Outcome tail = drive(worker, stream);
    REQUIRE_FALSE(tail.error.has_value());
    CHECK(tail.status == PumpStatus::kEndOfStream);
    CHECK(opened == 3);
    CHECK(sender.join() == "");
    CHECK(stream.bytes() == data.size());
    CHECK(contents(first.get()) == slice(data, 0, kFirst));
    CHECK(contents(second.get()) == slice(data, kFirst, data.size()));
  }
}

TEST_CASE("a sink's read/write verdict does not follow the stream to the next sink") {
  constexpr std::size_t kFirst = 500'000;
  auto data = random_bytes(kMiB, 13);
  Worker worker;
  auto pair = test::make_unix_pair();
  Sender sender(std::move(pair.sender), data);
  auto appending = temp_file("/var/tmp", O_APPEND);
  auto plain = temp_file("/var/tmp");
  PumpStream stream(pair.receiver.get(), appending.get(), CopyMode::kAuto);

  Outcome head = drive(worker, stream, kFirst);
  REQUIRE_FALSE(head.error.has_value());
  CHECK(stream.path() == DataPath::kReadWrite);
  CHECK(stream.fallback_reason().has_value());
  stream.set_sink(plain.get());
  CHECK(stream.path() == DataPath::kSplice);
  CHECK_FALSE(stream.fallback_reason().has_value());
  Outcome tail = drive(worker, stream);
  REQUIRE_FALSE(tail.error.has_value());
  CHECK(stream.path() == DataPath::kSplice);
  CHECK(sender.join() == "");
  CHECK(contents(appending.get()) == slice(data, 0, kFirst));
  CHECK(contents(plain.get()) == slice(data, kFirst, data.size()));
}

TEST_CASE("a sink error keeps the bytes already read, and they go to the next sink first") {
  auto data = random_bytes(2 * kMiB + 17, 14);
  test::TempDir dir;
  auto path = dir / "read-only";
  REQUIRE(sys::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600).ok());

  SUBCASE("splice into a file opened read-only: EBADF") {
    Worker worker;
    auto pair = test::make_tcp_pair();
    Sender sender(std::move(pair.sender), data);
    auto read_only = require(sys::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    PumpStream stream(pair.receiver.get(), read_only.get(), CopyMode::kAuto);

    Outcome failed = drive(worker, stream);
    REQUIRE(failed.error.has_value());
    CHECK(failed.error->errno_value() == EBADF);
    CHECK(failed.error->message() == "splice(pipe → file): Bad file descriptor");
    CHECK(failed.bytes == 0);
    CHECK(stream.pending() > 0);

    auto good = temp_file("/var/tmp");
    stream.set_sink(good.get());
    Outcome rest = drive(worker, stream);
    REQUIRE_FALSE(rest.error.has_value());
    CHECK(rest.status == PumpStatus::kEndOfStream);
    CHECK(sender.join() == "");
    CHECK(contents(good.get()) == data);
  }

  SUBCASE("read/write into a pipe whose reader is gone: EPIPE") {
    Worker worker;
    auto pair = test::make_unix_pair();
    Sender sender(std::move(pair.sender), data);
    auto broken = require(sys::pipe2(O_CLOEXEC | O_NONBLOCK));
    broken.read_end.reset();
    PumpStream stream(pair.receiver.get(), broken.write_end.get(), CopyMode::kReadWrite);

    Outcome failed = drive(worker, stream);
    REQUIRE(failed.error.has_value());
    CHECK(failed.error->errno_value() == EPIPE);
    CHECK(failed.error->message() == "write(sink): Broken pipe");
    CHECK(stream.pending() > 0);

    auto good = temp_file("/dev/shm");
    stream.set_sink(good.get());
    Outcome rest = drive(worker, stream);
    REQUIRE_FALSE(rest.error.has_value());
    CHECK(sender.join() == "");
    CHECK(contents(good.get()) == data);
  }

  SUBCASE("splice straight into a pipe whose reader is gone: EPIPE, nothing taken") {
    Worker worker;
    auto pair = test::make_tcp_pair();
    Sender sender(std::move(pair.sender), data);
    auto broken = require(sys::pipe2(O_CLOEXEC | O_NONBLOCK));
    broken.read_end.reset();
    PumpStream stream(pair.receiver.get(), broken.write_end.get(), CopyMode::kAuto);
    CHECK(stream.path() == DataPath::kSpliceDirect);

    Outcome failed = drive(worker, stream);
    REQUIRE(failed.error.has_value());
    CHECK(failed.error->message() == "splice(socket → sink): Broken pipe");
    CHECK(stream.pending() == 0);

    auto good = temp_file("/var/tmp");
    stream.set_sink(good.get());
    CHECK(stream.path() == DataPath::kSplice);
    Outcome rest = drive(worker, stream);
    REQUIRE_FALSE(rest.error.has_value());
    CHECK(sender.join() == "");
    CHECK(contents(good.get()) == data);
  }
}

// An eventfd has no splice_read: splice from it fails with EINVAL, while read() gives its 8-byte
// counter and then EAGAIN. It stands for any source the kernel cannot splice from.
sys::UniqueFd eventfd_holding(std::uint64_t value) {
  auto fd = require(sys::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  REQUIRE(require(sys::write(fd.get(), std::as_bytes(std::span(&value, 1)))) == sizeof value);
  return fd;
}

std::vector<std::byte> bytes_of(const std::uint64_t& value) {
  auto bytes = std::as_bytes(std::span(&value, 1));
  return {bytes.begin(), bytes.end()};
}

TEST_CASE("a source that cannot splice moves to read/write, and the verdict outlives set_sink") {
  constexpr std::uint64_t kFirst = 0x0102030405060708;
  constexpr std::uint64_t kSecond = 0x1112131415161718;
  constexpr const char* kReason =
      "splice(socket → pipe): Invalid argument; using read/write for this connection";
  Worker worker;
  auto source = eventfd_holding(kFirst);
  auto file = temp_file("/dev/shm");
  PumpStream stream(source.get(), file.get(), CopyMode::kAuto);
  CHECK(stream.path() == DataPath::kSplice);

  auto result = worker.pump.pump(stream, kUnlimited);
  REQUIRE(result.ok());
  CHECK(result->bytes == sizeof kFirst);
  CHECK(result->status == PumpStatus::kWouldBlock);
  CHECK(stream.path() == DataPath::kReadWrite);
  CHECK(stream.fallback_reason() == std::optional<std::string>(kReason));
  CHECK(contents(file.get()) == bytes_of(kFirst));

  // A pipe sink would be spliced into directly, but the source still cannot splice.
  PipeReader reader;
  stream.set_sink(reader.sink());
  CHECK(stream.path() == DataPath::kReadWrite);
  CHECK(stream.fallback_reason() == std::optional<std::string>(kReason));
  REQUIRE(require(sys::write(source.get(), std::as_bytes(std::span(&kSecond, 1)))) ==
          sizeof kSecond);
  result = worker.pump.pump(stream, kUnlimited);
  REQUIRE(result.ok());
  CHECK(result->bytes == sizeof kSecond);
  CHECK(reader.finish() == bytes_of(kSecond));
}

TEST_CASE("a source that cannot splice into a pipe sink moves to read/write too") {
  constexpr std::uint64_t kValue = 42;
  Worker worker;
  auto source = eventfd_holding(kValue);
  PipeReader reader;
  PumpStream stream(source.get(), reader.sink(), CopyMode::kAuto);
  CHECK(stream.path() == DataPath::kSpliceDirect);

  auto result = worker.pump.pump(stream, kUnlimited);
  REQUIRE(result.ok());
  CHECK(result->status == PumpStatus::kWouldBlock);
  CHECK(stream.path() == DataPath::kReadWrite);
  CHECK(stream.fallback_reason() ==
        std::optional<std::string>(
            "splice(socket → sink): Invalid argument; using read/write for this connection"));
  CHECK(reader.finish() == bytes_of(kValue));
}

TEST_CASE("--copy-mode splice refuses a source that cannot splice, taking nothing from it") {
  constexpr std::uint64_t kValue = 7;
  Worker worker;
  auto source = eventfd_holding(kValue);
  auto file = temp_file("/dev/shm");
  PumpStream stream(source.get(), file.get(), CopyMode::kSplice);

  auto result = worker.pump.pump(stream, kUnlimited);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message() ==
        "splice(socket → pipe): Invalid argument and --copy-mode splice forbids the read/write "
        "fallback");
  CHECK(stream.path() == DataPath::kSplice);
  CHECK(stream.pending() == 0);
  std::uint64_t left = 0;
  CHECK(require(sys::read(source.get(), std::as_writable_bytes(std::span(&left, 1)))) ==
        sizeof left);
  CHECK(left == kValue);
}

TEST_CASE("splice into a pipe tells a full sink from an empty source") {
  SUBCASE("the sink pipe is full: kSinkFull, and the rest flows once it drains") {
    auto data = random_bytes(512 * kKiB, 15);
    Worker worker;
    auto pair = test::make_unix_pair();
    Sender sender(std::move(pair.sender), data);
    auto sink = require(sys::pipe2(O_CLOEXEC | O_NONBLOCK));
    PumpStream stream(pair.receiver.get(), sink.write_end.get(), CopyMode::kAuto);
    std::vector<std::byte> received;
    auto empty_sink = [&] {
      std::array<std::byte, 64 * kKiB> chunk{};
      while (auto got = require(sys::read(sink.read_end.get(), chunk))) {
        received.insert(received.end(), chunk.begin(),
                        chunk.begin() + static_cast<std::ptrdiff_t>(*got));
      }
    };

    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    int sink_full = 0;
    for (;;) {
      auto result = worker.pump.pump(stream, kUnlimited);
      REQUIRE(result.ok());
      if (result->status == PumpStatus::kEndOfStream) {
        break;
      }
      if (result->status == PumpStatus::kSinkFull) {
        // No bound on result->bytes here: a spliced pipe buffer may hold more than a page (a
        // Unix socket's skb), so a pipe can take more bytes than its nominal size.
        ++sink_full;
      } else {
        REQUIRE(result->status == PumpStatus::kWouldBlock);
        wait_for(pair.receiver.get(), POLLIN, deadline);
      }
      empty_sink();
    }
    empty_sink();
    CHECK(sink_full > 0);
    // An unlimited caller must still get the direct splice (a length above MAX_RW_COUNT once
    // made the kernel refuse it, and the pump fell back to read/write).
    CHECK(stream.path() == DataPath::kSpliceDirect);
    CHECK_FALSE(stream.fallback_reason().has_value());
    CHECK(sender.join() == "");
    CHECK(received == data);
  }

  SUBCASE("the source is empty and the sink has room: kWouldBlock") {
    Worker worker;
    auto pair = test::make_unix_pair();
    auto data = random_bytes(10, 16);
    REQUIRE(require(sys::write(pair.sender.get(), data)) == data.size());
    auto sink = require(sys::pipe2(O_CLOEXEC | O_NONBLOCK));
    PumpStream stream(pair.receiver.get(), sink.write_end.get(), CopyMode::kAuto);

    auto result = worker.pump.pump(stream, kUnlimited);
    REQUIRE(result.ok());
    CHECK(result->bytes == data.size());
    CHECK(result->status == PumpStatus::kWouldBlock);
    std::vector<std::byte> received(data.size());
    CHECK(require(sys::read(sink.read_end.get(), received)) == data.size());
    CHECK(received == data);
  }
}

TEST_CASE("one pump serves several streams in turn, each into its own file") {
  std::array<std::vector<std::byte>, 2> data{random_bytes(3 * kMiB + 1, 17),
                                             random_bytes(2 * kMiB + 9, 18)};
  Worker worker;
  std::array<SocketPair, 2> pairs{test::make_tcp_pair(), test::make_unix_pair()};
  Sender first_sender(std::move(pairs[0].sender), data[0]);
  Sender second_sender(std::move(pairs[1].sender), data[1]);
  std::array<sys::UniqueFd, 2> files{temp_file("/var/tmp"), temp_file("/var/tmp")};
  std::array<PumpStream, 2> streams{
      PumpStream(pairs[0].receiver.get(), files[0].get(), CopyMode::kAuto),
      PumpStream(pairs[1].receiver.get(), files[1].get(), CopyMode::kAuto)};

  // A worker's loop in miniature: one fairness budget per readable stream, then the next one.
  auto deadline = std::chrono::steady_clock::now() + kDeadline;
  std::array<bool, 2> ended{};
  while (!ended[0] || !ended[1]) {
    std::array<pollfd, 2> fds{};
    for (std::size_t i = 0; i < 2; ++i) {
      fds[i] = pollfd{ended[i] ? -1 : streams[i].source(), POLLIN, 0};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    REQUIRE(require(sys::poll(fds, static_cast<int>(std::max<long>(left.count(), 0)))) > 0);
    for (std::size_t i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      auto result = worker.pump.pump(streams[i], 128 * kKiB + 1);
      REQUIRE(result.ok());
      REQUIRE(worker.bytes_in_pipe() == 0);
      ended[i] = result->status == PumpStatus::kEndOfStream;
    }
  }
  CHECK(first_sender.join() == "");
  CHECK(second_sender.join() == "");
  CHECK(contents(files[0].get()) == data[0]);
  CHECK(contents(files[1].get()) == data[1]);
}

}  // namespace
}  // namespace zcrecv::io
