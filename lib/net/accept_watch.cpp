#include "net/accept_watch.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>

#include <utility>

#include "log/event.hpp"

namespace zcrecv::net {

AcceptWatch::AcceptWatch(event::EventLoop& loop, Listener& listener, std::string name,
                         Options options, Admit admit)
    : loop_(loop),
      listener_(listener),
      name_(std::move(name)),
      options_(options),
      admit_(std::move(admit)),
      backoff_(loop, [this] {
        if (auto watched = watch(); !watched) {
          back_off(watched.error());
        }
      }) {}

AcceptWatch::~AcceptWatch() {
  if (watching_) {
    (void)loop_.remove(listener_.fd());
  }
}

sys::Result<void> AcceptWatch::start() { return watch(); }

sys::Result<void> AcceptWatch::watch() {
  if (auto added = loop_.add(listener_.fd(), EPOLLIN | options_.epoll_flags, *this); !added) {
    return std::move(added).error().with_context(name_);
  }
  watching_ = true;
  return {};
}

void AcceptWatch::on_event(std::uint32_t /*events*/) {
  for (int i = 0; i < options_.max_per_event; ++i) {
    auto accepted = listener_.accept();
    if (!accepted) {
      back_off(accepted.error());
      return;
    }
    if (!accepted->has_value()) {
      return;
    }
    // A success ends the burst: the next failure is a new problem and is warned about again.
    in_burst_ = false;
    admit_(std::move(**accepted));
  }
}

// No limit per call, unlike on_event: at shutdown, connections already in the queue have completed
// their handshake and would be reset by the listener's close, so they are taken in and served.
void AcceptWatch::accept_queued() {
  for (;;) {
    auto accepted = listener_.accept();
    if (!accepted || !accepted->has_value()) {
      return;
    }
    admit_(std::move(**accepted));
  }
}

void AcceptWatch::back_off(const sys::Error& error) {
  if (!in_burst_) {
    log::event(spdlog::level::warn, "accept_paused",
               {{"source", name_}, {"error", error.message()}, {"pause_ms", options_.backoff.count()}},
               fmt::format("{}: {}; pausing accepts for {} ms", name_, error.message(),
                           options_.backoff.count()));
    in_burst_ = true;
  }
  // Out of the epoll set rather than watched for no event: the queued connection keeps the
  // socket readable, and a level-triggered watch would fire again at once. The timer puts it
  // back.
  if (watching_) {
    (void)loop_.remove(listener_.fd());
    watching_ = false;
  }
  backoff_.arm(options_.backoff);
}

}  // namespace zcrecv::net
