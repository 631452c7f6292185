/* Addresses and sockets shared by the benchmark's C programs: "HOST:PORT" (an IPv4 literal,
 * loopback in practice) or "unix:PATH". Failures print the call and the object and exit 1. */
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct bench_address {
  struct sockaddr_storage storage;
  socklen_t length;
  int family;
};

static inline void bench_die(const char* call, const char* object) {
  fprintf(stderr, "%s(%s): %s\n", call, object, strerror(errno));
  exit(1);
}

static inline struct bench_address bench_parse_address(const char* text) {
  struct bench_address address;
  memset(&address, 0, sizeof address);
  if (strncmp(text, "unix:", 5) == 0) {
    struct sockaddr_un* un = (struct sockaddr_un*)&address.storage;
    if (strlen(text + 5) >= sizeof un->sun_path) {
      fprintf(stderr, "address \"%s\": the path is too long\n", text);
      exit(2);
    }
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, text + 5);
    address.length = sizeof *un;
    address.family = AF_UNIX;
    return address;
  }
  const char* colon = strrchr(text, ':');
  char host[64];
  if (colon == NULL || (size_t)(colon - text) >= sizeof host) {
    fprintf(stderr, "address \"%s\": expected HOST:PORT or unix:PATH\n", text);
    exit(2);
  }
  memcpy(host, text, (size_t)(colon - text));
  host[colon - text] = '\0';
  struct sockaddr_in* in = (struct sockaddr_in*)&address.storage;
  in->sin_family = AF_INET;
  in->sin_port = htons((unsigned short)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
    fprintf(stderr, "address \"%s\": \"%s\" is not an IPv4 address\n", text, host);
    exit(2);
  }
  address.length = sizeof *in;
  address.family = AF_INET;
  return address;
}

/* A listening socket on `text` (SO_REUSEADDR for TCP) with the given backlog. */
static inline int bench_listen(const char* text, int backlog) {
  struct bench_address address = bench_parse_address(text);
  int listener = socket(address.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) {
    bench_die("socket", text);
  }
  int one = 1;
  if (address.family == AF_INET &&
      setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    bench_die("setsockopt SO_REUSEADDR", text);
  }
  if (bind(listener, (struct sockaddr*)&address.storage, address.length) != 0) {
    bench_die("bind", text);
  }
  if (listen(listener, backlog) != 0) {
    bench_die("listen", text);
  }
  return listener;
}

/* Removes a Unix listener's socket file; nothing for TCP. */
static inline void bench_unlink_listener(const char* text) {
  if (strncmp(text, "unix:", 5) == 0) {
    unlink(text + 5);
  }
}

/* Listens on `text`, accepts one connection, closes the listener and returns the connection. */
static inline int bench_accept_one(const char* text) {
  int listener = bench_listen(text, 16);
  int connection = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  if (connection < 0) {
    bench_die("accept4", text);
  }
  close(listener);
  bench_unlink_listener(text);
  return connection;
}
