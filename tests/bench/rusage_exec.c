/* Runs a program and reports its own resource usage. Needed because ru_maxrss survives
 * execve(2): a child that Python forks and execs inherits the interpreter's resident high-water
 * mark (about 30 MiB), so wait4 in the driver would report that for every receiver. This small
 * program has a small high-water mark to pass on.
 *
 * Usage: rusage_exec REPORT_FILE PROGRAM [ARGS...]
 * Writes "pid=CHILD" to REPORT_FILE once the child exists, then after it ends appends
 * "utime=S stime=S maxrss=KIB", and exits with the child's status (128 + signal if it was
 * killed). SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 are passed on to the child. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void pass_on(int signal_number) {
  if (child > 0) {
    kill(child, signal_number);
  }
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: rusage_exec REPORT_FILE PROGRAM [ARGS...]\n");
    return 2;
  }
  FILE* report = fopen(argv[1], "w");
  if (report == NULL) {
    fprintf(stderr, "fopen(%s): %s\n", argv[1], strerror(errno));
    return 2;
  }
  static const int kPassed[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = pass_on;
  for (size_t i = 0; i < sizeof kPassed / sizeof kPassed[0]; ++i) {
    sigaction(kPassed[i], &action, NULL);
  }
  pid_t parent = getpid();
  child = fork();
  if (child < 0) {
    fprintf(stderr, "fork(%s): %s\n", argv[2], strerror(errno));
    return 2;
  }
  if (child == 0) {
    /* If the driver kills this process (its timeout), the receiver must not outlive it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
      _exit(2);
    }
    action.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof kPassed / sizeof kPassed[0]; ++i) {
      sigaction(kPassed[i], &action, NULL);
    }
    execvp(argv[2], argv + 2);
    fprintf(stderr, "execvp(%s): %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  fprintf(report, "pid=%d\n", (int)child);
  fflush(report);
  int status = 0;
  struct rusage usage;
  while (wait4(child, &status, 0, &usage) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "wait4(%s): %s\n", argv[2], strerror(errno));
      return 2;
    }
  }
  fprintf(report, "utime=%ld.%06ld stime=%ld.%06ld maxrss=%ld\n", (long)usage.ru_utime.tv_sec,
          (long)usage.ru_utime.tv_usec, (long)usage.ru_stime.tv_sec,
          (long)usage.ru_stime.tv_usec, usage.ru_maxrss);
  fclose(report);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
