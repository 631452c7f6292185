/* The C sender of scenarios 11 and 13: connect, sendfile(2) the whole file, close; the
 * practical limit of the sendfile path, as splice_loop.c is of the splice path. No error
 * handling beyond "say and exit 1". Usage: sendfile_sender HOST:PORT|unix:PATH FILE */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include "bench_net.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: sendfile_sender HOST:PORT|unix:PATH FILE\n");
    return 2;
  }
  int file = open(argv[2], O_RDONLY | O_CLOEXEC);
  struct stat status;
  if (file < 0 || fstat(file, &status) != 0) {
    bench_die("open", argv[2]);
  }
  struct bench_address address = bench_parse_address(argv[1]);
  int connection = socket(address.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connection < 0 ||
      connect(connection, (struct sockaddr*)&address.storage, address.length) != 0) {
    bench_die("connect", argv[1]);
  }
  off_t offset = 0;
  while (offset < status.st_size) {
    ssize_t sent = sendfile(connection, file, &offset, (size_t)(status.st_size - offset));
    if (sent <= 0) {
      bench_die("sendfile", argv[2]);
    }
  }
  close(connection);
  printf("sent %lld\n", (long long)offset);
  return 0;
}
