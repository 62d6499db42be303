/**
 * The walk on descriptors: what it does when `openat2` cannot answer at once.
 * With the real system calls (`--allow-ffi`).
 */

import { assertEquals } from "@std/assert";
import { PinnedWalker } from "../../lib/identity/pinned_walk.ts";
import { EAGAIN, openSyscalls, type Syscalls } from "../../lib/proc/syscalls.ts";
import { parseMountInfo } from "../../lib/proc/mounts.ts";

const SYS = openSyscalls();

Deno.test({
  name: "PinnedWalker.lookUp() walks by components when openat2 says EAGAIN (a rename elsewhere)",
  ignore: SYS === null,
  fn() {
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_pinned_" });
    try {
      Deno.mkdirSync(`${dir}/lib`);
      Deno.writeTextFileSync(`${dir}/kept.so`, "x");
      Deno.symlinkSync("/lib/../kept.so", `${dir}/lib/kept.so`);
      let asked = 0;
      // openat2 with RESOLVE_IN_ROOT fails with EAGAIN when a rename anywhere on the
      // system races a `..` of the lookup: here every time.
      const racing: Syscalls = {
        ...SYS!,
        openInRoot: () => {
          asked++;
          return -EAGAIN;
        },
      };
      const mounts = parseMountInfo(Deno.readTextFileSync("/proc/self/mountinfo"));
      const walker = new PinnedWalker(racing, dir, dir, (id) => mounts.byId.get(id));
      try {
        const found = walker.lookUp(dir, `${dir}/lib/kept.so`);
        assertEquals(asked, 1);
        assertEquals(found.found, true, JSON.stringify(found));
        assertEquals(found.found && found.ino, Deno.statSync(`${dir}/kept.so`).ino);
      } finally {
        walker.close();
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
