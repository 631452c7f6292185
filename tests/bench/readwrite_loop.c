/* The practical limit of a user-space copy: accept one connection, read(2) it into a 256 KiB
 * buffer (zcrecv's fallback buffer size) and write(2) it to a file, exit.
 * Usage: readwrite_loop ADDRESS OUTFILE */
#include "bench_file.h"

enum { kBufferSize = 256 << 10 };

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: readwrite_loop HOST:PORT|unix:PATH OUTFILE\n");
    return 2;
  }
  int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    bench_die("open", argv[2]);
  }
  static char buffer[kBufferSize];
  int connection = bench_accept_one(argv[1]);
  unsigned long long total = 0;
  for (;;) {
    ssize_t in = read(connection, buffer, sizeof buffer);
    if (in < 0) {
      bench_die("read", "socket");
    }
    if (in == 0) {
      break;
    }
    bench_write_all(out, buffer, (size_t)in, argv[2]);
    total += (unsigned long long)in;
  }
  printf("received %llu\n", total);
  return 0;
}
