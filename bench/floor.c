#define _GNU_SOURCE
/*
 * The kernel floor for lib_users: the least work any scanner must do.
 * "maps": read every /proc/PID/maps to the end and count lines marked deleted.
 * "fds":  readlink every /proc/PID/fd/N and count targets marked deleted.
 * Built by bench/bench.ts with cc at bench time; prints the count.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[1 << 16];

static int is_pid(const char *name) {
  if (!*name) return 0;
  for (; *name; name++) if (*name < '0' || *name > '9') return 0;
  return 1;
}

static long scan_maps(const char *pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/maps", pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  long found = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf - 1)) > 0) {
    buf[n] = 0;
    for (char *p = buf; (p = memmem(p, buf + n - p, "(deleted)", 9)); p += 9) found++;
  }
  close(fd);
  return found;
}

static long scan_fds(const char *pid) {
  char path[64], link[4096 + 64];
  snprintf(path, sizeof path, "/proc/%s/fd", pid);
  DIR *dir = opendir(path);
  if (!dir) return 0;
  long found = 0;
  struct dirent *e;
  while ((e = readdir(dir))) {
    if (e->d_name[0] == '.') continue;
    char target[4096];
    snprintf(link, sizeof link, "%s/%s", path, e->d_name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 10 && memcmp(target + n - 10, " (deleted)", 10) == 0) found++;
  }
  closedir(dir);
  return found;
}

int main(int argc, char **argv) {
  int fds = argc > 1 && strcmp(argv[1], "fds") == 0;
  DIR *proc = opendir("/proc");
  if (!proc) return 1;
  long found = 0;
  struct dirent *e;
  while ((e = readdir(proc))) {
    if (!is_pid(e->d_name)) continue;
    found += fds ? scan_fds(e->d_name) : scan_maps(e->d_name);
  }
  closedir(proc);
  printf("%ld\n", found);
  return 0;
}
