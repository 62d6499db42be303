#define _GNU_SOURCE
/*
 * Test helper: an attacker racing a walk. Swaps two names for ever with
 * renameat2(RENAME_EXCHANGE) (a directory and a link, say), until killed.
 * Built by tests/_live.ts with cc at test time.
 *
 *   exchanger A B
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  for (;;) {
    if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) != 0) {
      perror("renameat2");
      return 1;
    }
  }
}
