/* Files as the benchmark's C contenders write them. A durable publish is the simplest correct
 * one: DIR/.N.partial is written, fdatasync'ed, renamed to DIR/N.bin, and DIR is fsync'ed.
 * Failures print the call and the object and exit 1, like bench_net.h. */
#pragma once

#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "bench_net.h"

/* Writes all `size` bytes of `data` to `fd` (`name` only names it in an error). */
static inline void bench_write_all(int fd, const void* data, size_t size, const char* name) {
  for (size_t done = 0; done < size;) {
    ssize_t written = write(fd, (const char*)data + done, size - done);
    if (written <= 0) {
      bench_die("write", name);
    }
    done += (size_t)written;
  }
}

struct bench_durable_file {
  int fd;
  char partial[32];
  char final_name[32];
};

/* Creates DIR/.N.partial (which must not exist) for writing. */
static inline struct bench_durable_file bench_durable_create(int dir_fd, unsigned long n) {
  struct bench_durable_file file;
  snprintf(file.partial, sizeof file.partial, ".%lu.partial", n);
  snprintf(file.final_name, sizeof file.final_name, "%lu.bin", n);
  file.fd = openat(dir_fd, file.partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (file.fd < 0) {
    bench_die("openat", file.partial);
  }
  return file;
}

/* fdatasync, close, rename to N.bin, fsync the directory (`directory` names it in an error). */
static inline void bench_durable_publish(const struct bench_durable_file* file, int dir_fd,
                                         const char* directory) {
  if (fdatasync(file->fd) != 0) {
    bench_die("fdatasync", file->partial);
  }
  close(file->fd);
  if (renameat(dir_fd, file->partial, dir_fd, file->final_name) != 0) {
    bench_die("renameat", file->final_name);
  }
  if (fsync(dir_fd) != 0) {
    bench_die("fsync", directory);
  }
}
