/**
 * ConfinedTree: another root's files read as untrusted input, on a tree made
 * in the test's own directory and held by a descriptor, as a container's root
 * is through /proc/PID/root.
 */

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  ConfinedTree,
  PACKAGE_TREE_BOUNDS,
  type TreeBounds,
} from "../../lib/answers/confined_tree.ts";
import { dpkgOwners, findPackageOwners } from "../../lib/answers/packages.ts";
import { findRpmOwners, rpmOwnersCopied } from "../../lib/answers/rpm.ts";
import { AT_FDCWD, openSyscalls, type Syscalls } from "../../lib/proc/syscalls.ts";
import { ROOT } from "../_helpers.ts";

const SYS = openSyscalls();
const NO_SYS = SYS === null ? "no native calls (--allow-ffi, glibc or musl)" : undefined;
if (NO_SYS !== undefined) console.warn(`confined_tree_test: ignored: ${NO_SYS}`);

/** Runs `body` with a tree held by a descriptor of `root`, released afterwards. */
async function withTree(
  root: string,
  body: (tree: ConfinedTree, sys: Syscalls) => void | Promise<void>,
  bounds: TreeBounds = PACKAGE_TREE_BOUNDS,
): Promise<void> {
  const sys = SYS!;
  const fd = sys.openPath(AT_FDCWD, root, true);
  if (fd < 0) throw new Error(`Cannot open ${root}: ${-fd}`);
  try {
    await body(new ConfinedTree(sys, fd, bounds), sys);
  } finally {
    sys.close(fd);
  }
}

/** Runs `body` with a fresh directory: `root` inside it, `outside` beside it. */
async function withDirs(body: (root: string, outside: string) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_confined_" });
  try {
    Deno.mkdirSync(`${dir}/root/etc`, { recursive: true });
    Deno.mkdirSync(`${dir}/outside`);
    await body(`${dir}/root`, `${dir}/outside`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test({
  name: "ConfinedTree reads files inside its root and follows no link out of it",
  ignore: NO_SYS !== undefined,
  async fn() {
    await withDirs(async (root, outside) => {
      Deno.writeTextFileSync(`${root}/etc/inside`, "inside\n");
      Deno.writeTextFileSync(`${outside}/secret`, "host\n");
      // Absolute links mean the root's own paths; `..` stops at the root.
      Deno.symlinkSync(`${outside}/secret`, `${root}/etc/absolute`);
      Deno.symlinkSync(`../../../../../../..${outside}/secret`, `${root}/etc/relative`);
      Deno.symlinkSync("/etc/inside", `${root}/etc/within`);
      Deno.symlinkSync("/proc/self/root/etc/hostname", `${root}/etc/magic`);
      await withTree(root, (tree) => {
        assertEquals(tree.readText("etc/inside"), "inside\n");
        assertEquals(tree.readText("etc/within"), "inside\n");
        assertEquals(tree.readText("etc/absolute"), null);
        assertEquals(tree.readText("etc/relative"), null);
        assertEquals(tree.readText("etc/magic"), null);
        assertEquals(tree.readText(`..${outside}/secret`), null);
        assertEquals(tree.mtimeMs("etc/absolute"), null);
        assertEquals(tree.identity("etc/relative"), null);
        // A listing names regular files only (not links, whatever they lead to).
        assertEquals(tree.list("etc"), ["inside"]);
        assertEquals(tree.list("etc/inside"), null);
        assertEquals(tree.list("nowhere"), null);
      });
    });
  },
});

Deno.test({
  name: "ConfinedTree reads regular files only: a FIFO neither blocks nor is read",
  ignore: NO_SYS !== undefined,
  async fn() {
    await withDirs(async (root) => {
      const made = await new Deno.Command("mkfifo", { args: [`${root}/etc/fifo`] }).output();
      assertEquals(made.success, true);
      await withTree(root, (tree, _sys) => {
        assertEquals(tree.read("etc/fifo"), null);
        assertEquals(tree.read("etc"), null);
        assertEquals(tree.copyOut("etc/fifo", `${root}/../copy`), false);
      });
    });
  },
});

Deno.test({
  name: "ConfinedTree refuses past its bounds: a file, the tree, a directory's entries",
  ignore: NO_SYS !== undefined,
  async fn() {
    await withDirs(async (root, outside) => {
      Deno.writeTextFileSync(`${root}/etc/small`, "x".repeat(100));
      Deno.writeTextFileSync(`${root}/etc/large`, "x".repeat(1001));
      for (let i = 0; i < 20; i++) Deno.writeTextFileSync(`${root}/etc/f${i}`, "");
      const bounds = { fileBytes: 1000, totalBytes: 250, entries: 30 };
      await withTree(root, (tree) => {
        assertThrows(() => tree.read("etc/large"), RangeError, "larger than is read");
        assertThrows(() => tree.copyOut("etc/large", `${outside}/copy`), RangeError);
        assertEquals(tree.read("etc/small")?.length, 100);
        assertEquals(tree.read("etc/small")?.length, 100);
        // 200 of 250 bytes read: the tree's bound stops the third.
        assertThrows(() => tree.read("etc/small"), RangeError, "larger than is read");
      }, bounds);
      await withTree(root, (tree) => {
        assertThrows(() => tree.list("etc"), RangeError, "more than 10 entries");
      }, { ...bounds, entries: 10 });
    });
  },
});

Deno.test({
  name: "dpkgOwners() on a ConfinedTree answers as findPackageOwners() on the same root",
  ignore: NO_SYS !== undefined,
  async fn() {
    const root = `${ROOT}/testdata/root_dpkg`;
    const paths = [
      "/usr/lib/x86_64-linux-gnu/libssl.so.3",
      "/lib/x86_64-linux-gnu/libc.so.6",
      "/usr/share/doc/shared-file",
      "/usr/bin/orphan-tool",
      "/opt/unowned/libz.so",
    ];
    const expected = await findPackageOwners(paths, root);
    await withTree(root, async (tree) => {
      assertEquals(await dpkgOwners(tree, paths), expected);
    });
  },
});

Deno.test({
  name: "rpmOwnersCopied() on a ConfinedTree answers as findRpmOwners() on the same root",
  ignore: NO_SYS !== undefined,
  async fn() {
    const root = `${ROOT}/testdata/root_rpm`;
    const paths = ["/usr/lib64/libfixture.so.1", "/lib64/libfixture.so.1", "/usr/bin/x"];
    const expected = await findRpmOwners(paths, root);
    await withTree(root, async (tree) => {
      const copy = (path: string, dest: string) => tree.copyOut(path, dest);
      assertEquals(await rpmOwnersCopied(copy, paths), expected);
    });
    // No database there.
    await withTree(`${ROOT}/testdata/root_dpkg`, async (tree) => {
      assertEquals(await rpmOwnersCopied((p, d) => tree.copyOut(p, d), paths), null);
    });
  },
});

Deno.test({
  name: "rpmOwnersCopied() refuses a database whose tables are not rpm's (a view that never ends)",
  ignore: NO_SYS !== undefined,
  async fn() {
    await withDirs(async (root) => {
      Deno.mkdirSync(`${root}/var/lib/rpm`, { recursive: true });
      const { DatabaseSync } = await import("node:sqlite");
      const db = new DatabaseSync(`${root}/var/lib/rpm/rpmdb.sqlite`);
      db.exec(
        "CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL);" +
          "CREATE VIEW Basenames AS WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) " +
          "SELECT 'x.so' AS key, x AS hnum, 0 AS idx FROM r",
      );
      db.close();
      await withTree(root, async (tree) => {
        await assertRejects(
          () => rpmOwnersCopied((p, d) => tree.copyOut(p, d), ["/usr/lib64/x.so"]),
          TypeError,
          "does not have rpm's tables",
        );
      });
    });
  },
});
