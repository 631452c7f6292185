/* The sequential durable server, the simplest correct way to publish each connection as a
 * durable file: accept one connection at a time, read it to its end into a new file, fdatasync
 * it, rename it to its final name, fsync the directory, and only then close the connection (so
 * a sender that waits for the close knows its bytes are on disk). Exits after COUNT connections.
 * Usage: durable_server ADDRESS DIR COUNT
 * Files: DIR/.N.partial while receiving, DIR/N.bin once published (N = 0, 1, ...). */
#include "bench_file.h"

enum { kBufferSize = 64 << 10 };

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: durable_server HOST:PORT|unix:PATH DIR COUNT\n");
    return 2;
  }
  const char* directory = argv[2];
  unsigned long count = strtoul(argv[3], NULL, 10);
  int dir_fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    bench_die("open", directory);
  }
  int listener = bench_listen(argv[1], 128);
  static char buffer[kBufferSize];
  unsigned long long total = 0;
  for (unsigned long n = 0; n < count; ++n) {
    int connection = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (connection < 0) {
      bench_die("accept4", argv[1]);
    }
    struct bench_durable_file file = bench_durable_create(dir_fd, n);
    for (;;) {
      ssize_t in = read(connection, buffer, sizeof buffer);
      if (in < 0) {
        bench_die("read", "socket");
      }
      if (in == 0) {
        break;
      }
      bench_write_all(file.fd, buffer, (size_t)in, file.partial);
      total += (unsigned long long)in;
    }
    bench_durable_publish(&file, dir_fd, directory);
    close(connection);
  }
  close(listener);
  bench_unlink_listener(argv[1]);
  printf("published=%lu received %llu\n", count, total);
  return 0;
}
