/* The benchmark's client. It must cost little CPU (it shares the machine with the receiver), so
 * it writes from a pre-filled pattern buffer and drives every connection from one epoll loop.
 *
 * Usage: sender [OPTIONS] HOST:PORT|unix:PATH
 *   --bytes N       bytes per connection (default 0)
 *   --chunk N       bytes per write(2), at most 1 MiB (default 1 MiB)
 *   --conns N       connections in all (default 1)
 *   --parallel N    connections open at once (default: all of them)
 *   --await-close   after the last byte, shut down the write side and wait until the receiver
 *                   closes: the connection counts as done when the receiver is done with it
 *   --hold          open --conns idle connections, print "ready", wait for EOF on stdin, close
 *   --proxy-v2      start each connection with a PROXY protocol v2 header (28 bytes, TCP over
 *                   IPv4) naming client 192.0.2.1, port 1 + the connection's number % 65535,
 *                   written with the first bytes of the stream in one writev, as a proxy that
 *                   forwards a client's first segment does; --bytes counts the payload only
 *   --pattern       write the 1 MiB pattern to stdout and exit
 * Byte i of every connection is pattern[i % 1 MiB], so a receiver's output can be checksummed.
 * At the end it prints "start=S end=E bytes=B conns=C" (CLOCK_MONOTONIC seconds: just before
 * the first connect, and when the last connection was done). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>

#include "bench_net.h"
#include "bench_pattern.h"

enum { kPatternSize = kBenchPatternSize, kMaxChunk = 1 << 20, kMaxEvents = 256, kProxySize = 28 };

enum state { kConnecting, kSending, kDraining };

struct connection {
  int fd;
  enum state state;
  unsigned long long sent;
  unsigned char header[kProxySize];
  size_t header_left; /* bytes of the PROXY header not written yet, the last ones of `header` */
};

struct options {
  const char* address;
  unsigned long long bytes;
  unsigned long long chunk;
  unsigned long long conns;
  unsigned long long parallel;
  int await_close;
  int hold;
  int pattern;
  int proxy_v2;
};

/* The pattern, followed by its first kMaxChunk bytes again, so that a write of any chunk size
 * starting anywhere in the pattern reads one contiguous span. */
static unsigned char buffer[kPatternSize + kMaxChunk];

static void fill_pattern(void) {
  bench_fill_pattern(buffer);
  memcpy(buffer + kPatternSize, buffer, kMaxChunk);
}

static double now_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static unsigned long long parse_count(const char* name, const char* text) {
  char* end = NULL;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') {
    fprintf(stderr, "%s \"%s\": expected a non-negative integer\n", name, text);
    exit(2);
  }
  return value;
}

static struct options parse_options(int argc, char** argv) {
  struct options options = {NULL, 0, kMaxChunk, 1, 0, 0, 0, 0, 0};
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(arg, "--bytes") == 0 && has_value) {
      options.bytes = parse_count(arg, argv[++i]);
    } else if (strcmp(arg, "--chunk") == 0 && has_value) {
      options.chunk = parse_count(arg, argv[++i]);
    } else if (strcmp(arg, "--conns") == 0 && has_value) {
      options.conns = parse_count(arg, argv[++i]);
    } else if (strcmp(arg, "--parallel") == 0 && has_value) {
      options.parallel = parse_count(arg, argv[++i]);
    } else if (strcmp(arg, "--await-close") == 0) {
      options.await_close = 1;
    } else if (strcmp(arg, "--hold") == 0) {
      options.hold = 1;
    } else if (strcmp(arg, "--pattern") == 0) {
      options.pattern = 1;
    } else if (strcmp(arg, "--proxy-v2") == 0) {
      options.proxy_v2 = 1;
    } else if (arg[0] != '-' && options.address == NULL) {
      options.address = arg;
    } else {
      fprintf(stderr, "sender: unexpected argument \"%s\"\n", arg);
      exit(2);
    }
  }
  if (options.chunk == 0 || options.chunk > kMaxChunk) {
    fprintf(stderr, "--chunk %llu: must be 1..%d\n", options.chunk, kMaxChunk);
    exit(2);
  }
  if (options.parallel == 0 || options.parallel > options.conns) {
    options.parallel = options.conns;
  }
  if (!options.pattern && options.address == NULL) {
    fprintf(stderr, "usage: sender [OPTIONS] HOST:PORT|unix:PATH (see sender.c)\n");
    exit(2);
  }
  return options;
}

/* The v2 header of connection number `number`: PROXY, TCP over IPv4, from 192.0.2.1 (port
 * 1 + number % 65535) to 192.0.2.2:9000, no TLV. */
static void make_proxy_header(unsigned long long number, unsigned char header[kProxySize]) {
  static const unsigned char kFixed[16] = {'\r', '\n', '\r', '\n', 0,   '\r', '\n', 'Q',
                                           'U',  'I',  'T',  '\n', 0x21, 0x11, 0,    12};
  static const unsigned char kAddresses[8] = {192, 0, 2, 1, 192, 0, 2, 2};
  unsigned port = 1 + (unsigned)(number % 65535);
  memcpy(header, kFixed, sizeof kFixed);
  memcpy(header + 16, kAddresses, sizeof kAddresses);
  header[24] = (unsigned char)(port >> 8);
  header[25] = (unsigned char)port;
  header[26] = 9000 >> 8;
  header[27] = 9000 & 0xff;
}

/* Unix sockets connect at once or block while the backlog is full, so they connect blocking;
 * TCP connects non-blocking and finishes in the loop. */
static void open_connection(const struct bench_address* address, const char* text,
                            int blocking_connect, struct connection* connection) {
  int fd = socket(address->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    bench_die("socket", text);
  }
  int blocking = blocking_connect || address->family == AF_UNIX;
  if (!blocking && fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
    bench_die("fcntl O_NONBLOCK", text);
  }
  int connected = connect(fd, (const struct sockaddr*)&address->storage, address->length);
  if (connected != 0 && !(errno == EINPROGRESS && !blocking)) {
    bench_die("connect", text);
  }
  if (blocking && fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
    bench_die("fcntl O_NONBLOCK", text);
  }
  connection->fd = fd;
  connection->state = connected == 0 ? kSending : kConnecting;
  connection->sent = 0;
  connection->header_left = 0;
}

/* Writes up to `length` payload bytes, after what is left of the PROXY header if any, in one
 * call; returns the payload bytes written, or -1 with errno. */
static ssize_t write_payload(struct connection* connection, const unsigned char* data,
                             size_t length) {
  if (connection->header_left == 0) {
    return write(connection->fd, data, length);
  }
  struct iovec parts[2] = {
      {connection->header + kProxySize - connection->header_left, connection->header_left},
      {(void*)data, length}};
  ssize_t written = writev(connection->fd, parts, 2);
  if (written < 0) {
    return written;
  }
  size_t header = (size_t)written < connection->header_left ? (size_t)written
                                                              : connection->header_left;
  connection->header_left -= header;
  return written - (ssize_t)header;
}

static void watch(int epoll_fd, int op, struct connection* connection) {
  struct epoll_event event;
  event.events = connection->state == kDraining ? EPOLLIN : EPOLLOUT;
  event.data.ptr = connection;
  if (epoll_ctl(epoll_fd, op, connection->fd, &event) != 0) {
    bench_die("epoll_ctl", "connection");
  }
}

/* Moves one connection as far as it can go without blocking; returns 1 when it is done. */
static int advance(int epoll_fd, const struct options* options, struct connection* connection) {
  if (connection->state == kConnecting) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(connection->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
      bench_die("getsockopt SO_ERROR", options->address);
    }
    if (error != 0) {
      errno = error;
      bench_die("connect", options->address);
    }
    connection->state = kSending;
  }
  if (connection->state == kSending) {
    while (connection->sent < options->bytes || connection->header_left > 0) {
      unsigned long long left = options->bytes - connection->sent;
      size_t length = (size_t)(left < options->chunk ? left : options->chunk);
      ssize_t written =
          write_payload(connection, buffer + connection->sent % kPatternSize, length);
      if (written < 0 && errno == EAGAIN) {
        return 0;
      }
      if (written < 0) {
        bench_die("write", options->address);
      }
      connection->sent += (unsigned long long)written;
    }
    if (!options->await_close) {
      close(connection->fd);
      return 1;
    }
    if (shutdown(connection->fd, SHUT_WR) != 0) {
      bench_die("shutdown", options->address);
    }
    connection->state = kDraining;
    watch(epoll_fd, EPOLL_CTL_MOD, connection);
    return 0;
  }
  char scratch[4096];
  for (;;) {
    ssize_t got = read(connection->fd, scratch, sizeof scratch);
    if (got == 0) {
      close(connection->fd);
      return 1;
    }
    if (got < 0 && errno == EAGAIN) {
      return 0;
    }
    if (got < 0) {
      bench_die("read (waiting for the receiver to close)", options->address);
    }
  }
}

static void run_streams(const struct options* options, const struct bench_address* address) {
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    bench_die("epoll_create1", "sender");
  }
  struct connection* slots = calloc(options->parallel, sizeof *slots);
  if (slots == NULL) {
    bench_die("calloc", "connections");
  }
  unsigned long long started = 0;
  unsigned long long done = 0;
  for (; started < options->parallel; ++started) {
    open_connection(address, options->address, 0, &slots[started]);
    if (options->proxy_v2) {
      make_proxy_header(started, slots[started].header);
      slots[started].header_left = kProxySize;
    }
    watch(epoll_fd, EPOLL_CTL_ADD, &slots[started]);
  }
  struct epoll_event events[kMaxEvents];
  while (done < options->conns) {
    int ready = epoll_wait(epoll_fd, events, kMaxEvents, -1);
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready < 0) {
      bench_die("epoll_wait", "sender");
    }
    for (int i = 0; i < ready; ++i) {
      struct connection* connection = events[i].data.ptr;
      if (!advance(epoll_fd, options, connection)) {
        continue;
      }
      ++done;
      if (started < options->conns) {
        open_connection(address, options->address, 0, connection);
        if (options->proxy_v2) {
          make_proxy_header(started, connection->header);
          connection->header_left = kProxySize;
        }
        ++started;
        watch(epoll_fd, EPOLL_CTL_ADD, connection);
      }
    }
  }
  free(slots);
  close(epoll_fd);
}

static void hold_idle(const struct options* options, const struct bench_address* address) {
  struct connection* connections = calloc(options->conns, sizeof *connections);
  if (connections == NULL) {
    bench_die("calloc", "connections");
  }
  for (unsigned long long i = 0; i < options->conns; ++i) {
    open_connection(address, options->address, 1, &connections[i]);
  }
  printf("ready\n");
  fflush(stdout);
  char scratch[64];
  while (read(STDIN_FILENO, scratch, sizeof scratch) > 0) {
  }
  for (unsigned long long i = 0; i < options->conns; ++i) {
    close(connections[i].fd);
  }
  free(connections);
}

int main(int argc, char** argv) {
  struct options options = parse_options(argc, argv);
  fill_pattern();
  if (options.pattern) {
    return fwrite(buffer, 1, kPatternSize, stdout) == kPatternSize ? 0 : 1;
  }
  /* Thousands of connections need thousands of fds; the hard limit is as far as we may go. */
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &limit);
  }
  struct bench_address address = bench_parse_address(options.address);
  double start = now_seconds();
  if (options.hold) {
    hold_idle(&options, &address);
  } else {
    run_streams(&options, &address);
  }
  double end = now_seconds();
  printf("start=%.6f end=%.6f bytes=%llu conns=%llu\n", start, end, options.bytes * options.conns,
         options.conns);
  return 0;
}
