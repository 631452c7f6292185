#include "support/daemon_process.hpp"

#include <doctest/doctest.h>

#include <algorithm>

namespace zcrecv::test {

DaemonProcess::DaemonProcess(const TempDir& dir, const std::vector<std::string>& extra,
                             const std::vector<std::string>& launcher)
    : out_(dir / "out"), process_(args(dir, extra, launcher)) {
  tcp_ = listening_address(process_.wait_for_stderr("listening on 127.0.0.1"));
  unix_ = listening_address(process_.wait_for_stderr("listening on unix:"));
}

std::vector<std::string> DaemonProcess::args(const TempDir& dir,
                                             const std::vector<std::string>& extra,
                                             const std::vector<std::string>& launcher) {
  std::vector<std::string> argv = launcher;
  for (const std::string& arg :
       {zcrecv_binary(), std::string("-l"), std::string("127.0.0.1:0"), std::string("-l"),
        "unix:" + (dir / "in.sock").string(), std::string("-o"), (dir / "out").string(),
        std::string("--name"), std::string(kStreamTemplate)}) {
    argv.push_back(arg);
  }
  // Two workers unless the test asks for its own number (an option may be given only once).
  if (std::find(extra.begin(), extra.end(), "--workers") == extra.end()) {
    argv.insert(argv.end(), {"--workers", "2"});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

StreamFiles recovered_stream(const TempDir& dir, const std::vector<std::string>& extra) {
  DaemonProcess restarted(dir, extra);
  restarted.process().wait_for_stderr("recovered a partial file");
  CHECK(restarted.stop() == 0);
  return only_stream(restarted.out());
}

}  // namespace zcrecv::test
