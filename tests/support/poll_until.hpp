#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace zcrecv::test {

/// Checks `condition` every 2 ms until it holds; throws, naming `what`, after `timeout`. Only for
/// states nothing announces (a file's size, a process's descriptor table): wait on a descriptor
/// or a log line wherever one exists.
void poll_until(const std::function<bool()>& condition, const std::string& what,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace zcrecv::test
