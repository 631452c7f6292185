#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

int main(int argc, char** argv) {
  // zcrecv ignores SIGPIPE so that a write to a closed pipe or socket fails with EPIPE; the tests
  // exercise those paths and must see the same.
  std::signal(SIGPIPE, SIG_IGN);
  doctest::Context context(argc, argv);
  return context.run();
}
