/*
 * Test helper: maps files and holds them open the way real programs do, for the
 * live tests. Built by tests/_live.ts with cc at test time.
 *
 *   mapper [-u UID] [-n COUNT] [-z | -j] [-F] [-p PADDING]... FILE...
 *
 * Opens every FILE and keeps it open, maps each one page of it (read-only,
 * private), prints "ready" and waits until its standard input closes.
 *   -n COUNT  make COUNT one-page mappings in all, cycling through the files
 *   -z        clear the argument vector (all its bytes zero), as a process
 *             hiding from ps would
 *   -j        join: replace the NULs between the arguments with 0xff bytes, so
 *             the vector reads as one argument that is not UTF-8, as a process
 *             rewriting its title may
 *   -p TEXT   ignored (padding that makes the vector long)
 *   -u UID    drop to UID once the files are open
 *   -F        flip: after "ready", keep replacing the mapping of the first file
 *             with one of the second and back, as fast as it can, forever
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  exit(1);
}

int main(int argc, char **argv) {
  long count = 0;
  int zero = 0, join = 0, flip = 0, opt;
  long uid = -1;
  while ((opt = getopt(argc, argv, "u:n:zjFp:")) != -1) {
    if (opt == 'u') uid = atol(optarg);
    else if (opt == 'n') count = atol(optarg);
    else if (opt == 'z') zero = 1;
    else if (opt == 'j') join = 1;
    else if (opt == 'p') continue;
    else if (opt == 'F') flip = 1;
    else return 2;
  }
  int files = argc - optind;
  if (files < 1 || (flip && files < 2)) return 2;
  int *fds = calloc(files, sizeof *fds);
  for (int i = 0; i < files; i++) {
    fds[i] = open(argv[optind + i], O_RDONLY);
    if (fds[i] < 0) die(argv[optind + i]);
  }
  if (count < files) count = files;
  void *first = NULL;
  for (long i = 0; i < count; i++) {
    void *at = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fds[i % files], 0);
    if (at == MAP_FAILED) die("mmap");
    if (i == 0) first = at;
  }
  if (uid >= 0 && (setgid(65534) != 0 || setuid((uid_t)uid) != 0)) die("setuid");
  if (zero) {
    char *end = argv[argc - 1] + strlen(argv[argc - 1]);
    memset(argv[0], 0, (size_t)(end - argv[0]));
  }
  if (join) {
    /* The last NUL stays: without it the kernel would read on into the environment. */
    char *end = argv[0];
    for (int i = 0; i < argc; i++) {
      if (argv[i] + strlen(argv[i]) > end) end = argv[i] + strlen(argv[i]);
    }
    for (char *at = argv[0]; at < end; at++) {
      if (*at == 0) *at = (char)0xff;
    }
  }
  printf("ready\n");
  fflush(stdout);
  if (flip) {
    for (;;) {
      if (mmap(first, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, fds[1], 0) == MAP_FAILED) die("flip");
      if (mmap(first, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, fds[0], 0) == MAP_FAILED) die("flop");
    }
  }
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {}
  return 0;
}
