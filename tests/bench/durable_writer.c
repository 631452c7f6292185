/* The disk's own parallel rate of durable publishing, with no network and no receiver: THREADS
 * threads each create a file, write SIZE bytes of the pattern, fdatasync it, rename it to its
 * final name and fsync the directory, over and over, until COUNT files are published in all.
 * Usage: durable_writer DIR THREADS COUNT [SIZE]   (SIZE default 1024, at most 1 MiB)
 * Files: DIR/.N.partial while written, DIR/N.bin once published. Prints
 * "start=S end=E files=N" (CLOCK_MONOTONIC seconds: before the first thread starts, after the
 * last one ended). */
#include "bench_file.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "bench_pattern.h"

static unsigned char pattern[kBenchPatternSize];
static const char* directory;
static int dir_fd;
static unsigned long count;
static size_t size = 1024;
static atomic_ulong next_file;

static double now_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void* writer(void* unused) {
  (void)unused;
  for (;;) {
    unsigned long n = atomic_fetch_add(&next_file, 1);
    if (n >= count) {
      return NULL;
    }
    struct bench_durable_file file = bench_durable_create(dir_fd, n);
    bench_write_all(file.fd, pattern, size, file.partial);
    bench_durable_publish(&file, dir_fd, directory);
  }
}

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: durable_writer DIR THREADS COUNT [SIZE]\n");
    return 2;
  }
  directory = argv[1];
  unsigned long threads = strtoul(argv[2], NULL, 10);
  count = strtoul(argv[3], NULL, 10);
  if (argc == 5) {
    size = strtoul(argv[4], NULL, 10);
  }
  if (threads == 0 || threads > 1024 || size > kBenchPatternSize) {
    fprintf(stderr, "durable_writer: THREADS must be 1..1024 and SIZE at most 1 MiB\n");
    return 2;
  }
  bench_fill_pattern(pattern);
  dir_fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    bench_die("open", directory);
  }
  pthread_t ids[1024];
  double start = now_seconds();
  for (unsigned long i = 0; i < threads; ++i) {
    int error = pthread_create(&ids[i], NULL, writer, NULL);
    if (error != 0) {
      errno = error;
      bench_die("pthread_create", "writer");
    }
  }
  for (unsigned long i = 0; i < threads; ++i) {
    pthread_join(ids[i], NULL);
  }
  double end = now_seconds();
  printf("start=%.6f end=%.6f files=%lu\n", start, end, count);
  return 0;
}
