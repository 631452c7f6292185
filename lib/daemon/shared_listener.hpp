#pragma once

#include <memory>
#include <utility>

#include "daemon/log_limiter.hpp"
#include "net/listener.hpp"

namespace zcrecv::daemon {

/// A listening socket watched by every worker (EPOLLEXCLUSIVE: the kernel wakes one of them per
/// connection), with the rate limit of its rejection log lines. Each worker holds a reference;
/// the socket closes (and its Unix socket file goes) when the last worker lets go of it, after
/// every worker has taken it out of its epoll set.
struct SharedListener : std::enable_shared_from_this<SharedListener> {
  explicit SharedListener(net::Listener opened) : listener(std::move(opened)) {}

  net::Listener listener;
  LogLimiter rejections;
};

}  // namespace zcrecv::daemon
