/* The practical limit of splice: accept one connection, move it socket -> pipe -> file with
 * blocking splice(2) calls and a 1 MiB pipe, exit. No error handling beyond "say and exit 1".
 * Usage: splice_loop ADDRESS OUTFILE */
#define _GNU_SOURCE
#include <fcntl.h>

#include "bench_net.h"

enum { kPipeSize = 1 << 20 };

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: splice_loop HOST:PORT|unix:PATH OUTFILE\n");
    return 2;
  }
  int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    bench_die("open", argv[2]);
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    bench_die("pipe2", "splice pipe");
  }
  /* Without CAP_SYS_RESOURCE above fs.pipe-max-size this fails; the default 64 KiB still works. */
  (void)fcntl(pipe_fds[1], F_SETPIPE_SZ, kPipeSize);
  int connection = bench_accept_one(argv[1]);
  unsigned long long total = 0;
  for (;;) {
    ssize_t in = splice(connection, NULL, pipe_fds[1], NULL, kPipeSize, SPLICE_F_MOVE);
    if (in < 0) {
      bench_die("splice", "socket -> pipe");
    }
    if (in == 0) {
      break;
    }
    while (in > 0) {
      ssize_t moved = splice(pipe_fds[0], NULL, out, NULL, (size_t)in, SPLICE_F_MOVE);
      if (moved <= 0) {
        bench_die("splice", "pipe -> file");
      }
      in -= moved;
      total += (unsigned long long)moved;
    }
  }
  printf("received %llu\n", total);
  return 0;
}
