#include "io/splice_pump.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

#include "sys/syscalls.hpp"

namespace zcrecv::io {
namespace {

// SPLICE_F_NONBLOCK always: the worker's pipe and the sockets are non-blocking, and a splice
// must never wait inside the event loop. SPLICE_F_MOVE is a hint the kernel may use.
constexpr unsigned int kSpliceFlags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;

// The most one splice asks for. splice(2) refuses a length above MAX_RW_COUNT (INT_MAX rounded
// down to a page) with EINVAL, which would read as "this pair cannot splice"; callers without a
// limit pass SIZE_MAX.
constexpr std::size_t kMaxSpliceLength = std::size_t{1} << 30;

// A sink that takes zero bytes of a non-empty buffer, without an error, would make the pump loop
// forever; no Linux file does this today, but a driver or FUSE filesystem may.
sys::Error accepted_nothing(const std::string& call) {
  return sys::Error::invalid(call + ": the sink accepted no bytes");
}

}  // namespace

PumpStream::PumpStream(int source, int sink, CopyMode mode) : source_(source), mode_(mode) {
  // No sink yet (-1): set_sink() or the file opener gives one before bytes are written.
  if (sink < 0) {
    use_sink(sink, 0);
  } else {
    set_sink(sink);
  }
}

void PumpStream::set_sink(int sink) {
  // A failed fstat (a bad descriptor) leaves the splice path: the first splice reports the error
  // with its errno, where the caller handles sink errors anyway.
  auto info = sys::fstat(sink);
  use_sink(sink, info ? (info->st_mode & S_IFMT) : 0);
}

sys::Result<void> PumpStream::ensure_sink() {
  if (sink_ >= 0) {
    return {};
  }
  if (!opener_) {
    return sys::Error::invalid("the stream has no sink and no file opener");
  }
  auto opened = opener_();
  if (!opened) {
    return std::move(opened).error();
  }
  use_sink(*opened, S_IFREG);
  return {};
}

void PumpStream::use_sink(int sink, mode_t type) {
  sink_ = sink;
  sink_is_file_ = type == S_IFREG;
  if (!source_cannot_splice_) {
    fallback_reason_.reset();
  }
  // A terminal is written for a person to read; the copy costs nothing next to that.
  bool terminal = type == S_IFCHR && ::isatty(sink) == 1;
  if (mode_ == CopyMode::kReadWrite || source_cannot_splice_ || terminal) {
    path_ = DataPath::kReadWrite;
  } else if (type == S_IFIFO) {
    path_ = DataPath::kSpliceDirect;
  } else {
    path_ = DataPath::kSplice;
  }
}

sys::Result<void> PumpStream::fall_back(const std::string& failed_call, const char* scope) {
  // Only EINVAL leads here: the errno splice(2) uses for "this pair of descriptors cannot splice",
  // as opposed to a fault of the stream. The refusal is kept for the log line that says why a
  // stream left the splice path.
  std::string refusal = sys::Error::from_errno(EINVAL, failed_call).message();
  if (mode_ == CopyMode::kSplice) {
    return sys::Error::invalid(refusal + " and --copy-mode splice forbids the read/write fallback");
  }
  path_ = DataPath::kReadWrite;
  fallback_reason_ = refusal + "; using read/write for this " + scope;
  return {};
}

sys::Result<void> PumpStream::source_refuses_splice(const std::string& failed_call) {
  auto verdict = fall_back(failed_call, "connection");
  if (verdict) {
    source_cannot_splice_ = true;
  }
  return verdict;
}

SplicePump::SplicePump(Pipe& pipe, std::span<std::byte> buffer) : pipe_(pipe), buffer_(buffer) {}

sys::Result<PumpResult> SplicePump::pump(PumpStream& stream, std::size_t limit) {
  const std::uint64_t start = stream.bytes_;
  for (;;) {
    auto moved = static_cast<std::size_t>(stream.bytes_ - start);
    if (moved == limit) {
      return PumpResult{moved, PumpStatus::kLimit};
    }
    std::size_t room = limit - moved;
    Step step = [&]() -> Step {
      if (stream.pending() > 0) {
        if (auto opened = stream.ensure_sink(); !opened) {
          return std::move(opened).error();
        }
        return write_pending(stream, room);
      }
      switch (stream.path_) {
        case DataPath::kSplice:
          return splice_through_pipe(stream, room);
        case DataPath::kSpliceDirect:
          return splice_direct(stream, room);
        case DataPath::kReadWrite:
          break;
      }
      return read_write(stream, room);
    }();
    if (!step) {
      return std::move(step).error();
    }
    if (step->has_value()) {
      return PumpResult{static_cast<std::size_t>(stream.bytes_ - start), **step};
    }
  }
}

SplicePump::Step SplicePump::write_pending(PumpStream& stream, std::size_t room) {
  auto rest = std::span<const std::byte>(stream.pending_).subspan(stream.pending_offset_);
  auto written = sys::write(stream.sink_, rest.first(std::min(rest.size(), room)));
  if (!written) {
    return sys::Error::from_errno(written.error().errno_value(), stream.write_call());
  }
  if (!written->has_value()) {
    return PumpStatus::kSinkFull;
  }
  if (**written == 0) {
    return accepted_nothing(stream.write_call());
  }
  stream.bytes_ += **written;
  stream.pending_offset_ += **written;
  if (stream.pending_offset_ == stream.pending_.size()) {
    stream.pending_.clear();
    stream.pending_offset_ = 0;
  }
  return std::nullopt;
}

SplicePump::Step SplicePump::splice_through_pipe(PumpStream& stream, std::size_t room) {
  // The pipe is empty here, so its capacity is the most one splice can put in it; asking for no
  // more than the room keeps the limit exact, since what enters the pipe is what this stream takes.
  auto spliced =
      sys::splice(stream.source_, pipe_.write_fd(), std::min(pipe_.capacity(), room), kSpliceFlags);
  if (!spliced) {
    return source_splice_failed(stream, spliced.error().errno_value(), "splice(socket → pipe)");
  }
  if (!spliced->has_value()) {
    return PumpStatus::kWouldBlock;
  }
  if (**spliced == 0) {
    return PumpStatus::kEndOfStream;
  }
  if (auto opened = stream.ensure_sink(); !opened) {
    // The pipe must be empty when pump() returns: its bytes wait in the stream for a sink.
    if (auto kept = keep_pipe_contents(stream, **spliced); !kept) {
      return std::move(kept).error();
    }
    return std::move(opened).error();
  }
  return drain_pipe(stream, **spliced);
}

SplicePump::Step SplicePump::source_splice_failed(PumpStream& stream, int err,
                                                  const char* call) {
  switch (err) {
    case EINVAL: {
      // The source has no splice_read (an eventfd, an inotify fd, some special files; the
      // worker's pipe and a sink pipe always accept splices): nothing was taken from it, so
      // switching this connection to read/write loses nothing.
      if (auto verdict = stream.source_refuses_splice(call); !verdict) {
        return std::move(verdict).error();
      }
      return std::nullopt;
    }
    default:
      // ECONNRESET, ETIMEDOUT, ENOTCONN, EPIPE from a sink pipe whose reader went away...:
      // nothing was taken from the source, and the connection's fate is the caller's.
      return sys::Error::from_errno(err, call);
  }
}

SplicePump::Step SplicePump::drain_pipe(PumpStream& stream, std::size_t in_pipe) {
  while (in_pipe > 0) {
    // A file sink may take less than asked (a short write at a full disk or quota); the loop goes
    // on until the pipe is empty or a splice fails.
    auto spliced = sys::splice(pipe_.read_fd(), stream.sink_, in_pipe, kSpliceFlags);
    if (spliced && spliced->has_value() && **spliced > 0) {
      in_pipe -= **spliced;
      stream.bytes_ += **spliced;
      continue;
    }
    // Whatever the sink's trouble, the pipe is shared with the worker's other connections and
    // must be empty when pump() returns: its bytes become this stream's pending bytes.
    auto kept = keep_pipe_contents(stream, in_pipe);
    if (!kept) {
      return std::move(kept).error();
    }
    const char* call = stream.splice_out_call();
    if (spliced) {
      if (!spliced->has_value()) {
        // A non-blocking socket sink with a full send buffer.
        return PumpStatus::kSinkFull;
      }
      return accepted_nothing(call);
    }
    int err = spliced.error().errno_value();
    switch (err) {
      case EINVAL: {
        // The sink refuses splice: a filesystem without splice_write, or a file opened O_APPEND
        // (do_splice rejects it). The pipe's bytes are pending now and go out with write(2) on
        // the next step; the rest of this sink uses read/write.
        auto verdict = stream.fall_back(call, stream.sink_noun());
        if (!verdict) {
          return std::move(verdict).error();
        }
        return std::nullopt;
      }
      default:
        // ENOSPC, EIO, EBADF, EPIPE...: the caller decides (wait for space, rotate, give up); the
        // bytes wait in pending for the next pump() or the next sink.
        return sys::Error::from_errno(err, call);
    }
  }
  return std::nullopt;
}

sys::Result<void> SplicePump::keep_pipe_contents(PumpStream& stream, std::size_t in_pipe) {
  // Pending bytes are always written out before the next splice from the source, so there are
  // none here and the pipe's bytes are the whole of them.
  stream.pending_.resize(in_pipe);
  stream.pending_offset_ = 0;
  // One read empties it: pipe_read() goes on through the pipe's buffers until `in_pipe` bytes.
  auto got = sys::read(pipe_.read_fd(), stream.pending_);
  if (!got) {
    return sys::Error::from_errno(got.error().errno_value(), "read(pipe)");
  }
  std::size_t count = got->value_or(0);
  if (count != in_pipe) {
    return sys::Error::invalid("read(pipe): " + std::to_string(count) + " bytes of the " +
                               std::to_string(in_pipe) + " spliced into it");
  }
  return {};
}

SplicePump::Step SplicePump::splice_direct(PumpStream& stream, std::size_t room) {
  auto spliced =
      sys::splice(stream.source_, stream.sink_, std::min(room, kMaxSpliceLength), kSpliceFlags);
  if (!spliced) {
    return source_splice_failed(stream, spliced.error().errno_value(), "splice(socket → sink)");
  }
  if (spliced->has_value()) {
    if (**spliced == 0) {
      return PumpStatus::kEndOfStream;
    }
    stream.bytes_ += **spliced;
    return std::nullopt;
  }
  // EAGAIN says the source is empty or the sink pipe is full, not which: ask both, without
  // waiting. A full sink comes first, since data in the source is useless until it drains.
  std::array<pollfd, 2> fds{{{stream.source_, POLLIN, 0}, {stream.sink_, POLLOUT, 0}}};
  auto ready = sys::poll(fds, 0);
  if (!ready) {
    return sys::Error::from_errno(ready.error().errno_value(), "poll(socket, sink)");
  }
  if ((fds[1].revents & (POLLOUT | POLLERR)) == 0) {
    return PumpStatus::kSinkFull;
  }
  return PumpStatus::kWouldBlock;
}

SplicePump::Step SplicePump::read_write(PumpStream& stream, std::size_t room) {
  // Read no more than the room: bytes beyond the limit would have to wait in pending, and the limit
  // (reserved space, a record boundary) exists to keep them in the socket.
  auto got = sys::read(stream.source_, buffer_.first(std::min(buffer_.size(), room)));
  if (!got) {
    return sys::Error::from_errno(got.error().errno_value(), "read(socket)");
  }
  if (!got->has_value()) {
    return PumpStatus::kWouldBlock;
  }
  if (**got == 0) {
    return PumpStatus::kEndOfStream;
  }
  auto data = std::span<const std::byte>(buffer_.first(**got));
  if (auto opened = stream.ensure_sink(); !opened) {
    stream.pending_.assign(data.begin(), data.end());
    stream.pending_offset_ = 0;
    return std::move(opened).error();
  }
  while (!data.empty()) {
    auto written = sys::write(stream.sink_, data);
    if (written && written->has_value() && **written > 0) {
      stream.bytes_ += **written;
      data = data.subspan(**written);
      continue;
    }
    // The buffer is shared with the worker's other connections: keep the rest in the stream.
    stream.pending_.assign(data.begin(), data.end());
    stream.pending_offset_ = 0;
    const char* call = stream.write_call();
    if (!written) {
      return sys::Error::from_errno(written.error().errno_value(), call);
    }
    if (!written->has_value()) {
      return PumpStatus::kSinkFull;
    }
    return accepted_nothing(call);
  }
  return std::nullopt;
}

}  // namespace zcrecv::io
