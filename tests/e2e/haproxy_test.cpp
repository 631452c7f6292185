// The real zcrecv binary behind a real HAProxy 2.6 (Debian's), as docs/scale-out.md configures
// it: send-proxy and send-proxy-v2 (with CRC32C) into a TCP and a Unix listener, health checks
// on for the whole test, and TLS terminated in HAProxy with client certificates from a test CA
// made by the openssl command, its CN in the file names through {client_cn}.

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/loopback.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/sender.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kClientCn = "sensor-42.example";

void require_program(const std::string& path) {
  REQUIRE_MESSAGE(fs::exists(path), (path + " is missing: run .ci/install-deps"));
}

// Runs a helper to its end; fails the test, with its stderr, unless it exits 0.
void run(const std::vector<std::string>& argv) {
  Process process(argv);
  const int status = process.wait(60s);
  REQUIRE_MESSAGE(status == 0,
                  (argv.front() + " " + argv.at(1) + " failed: " + process.stderr_text()));
}

// A test CA, a server certificate for HAProxy (CN localhost) and a client certificate (CN
// kClientCn), made with the openssl command into `dir`: ca.pem, server.pem (certificate and
// key, as HAProxy's `crt` takes them), client.crt and client.key.
void make_pki(const fs::path& dir) {
  const auto path = [&](const char* name) { return (dir / name).string(); };
  const std::vector<std::string> ec_key{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                        "-nodes"};
  auto request = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin() + 2, ec_key.begin(), ec_key.end());
    run(argv);
  };
  request({"openssl", "req", "-x509", "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days",
           "2", "-subj", "/CN=zcrecv test CA", "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign"});
  for (const auto& [name, subject] : {std::pair{"server", "/CN=localhost"},
                                      std::pair{"client", "/CN=sensor-42.example"}}) {
    const std::string base = (dir / name).string();
    request({"openssl", "req", "-keyout", base + ".key", "-out", base + ".csr", "-subj",
             subject});
    run({"openssl", "x509", "-req", "-in", base + ".csr", "-CA", path("ca.pem"), "-CAkey",
         path("ca.key"), "-CAcreateserial", "-out", base + ".crt", "-days", "2"});
  }
  std::ofstream(dir / "server.pem") << std::ifstream(dir / "server.crt").rdbuf()
                                    << std::ifstream(dir / "server.key").rdbuf();
}

// A listening socket on 127.0.0.1, port chosen by the kernel, that HAProxy takes over with
// `bind fd@N`: it listens before HAProxy starts, so a client never needs to wait for HAProxy.
struct Frontend {
  sys::UniqueFd fd;
  net::SocketAddress address;

  static Frontend open() {
    auto fd = sys::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd.ok());
    const auto any = ip("127.0.0.1", 0);
    REQUIRE(sys::bind(fd->get(), any.data(), any.size()).ok());
    REQUIRE(sys::listen(fd->get(), 64).ok());
    auto local = net::SocketAddress::local_of(fd->get());
    REQUIRE(local.ok());
    return Frontend{std::move(*fd), *local};
  }
  [[nodiscard]] std::string bind() const { return "fd@" + std::to_string(fd.get()); }
};

std::string frontend(const std::string& name, const std::string& bind,
                     const std::string& server) {
  return "frontend " + name + "\n  bind " + bind + "\n  default_backend " + name + "\n" +
         "backend " + name + "\n  server zcrecv " + server + " check inter 100ms\n";
}

// One client stream through HAProxy: sent from 127.0.0.5, it must land, byte-exact, in a file
// named after that address and port.
struct Stream {
  std::string listener;
  std::uint16_t client_port = 0;
  std::vector<std::byte> data;
};

// The only file under `out` whose name starts with `prefix`, read; fails the test otherwise.
std::vector<std::byte> file_starting(const fs::path& out, const std::string& prefix) {
  const auto files = list_files(out);
  const auto count = std::count_if(files.begin(), files.end(), [&](const std::string& name) {
    return name.starts_with(prefix);
  });
  INFO("files: ", files.size(), ", wanted one starting with ", prefix);
  REQUIRE(count == 1);
  return read_file(out / *std::find_if(files.begin(), files.end(), [&](const std::string& name) {
    return name.starts_with(prefix);
  }));
}

TEST_CASE("HAProxy e2e: send-proxy, send-proxy-v2 and TLS with client certificates") {
  for (const char* program : {"/usr/sbin/haproxy", "/usr/bin/openssl", "/usr/bin/socat"}) {
    require_program(program);
  }
  TempDir dir;
  make_pki(dir.path());

  const fs::path out = dir / "out";
  const fs::path socket = dir / "in.sock";
  const fs::path config = dir / "zcrecv.toml";
  std::ofstream(config) << "log_level = \"debug\"\nworkers = 2\n\n"
                        << "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"tcp\"\n"
                        << "proxy_protocol = true\nproxy_from = [\"127.0.0.1/32\"]\n\n"
                        << "[[listen]]\naddress = \"unix:" << socket.string() << "\"\n"
                        << "name = \"unix\"\nproxy_protocol = true\n\n"
                        << "[[listen]]\naddress = \"127.0.0.1:0\"\nname = \"tls\"\n"
                        << "proxy_protocol = true\nproxy_from = [\"127.0.0.1/32\"]\n\n"
                        << "[output]\ndirectory = \"" << out.string() << "\"\n"
                        << "name = \"{listener}/{client_cn}/{peer}-{conn}-{seq}.bin\"\n"
                        << "sync = \"none\"\n";
  Process zcrecv({zcrecv_binary(), "-c", config.string()});
  const auto tcp = listening_address(zcrecv.wait_for_stderr("(tcp)"));
  const std::string unix_server = "unix@" + socket.string();
  const auto tls = listening_address(zcrecv.wait_for_stderr("(tls)"));
  zcrecv.wait_for_stderr("(unix)");

  std::vector<Frontend> frontends;
  for (int i = 0; i < 5; ++i) {
    frontends.push_back(Frontend::open());
  }
  const fs::path haproxy_config = dir / "haproxy.cfg";
  std::ofstream(haproxy_config)
      << "global\n  log stderr format raw local0 info\n"
      << "defaults\n  mode tcp\n  log global\n  option tcplog\n  timeout connect 5s\n"
      << "  timeout client 30s\n  timeout server 30s\n"
      << frontend("v1_tcp", frontends[0].bind(), tcp.to_string() + " send-proxy")
      << frontend("v2_tcp", frontends[1].bind(),
                  tcp.to_string() + " send-proxy-v2 proxy-v2-options crc32c")
      << frontend("v1_unix", frontends[2].bind(), unix_server + " send-proxy")
      << frontend("v2_unix", frontends[3].bind(),
                  unix_server + " send-proxy-v2 proxy-v2-options crc32c")
      << frontend("tls",
                  frontends[4].bind() + " ssl crt " + (dir / "server.pem").string() +
                      " ca-file " + (dir / "ca.pem").string() + " verify required",
                  tls.to_string() + " send-proxy-v2 proxy-v2-options ssl,cert-cn,crc32c");
  Process::Options inherit;
  for (const Frontend& front : frontends) {
    inherit.inherited_fds.push_back(front.fd.get());
  }
  Process haproxy({"haproxy", "-f", haproxy_config.string(), "-db"}, inherit);

  // The health checks reach every listener, as the proxy's own connections, logged at debug.
  for (const char* listener : {" on tcp from 127.0.0.1:", " on unix from unix uid=",
                               " on tls from 127.0.0.1:"}) {
    CHECK(zcrecv.wait_for_stderr(std::string(listener)).find(
              " (the proxy's own connection): 0 bytes, 0 files, ") != std::string::npos);
  }

  std::vector<Stream> streams;
  for (std::size_t i = 0; i < 4; ++i) {
    sys::UniqueFd client = connect_from("127.0.0.5", frontends[i].address);
    auto self = net::SocketAddress::local_of(client.get());
    REQUIRE(self.ok());
    streams.push_back(Stream{i < 2 ? "tcp" : "unix", self->port(),
                             random_bytes(300'000 + i * 4099, 1100 + i)});
    Sender sender(std::move(client), streams.back().data);
    CHECK(sender.join().empty());
    const std::string ended = zcrecv.wait_for_stderr(
        " on " + streams.back().listener + " from 127.0.0.5:" + std::to_string(self->port()));
    CHECK(ended.find(i < 2 ? " via 127.0.0.1:" : " via unix uid=") != std::string::npos);
    CHECK(ended.find(": " + std::to_string(streams.back().data.size()) + " bytes, 1 files, ") !=
          std::string::npos);
  }

  // TLS: the client presents its certificate to HAProxy, which passes its CN on.
  const auto secret = random_bytes(200'000, 1200);
  const fs::path secret_file = dir / "secret.bin";
  {
    std::ofstream file(secret_file, std::ios::binary);
    file.write(reinterpret_cast<const char*>(secret.data()),
               static_cast<std::streamsize>(secret.size()));
  }
  const std::string tls_target = "OPENSSL:" + frontends[4].address.to_string() +
                                 ",commonname=localhost,cafile=" + (dir / "ca.pem").string();
  run({"socat", "-u", "FILE:" + secret_file.string(),
       tls_target + ",bind=127.0.0.6,cert=" + (dir / "client.crt").string() +
           ",key=" + (dir / "client.key").string()});
  CHECK(zcrecv.wait_for_stderr(" on tls from 127.0.0.6:")
            .find(" (TLS, client certificate CN \"sensor-42.example\", verified): 200000 bytes, "
                  "1 files, ") != std::string::npos);
  // Without a certificate HAProxy ends the handshake (socat may not notice: with TLS 1.3 it can
  // have written everything before the alert comes), and zcrecv never hears of the client.
  Process anonymous({"socat", "-u", "FILE:" + secret_file.string(), tls_target + ",bind=127.0.0.7"});
  anonymous.wait(60s);
  CHECK(haproxy.wait_for_stderr("127.0.0.7:").find("SSL handshake failure") != std::string::npos);

  zcrecv.signal(SIGUSR2);
  CHECK(zcrecv.wait_for_stderr("statistics: ")
            .find("proxy header failures not_allowed=0 timeout=0 invalid=0") !=
        std::string::npos);
  haproxy.signal(SIGTERM);
  haproxy.wait();
  CHECK(haproxy.stderr_text().find(" is DOWN") == std::string::npos);
  zcrecv.signal(SIGTERM);
  CHECK(zcrecv.wait() == 0);

  // One file per client, byte-exact, {peer} the client and {client_cn} its certificate's CN
  // ("+nocert" without one); none from the health checks or the client HAProxy refused.
  CHECK(list_files(out).size() == streams.size() + 1);
  for (const Stream& stream : streams) {
    CHECK(file_starting(out, stream.listener + "/+nocert/127.0.0.5_" +
                                 std::to_string(stream.client_port) + "-") == stream.data);
  }
  CHECK(file_starting(out, std::string("tls/") + kClientCn + "/127.0.0.6_") == secret);
  CHECK(zcrecv.stderr_text().find("127.0.0.7") == std::string::npos);
}

}  // namespace
}  // namespace zcrecv::test
