#include "oneshot/stdout_sink.hpp"

#include <unistd.h>

namespace zcrecv::oneshot {

sys::Result<int> StdoutSink::open() { return STDOUT_FILENO; }

}  // namespace zcrecv::oneshot
