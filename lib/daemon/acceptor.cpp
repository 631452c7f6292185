#include "daemon/acceptor.hpp"

#include <sys/epoll.h>

#include <utility>

#include "daemon/worker.hpp"

namespace zcrecv::daemon {

// EPOLLEXCLUSIVE: every worker watches the same listening socket, and a connection should wake
// one of them, not all (§4.1). The AcceptWatch takes the socket out of the set for a while when
// accept fails (EMFILE, ENFILE…), since a level-triggered watch would otherwise spin.
Acceptor::Acceptor(Worker& worker, std::shared_ptr<SharedListener> listener,
                   std::shared_ptr<const ListenerSettings> settings)
    : worker_(worker),
      listener_(std::move(listener)),
      settings_(std::move(settings)),
      watch_(worker.loop(), listener_->listener, "listener " + settings_->name,
             {.max_per_event = kMaxAcceptsPerEvent, .epoll_flags = EPOLLEXCLUSIVE},
             [this](net::AcceptedConnection connection) {
               worker_.admit(std::move(connection), listener_, settings_);
             }) {}

void Acceptor::set_settings(std::shared_ptr<const ListenerSettings> settings) {
  // Connections already admitted keep the settings they were admitted with; only new ones see
  // these (§4.2).
  settings_ = std::move(settings);
  watch_.set_name("listener " + settings_->name);
}

}  // namespace zcrecv::daemon
