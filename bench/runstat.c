/*
 * Runs a command and reports what it cost as JSON: wall time, user and system
 * CPU time, and peak RSS (from wait4's rusage). Built by bench/bench.ts.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static double ms(struct timeval t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; }

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execvp(argv[1], argv + 1);
    _exit(127);
  }
  int status;
  struct rusage usage;
  wait4(pid, &status, 0, &usage);
  clock_gettime(CLOCK_MONOTONIC, &end);
  double wall = (end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6;
  printf("{\"wall\":%.3f,\"cpu\":%.3f,\"rss\":%ld,\"status\":%d}\n", wall,
         ms(usage.ru_utime) + ms(usage.ru_stime), usage.ru_maxrss, WEXITSTATUS(status));
  return 0;
}
