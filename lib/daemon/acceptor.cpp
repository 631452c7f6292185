#include "daemon/acceptor.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>

#include <utility>

#include "daemon/worker.hpp"

namespace zcrecv::daemon {

Acceptor::Acceptor(Worker& worker, std::shared_ptr<SharedListener> listener,
                   std::shared_ptr<const ListenerSettings> settings)
    : worker_(worker),
      listener_(std::move(listener)),
      settings_(std::move(settings)),
      backoff_(worker.loop(), [this] {
        if (auto watched = watch(); !watched) {
          back_off(watched.error());
        }
      }) {}

Acceptor::~Acceptor() {
  if (watching_) {
    (void)worker_.loop().remove(listener_->listener.fd());
  }
}

sys::Result<void> Acceptor::start() { return watch(); }

sys::Result<void> Acceptor::watch() {
  // EPOLLEXCLUSIVE: every worker watches the same socket, and a connection wakes one of them,
  // not all (Linux 4.5).
  auto added = worker_.loop().add(listener_->listener.fd(), EPOLLIN | EPOLLEXCLUSIVE, *this);
  if (!added) {
    return std::move(added).error().with_context("listener " + settings_->name);
  }
  watching_ = true;
  return {};
}

void Acceptor::on_event(std::uint32_t /*events*/) {
  for (int i = 0; i < kMaxAcceptsPerEvent; ++i) {
    auto accepted = listener_->listener.accept();
    if (!accepted) {
      back_off(accepted.error());
      return;
    }
    if (!accepted->has_value()) {
      return;
    }
    in_burst_ = false;
    worker_.admit(std::move(**accepted), listener_, settings_);
  }
}

void Acceptor::accept_queued() {
  for (;;) {
    auto accepted = listener_->listener.accept();
    if (!accepted || !accepted->has_value()) {
      return;
    }
    worker_.admit(std::move(**accepted), listener_, settings_);
  }
}

void Acceptor::back_off(const sys::Error& error) {
  // Out of descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM), the queued connection
  // stays queued and the socket stays readable: watching it now would spin. Any other failure
  // of accept is as persistent, and handled the same way.
  if (!in_burst_) {
    spdlog::warn("listener {}: {}; pausing accepts for {} ms", settings_->name, error.message(),
                 kBackoff.count());
    in_burst_ = true;
  }
  if (watching_) {
    (void)worker_.loop().remove(listener_->listener.fd());
    watching_ = false;
  }
  backoff_.arm(kBackoff);
}

}  // namespace zcrecv::daemon
