/* The stall probe: while something else loads the receiver, open a short connection on a fixed
 * schedule and time each one from just before connect(2) to the receiver's close. The schedule
 * does not wait for earlier probes (an open loop), so a receiver that stalls for a second is
 * seen by every probe due in that second, not just by one.
 *
 * Usage: probe [OPTIONS] HOST:PORT|unix:PATH
 *   --interval-ms N  a new probe every N ms (default 20)
 *   --closed         a closed loop instead: at most one probe open; one that is due while the
 *                    previous is still open starts when that one ends (a stall then shows in
 *                    one probe, not in every probe due during it)
 *   --bytes N        bytes each probe writes, from the pattern, at most 1 MiB (default 1024)
 *   --drain S        after stdin's EOF, wait at most S seconds for the probes still open
 *                    (default 60); those still open then are reported as unfinished
 * Probes start at once and go on until stdin reaches EOF. Each probe writes its bytes, shuts
 * down its write side and waits for the receiver to close (read returns 0).
 * Output, one line per probe in start order, then a summary:
 *   probe start=S latency=L        (S: CLOCK_MONOTONIC seconds at connect, L: seconds)
 *   probe start=S error=WHAT       (the connection failed; WHAT is the call and errno name)
 *   probe start=S unfinished       (still open when the drain time ran out)
 *   probes=N ok=K errors=E unfinished=U */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

#include "bench_net.h"
#include "bench_pattern.h"

enum { kMaxEvents = 256 };

enum state { kConnecting, kSending, kDraining, kDone };

struct probe {
  int fd;
  enum state state;
  size_t sent;
  double start;
  double latency;
  const char* error;  /* a static string naming the failed call, or NULL */
  int error_number;
};

static unsigned char pattern[kBenchPatternSize];
static struct probe** probes;
static size_t probe_count, probe_capacity, open_probes;
static int closed_loop, due;  /* --closed, and a probe came due while one was open */

static double now_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static unsigned long parse_count(const char* name, const char* text) {
  char* end = NULL;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') {
    fprintf(stderr, "%s \"%s\": expected a non-negative integer\n", name, text);
    exit(2);
  }
  return value;
}

static void finish(int epoll_fd, struct probe* probe, const char* error, int error_number) {
  (void)epoll_ctl(epoll_fd, EPOLL_CTL_DEL, probe->fd, NULL);
  close(probe->fd);
  probe->fd = -1;
  probe->state = kDone;
  probe->latency = now_seconds() - probe->start;
  probe->error = error;
  probe->error_number = error_number;
  --open_probes;
}

static void watch(int epoll_fd, int op, struct probe* probe) {
  struct epoll_event event;
  event.events = probe->state == kDraining ? EPOLLIN : EPOLLOUT;
  event.data.ptr = probe;
  if (epoll_ctl(epoll_fd, op, probe->fd, &event) != 0) {
    bench_die("epoll_ctl", "probe");
  }
}

/* Moves one probe as far as it goes without blocking. */
static void advance(int epoll_fd, struct probe* probe, size_t bytes) {
  if (probe->state == kConnecting) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(probe->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
      bench_die("getsockopt SO_ERROR", "probe");
    }
    if (error != 0) {
      finish(epoll_fd, probe, "connect", error);
      return;
    }
    probe->state = kSending;
  }
  if (probe->state == kSending) {
    while (probe->sent < bytes) {
      ssize_t written = write(probe->fd, pattern + probe->sent, bytes - probe->sent);
      if (written < 0 && errno == EAGAIN) {
        return;
      }
      if (written < 0) {
        finish(epoll_fd, probe, "write", errno);
        return;
      }
      probe->sent += (size_t)written;
    }
    if (shutdown(probe->fd, SHUT_WR) != 0) {
      finish(epoll_fd, probe, "shutdown", errno);
      return;
    }
    probe->state = kDraining;
    watch(epoll_fd, EPOLL_CTL_MOD, probe);
    return;
  }
  char scratch[4096];
  for (;;) {
    ssize_t got = read(probe->fd, scratch, sizeof scratch);
    if (got == 0) {
      finish(epoll_fd, probe, NULL, 0);
      return;
    }
    if (got < 0 && errno == EAGAIN) {
      return;
    }
    if (got < 0) {
      finish(epoll_fd, probe, "read", errno);
      return;
    }
  }
}

static void start_probe(int epoll_fd, const struct bench_address* address, const char* text,
                        size_t bytes) {
  struct probe* probe = calloc(1, sizeof *probe);
  if (probe == NULL) {
    bench_die("calloc", "probe");
  }
  if (probe_count == probe_capacity) {
    probe_capacity = probe_capacity ? 2 * probe_capacity : 1024;
    probes = realloc(probes, probe_capacity * sizeof *probes);
    if (probes == NULL) {
      bench_die("realloc", "probes");
    }
  }
  probes[probe_count++] = probe;
  ++open_probes;
  probe->start = now_seconds();
  probe->fd = socket(address->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (probe->fd < 0) {
    bench_die("socket", text);
  }
  int connected = connect(probe->fd, (const struct sockaddr*)&address->storage, address->length);
  if (connected != 0 && errno != EINPROGRESS) {
    /* A Unix listener with a full backlog says EAGAIN; count it as a failed probe too. */
    int error_number = errno;
    close(probe->fd);
    probe->fd = -1;
    probe->state = kDone;
    probe->latency = now_seconds() - probe->start;
    probe->error = "connect";
    probe->error_number = error_number;
    --open_probes;
    return;
  }
  probe->state = connected == 0 ? kSending : kConnecting;
  watch(epoll_fd, EPOLL_CTL_ADD, probe);
  if (connected == 0) {
    advance(epoll_fd, probe, bytes);
  }
}

int main(int argc, char** argv) {
  unsigned long interval_ms = 20, bytes = 1024, drain = 60;
  const char* text = NULL;
  for (int i = 1; i < argc; ++i) {
    int has_value = i + 1 < argc;
    if (strcmp(argv[i], "--interval-ms") == 0 && has_value) {
      interval_ms = parse_count(argv[i], argv[i + 1]);
      ++i;
    } else if (strcmp(argv[i], "--bytes") == 0 && has_value) {
      bytes = parse_count(argv[i], argv[i + 1]);
      ++i;
    } else if (strcmp(argv[i], "--closed") == 0) {
      closed_loop = 1;
    } else if (strcmp(argv[i], "--drain") == 0 && has_value) {
      drain = parse_count(argv[i], argv[i + 1]);
      ++i;
    } else if (argv[i][0] != '-' && text == NULL) {
      text = argv[i];
    } else {
      fprintf(stderr, "probe: unexpected argument \"%s\"\n", argv[i]);
      return 2;
    }
  }
  if (text == NULL || interval_ms == 0 || bytes > kBenchPatternSize) {
    fprintf(stderr,
            "usage: probe [--interval-ms N] [--closed] [--bytes N<=1MiB] [--drain S] ADDRESS\n");
    return 2;
  }
  bench_fill_pattern(pattern);
  struct bench_address address = bench_parse_address(text);
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (epoll_fd < 0 || timer < 0) {
    bench_die("epoll_create1/timerfd_create", "probe");
  }
  struct itimerspec period;
  period.it_interval.tv_sec = (time_t)(interval_ms / 1000);
  period.it_interval.tv_nsec = (long)(interval_ms % 1000) * 1000000L;
  period.it_value = period.it_interval;
  if (timerfd_settime(timer, 0, &period, NULL) != 0) {
    bench_die("timerfd_settime", "probe");
  }
  /* The timer and stdin are told apart from probes by these two addresses. */
  static int timer_tag, stdin_tag;
  struct epoll_event event;
  event.events = EPOLLIN;
  event.data.ptr = &timer_tag;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, timer, &event) != 0) {
    bench_die("epoll_ctl", "timerfd");
  }
  event.data.ptr = &stdin_tag;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &event) != 0) {
    bench_die("epoll_ctl", "stdin (a pipe or a terminal is needed)");
  }
  start_probe(epoll_fd, &address, text, bytes);
  int scheduling = 1;
  double drain_deadline = 0;
  struct epoll_event events[kMaxEvents];
  while (scheduling || (open_probes > 0 && now_seconds() < drain_deadline)) {
    int timeout = scheduling ? -1 : (int)((drain_deadline - now_seconds()) * 1000) + 1;
    int ready = epoll_wait(epoll_fd, events, kMaxEvents, timeout);
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready < 0) {
      bench_die("epoll_wait", "probe");
    }
    for (int i = 0; i < ready; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &timer_tag && scheduling) {
        uint64_t expirations = 0;
        if (read(timer, &expirations, sizeof expirations) == (ssize_t)sizeof expirations) {
          if (closed_loop && open_probes > 0) {
            due = 1;
          } else if (closed_loop) {
            start_probe(epoll_fd, &address, text, bytes);
          } else {
            /* Late wake-ups still open every probe that was due. */
            for (uint64_t k = 0; k < expirations; ++k) {
              start_probe(epoll_fd, &address, text, bytes);
            }
          }
        }
      } else if (tag == &timer_tag) {
        continue; /* stopped earlier in this batch */
      } else if (tag == &stdin_tag) {
        char scratch[64];
        ssize_t got = read(STDIN_FILENO, scratch, sizeof scratch);
        if (got <= 0 && scheduling) {
          scheduling = 0;
          drain_deadline = now_seconds() + (double)drain;
          (void)epoll_ctl(epoll_fd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
          (void)epoll_ctl(epoll_fd, EPOLL_CTL_DEL, timer, NULL);
        }
      } else {
        advance(epoll_fd, (struct probe*)tag, bytes);
        if (closed_loop && due && scheduling && open_probes == 0) {
          due = 0;
          start_probe(epoll_fd, &address, text, bytes);
        }
      }
    }
  }
  size_t ok = 0, errors = 0, unfinished = 0;
  for (size_t i = 0; i < probe_count; ++i) {
    const struct probe* probe = probes[i];
    if (probe->state != kDone) {
      ++unfinished;
      printf("probe start=%.6f unfinished\n", probe->start);
    } else if (probe->error != NULL) {
      ++errors;
      printf("probe start=%.6f error=%s:%s\n", probe->start, probe->error,
             strerrorname_np(probe->error_number) ? strerrorname_np(probe->error_number) : "?");
    } else {
      ++ok;
      printf("probe start=%.6f latency=%.6f\n", probe->start, probe->latency);
    }
  }
  printf("probes=%zu ok=%zu errors=%zu unfinished=%zu\n", probe_count, ok, errors, unfinished);
  return 0;
}
