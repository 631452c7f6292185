#pragma once

// Helpers for the daemon tests (their own namespace: tests/support has helpers of the same
// names): run_daemon() on a thread of the test process, clients that
// wait for the daemon to close their connection, and readers of the output directory.

#include <doctest/doctest.h>
#include <poll.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "daemon/daemon.hpp"
#include "event/signal_fd.hpp"
#include "net/socket_address.hpp"
#include "support/loopback.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::daemon::harness {

using test::connect_blocking;
using test::TempDir;

using namespace std::chrono_literals;

/// How long a test waits for anything before it fails instead of hanging.
inline constexpr std::chrono::milliseconds kPatience = 20s;

/// A configuration for tests: two workers, output in `dir`/out with the flat name template
/// "{listener}.{conn}-{seq}.bin" (test::reassemble reads it), no fsync, no size or time
/// rotation, no disk-space floor.
inline config::Config test_config(const TempDir& dir,
                                  std::vector<config::ListenerConfig> listeners) {
  config::Config config;
  config.workers = 2;
  config.listeners = std::move(listeners);
  config.output.directory = (dir / "out").string();
  config.output.name.value = "{listener}.{conn}-{seq}.bin";
  config.output.sync = config::SyncMode::kNone;
  config.output.max_file_size = 0;
  config.limits.min_free_space = 0;
  config.limits.shutdown_timeout = 10s;
  return config;
}

/// A listener on 127.0.0.1, ephemeral port.
// An allow or proxy_from list of `texts`, each a valid CIDR.
inline std::vector<config::SourcedCidr> cidrs(std::initializer_list<std::string_view> texts) {
  std::vector<config::SourcedCidr> parsed;
  for (std::string_view text : texts) {
    parsed.push_back(*config::make_cidr(text, config::Origin{"test"}));
  }
  return parsed;
}

inline config::ListenerConfig tcp_listener(const std::string& name) {
  config::ListenerConfig listener;
  listener.address = *config::make_address("127.0.0.1:0", config::Origin{"test"});
  listener.name = name;
  return listener;
}

/// A listener on the Unix socket `path`.
inline config::ListenerConfig unix_listener(const std::string& name,
                                            const std::filesystem::path& path) {
  config::ListenerConfig listener;
  listener.address = *config::make_address("unix:" + path.string(), config::Origin{"test"});
  listener.name = name;
  return listener;
}

/// run_daemon() on its own thread, with a SignalFd made here: the signals are blocked in the
/// test thread, and so in the daemon's threads, which inherit the mask. Signals go to the
/// daemon's thread (pthread_kill), which reads the signalfd, so nothing else in the process
/// sees them.
class RunningDaemon {
 public:
  /// `hooks` may replace the sync stage's calls; on_listening is the harness's own.
  explicit RunningDaemon(config::Config config, daemon::ReloadFunction reload = {},
                         daemon::DaemonHooks hooks = {})
      : hooks_(std::move(hooks)) {
    auto signals = event::SignalFd::create({SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2});
    REQUIRE(signals.ok());
    signals_.emplace(std::move(*signals));
    hooks_.on_listening = [this](const std::vector<net::SocketAddress>& addresses) {
      std::lock_guard lock(mutex_);
      addresses_ = addresses;
      ++generation_;
      changed_.notify_all();
    };
    thread_ = std::thread([this, config = std::move(config), reload = std::move(reload)] {
      int status = daemon::run_daemon(config, *signals_, reload, {}, hooks_);
      std::lock_guard lock(mutex_);
      status_ = status;
      changed_.notify_all();
    });
  }

  RunningDaemon(const RunningDaemon&) = delete;
  RunningDaemon& operator=(const RunningDaemon&) = delete;

  ~RunningDaemon() {
    if (!thread_.joinable()) {
      return;
    }
    // A test that failed half-way: stop, and cut whatever is still open. Two different
    // signals, because two pending SIGTERMs would be delivered as one.
    signal(SIGTERM);
    signal(SIGINT);
    thread_.join();
  }

  /// Waits until the daemon reported its listeners `generation` times (1: started, 2: after the
  /// first reload, ...); false if it exited first.
  bool wait_listening(int generation = 1) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kPatience, [&] { return generation_ >= generation || status_; });
    return generation_ >= generation;
  }

  /// The addresses of the last report.
  std::vector<net::SocketAddress> addresses() {
    std::lock_guard lock(mutex_);
    return addresses_;
  }

  /// Sends `signal_number` to the daemon's thread, unless it has exited.
  void signal(int signal_number) {
    std::lock_guard lock(mutex_);
    if (!status_) {
      REQUIRE(::pthread_kill(thread_.native_handle(), signal_number) == 0);
    }
  }

  /// Waits for run_daemon() to return; its exit status, or -1 if it did not within kPatience.
  int wait() {
    {
      std::unique_lock lock(mutex_);
      if (!changed_.wait_for(lock, kPatience, [&] { return status_.has_value(); })) {
        return -1;
      }
    }
    thread_.join();
    return *status_;
  }

  /// SIGTERM, then wait().
  int stop() {
    signal(SIGTERM);
    return wait();
  }

 private:
  std::optional<event::SignalFd> signals_;
  daemon::DaemonHooks hooks_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<net::SocketAddress> addresses_;
  int generation_ = 0;
  std::optional<int> status_;
  std::thread thread_;
};

/// Writes all of `data` to the blocking socket `fd`, in chunks of `chunk` bytes.
inline void send_all(int fd, std::span<const std::byte> data, std::size_t chunk = 1 << 20) {
  while (!data.empty()) {
    auto written = sys::write(fd, data.first(std::min(chunk, data.size())));
    REQUIRE(written.ok());
    REQUIRE(written->has_value());
    data = data.subspan(**written);
  }
}

/// Waits until the daemon has closed connection `fd` (end of stream or reset); false after
/// kPatience. With sync = none (test_config), the daemon closes a connection only after
/// publishing its last file.
inline bool wait_closed(int fd) {
  pollfd entry{fd, POLLIN, 0};
  auto ready = sys::poll(std::span(&entry, 1), static_cast<int>(kPatience.count()));
  if (!ready || *ready == 0) {
    return false;
  }
  std::byte byte{};
  auto got = sys::read(fd, std::span(&byte, 1));
  // The daemon never sends: any answer is 0 (end of stream) or an error (reset).
  return !got || got->value_or(1) == 0;
}

/// Sends `data` on a new connection to `address`, ends it (shutdown SHUT_WR) and waits until
/// the daemon has closed it.
inline void send_stream(const net::SocketAddress& address, std::span<const std::byte> data,
                        std::size_t chunk = 1 << 20) {
  sys::UniqueFd socket = connect_blocking(address);
  send_all(socket.get(), data, chunk);
  REQUIRE(sys::shutdown(socket.get(), SHUT_WR).ok());
  REQUIRE(wait_closed(socket.get()));
}

/// Waits on inotify events in one directory until a condition on it holds.
class DirectoryWatch {
 public:
  explicit DirectoryWatch(const std::filesystem::path& directory) : directory_(directory) {
    std::filesystem::create_directories(directory);
    fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    REQUIRE(fd_.valid());
    REQUIRE(::inotify_add_watch(fd_.get(), directory.c_str(),
                                IN_CREATE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE) >=
            0);
  }

  /// True once `condition` holds, checked now and after each change in the directory; false
  /// after kPatience.
  bool wait_until(const std::function<bool()>& condition) {
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (!condition()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return false;
      }
      pollfd entry{fd_.get(), POLLIN, 0};
      if (!sys::poll(std::span(&entry, 1), static_cast<int>(left.count())).ok()) {
        return false;
      }
      std::array<std::byte, 4096> events{};
      for (;;) {
        auto got = sys::read(fd_.get(), events);
        if (!got || !got->has_value() || **got == 0) {
          break;
        }
      }
    }
    return true;
  }

  /// Waits until a partial file of exactly `size` bytes is in the directory.
  bool wait_for_partial_file(std::uintmax_t size) {
    return wait_until([&] { return find_file(size, true); });
  }

  /// Waits until a published file of exactly `size` bytes is in the directory.
  bool wait_for_published_file(std::uintmax_t size) {
    return wait_until([&] { return find_file(size, false); });
  }

 private:
  bool find_file(std::uintmax_t size, bool partial) const {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(directory_, error)) {
      std::string name = entry.path().filename().string();
      bool is_partial = name.front() == '.';
      if (is_partial == partial && entry.file_size(error) == size && !error) {
        return true;
      }
    }
    return false;
  }

  std::filesystem::path directory_;
  sys::UniqueFd fd_;
};

}  // namespace zcrecv::daemon::harness
