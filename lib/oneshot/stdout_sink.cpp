#include "oneshot/stdout_sink.hpp"

#include <unistd.h>

namespace zcrecv::oneshot {

// Descriptor 1 itself, not a duplicate: the pump sees what it is (pipe, FIFO, terminal, file) with
// fstat and picks the data path from that (io::PumpStream::set_sink).
sys::Result<int> StdoutSink::open() { return STDOUT_FILENO; }

}  // namespace zcrecv::oneshot
