#define _GNU_SOURCE
/*
 * One process holding many distinct deleted files, for bench scenario (f).
 * "fds DIR N [LENGTH]":  creates N files in DIR, keeps each open, deletes it.
 * "maps DIR N [LENGTH]": creates N files in DIR, maps one page of each, deletes it.
 * LENGTH pads each file's name to about that many bytes (at most 200), one of
 * them 0xff: long names that are not UTF-8, what costs a scan most memory.
 * Prints "ready" when done, then waits until its standard input closes.
 * Built by bench/bench.ts with cc at bench time.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) return 2;
  int maps = strcmp(argv[1], "maps") == 0;
  long n = atol(argv[3]);
  long length = argc == 5 ? atol(argv[4]) : 0;
  char pad[256];
  if (length > 200) length = 200;
  memset(pad, 'x', sizeof pad);
  pad[length > 20 ? length - 20 : 0] = 0;
  if (length > 20) pad[0] = (char)0xff;
  struct rlimit limit = {n + 64, n + 64};
  if (!maps && setrlimit(RLIMIT_NOFILE, &limit) != 0) return perror("setrlimit"), 1;
  char path[4096];
  for (long i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/%sfile-%ld.dat", argv[2], pad, i);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "data\n", 5) != 5) return perror(path), 1;
    if (maps) {
      if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED) return perror("mmap"), 1;
      close(fd);
    }
    if (unlink(path) != 0) return perror(path), 1;
  }
  puts("ready");
  fflush(stdout);
  char byte;
  while (read(0, &byte, 1) > 0) {
  }
  return 0;
}
