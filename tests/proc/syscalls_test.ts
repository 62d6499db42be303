/**
 * The system calls through libc (`lib/syscalls.ts`) against what Deno's own
 * API and the kernel's tables say: `statx` of a descriptor, its mount ID,
 * `openat2` confined to a root and its mount, links read byte for byte, and
 * `poll()` on a mount table.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  AT_FDCWD,
  ELOOP,
  ENOENT,
  EXDEV,
  type FdStat,
  openSyscalls,
  S_IFLNK,
  S_IFMT,
  type Syscalls,
} from "../../lib/proc/syscalls.ts";
import { decodeName } from "../../lib/proc/names.ts";
import { waitFor } from "../_helpers.ts";

const SYS = openSyscalls();
const IS_ROOT = Deno.uid() === 0;

function sys(): Syscalls {
  // (@std/assert comes untyped here: it narrows nothing.)
  if (SYS === null) throw new Error("The system calls did not load (is --allow-ffi granted?)");
  return SYS;
}

/** `stat` of a descriptor, which must work. */
function statOf(fd: number): FdStat {
  const stat = sys().stat(fd);
  if (typeof stat === "number") throw new Error(`statx failed: ${stat}`);
  return stat;
}

Deno.test("openSyscalls() loads with -A on Linux", () => {
  assert(Deno.build.os !== "linux" || SYS !== null);
});

Deno.test("Syscalls.stat() of a descriptor says what Deno's stat of the path says", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/f`, "twelve bytes");
    Deno.linkSync(`${dir}/f`, `${dir}/g`);
    const fd = sys().openPath(AT_FDCWD, `${dir}/f`, false);
    assert(fd >= 0);
    const stat = statOf(fd);
    const info = Deno.statSync(`${dir}/f`);
    assertEquals(
      [stat.dev, stat.ino, stat.nlink, stat.size, stat.uid, stat.mode & 0o777],
      [info.dev, info.ino, 2, 12, info.uid, info.mode! & 0o777],
    );
    assertEquals(Math.floor(stat.mtimeMs), info.mtime!.getTime());
    // Its mount, as our own fdinfo says.
    const fdinfo = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
    assertEquals(sys().mountId(fd), Number(/^mnt_id:\s*(\d+)$/m.exec(fdinfo)![1]));
    sys().close(fd);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("Syscalls.openInRoot() resolves inside the root and inside its mount only", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/etc`);
    Deno.writeTextFileSync(`${dir}/etc/passwd`, "inside");
    Deno.symlinkSync("/etc/passwd", `${dir}/abs`);
    Deno.symlinkSync("/proc/self", `${dir}/proc`);
    const root = sys().openPath(AT_FDCWD, dir, true);
    const inode = (fd: number) => {
      const stat = sys().stat(fd);
      sys().close(fd);
      return typeof stat === "number" ? stat : stat.ino;
    };
    const inside = Deno.statSync(`${dir}/etc/passwd`).ino;
    // An absolute link and `..` both stay inside the root.
    assertEquals(inode(sys().openInRoot(root, "/abs")), inside);
    assertEquals(inode(sys().openInRoot(root, "../../etc/passwd")), inside);
    assertEquals(sys().openInRoot(root, "/nope"), -ENOENT);
    // "proc" leads to /proc/self inside the root: itself, for ever.
    assertEquals(sys().openInRoot(root, "/proc"), -ELOOP);
    sys().close(root);
    // From the host's root, /proc is another mount: not entered.
    const host = sys().openPath(AT_FDCWD, "/", true);
    assertEquals(sys().openInRoot(host, "/proc/self/maps"), -EXDEV);
    sys().close(host);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("Syscalls.readLink() reads a link of an O_PATH descriptor byte for byte", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const made = await new Deno.Command("sh", {
      args: ["-c", 'ln -s "$(printf "a\\377b")" "$1/link"', "sh", dir],
    }).output();
    assert(made.success);
    const fd = sys().openPath(AT_FDCWD, `${dir}/link`, false);
    assertEquals(statOf(fd).mode & S_IFMT, S_IFLNK);
    assertEquals(sys().readLink(fd), decodeName(Uint8Array.from([0x61, 0xff, 0x62])));
    sys().close(fd);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "Syscalls.changed() says when a mount came or went since the table was read",
  ignore: !IS_ROOT,
  async fn() {
    const dir = Deno.makeTempDirSync();
    // In a mount namespace of its own, so no other test's mounts count; held by a shell that
    // ends with its standard input (a killed run leaves no holder).
    const holder = new Deno.Command("unshare", {
      args: ["-m", "--propagation", "private", "/bin/sh", "-c", "read x"],
      stdin: "piped",
    }).spawn();
    try {
      let fd = -1;
      await waitFor(() => {
        const ns = Deno.readLinkSync(`/proc/${holder.pid}/ns/mnt`);
        if (ns !== Deno.readLinkSync("/proc/self/ns/mnt")) {
          fd = sys().openRead(`/proc/${holder.pid}/mountinfo`);
        }
        return fd >= 0;
      }, "the holder's mount namespace");
      assertEquals(sys().changed(fd), false);
      const mount = await new Deno.Command("nsenter", {
        args: ["-t", String(holder.pid), "-m", "mount", "-t", "tmpfs", "t", dir],
      }).output();
      assert(mount.success);
      assertEquals(sys().changed(fd), true);
      assertEquals(sys().changed(fd), false); // told once
      const text = new TextDecoder().decode(sys().readWhole(fd)!);
      assertStringIncludes(text, ` ${dir} `, text);
      sys().close(fd);
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
      await holder.stdin.close().catch(() => {});
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
