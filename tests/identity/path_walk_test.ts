/**
 * `PathWalker.lookUp()` on a tree built in a temp dir and reached through a
 * symbolic link standing for `/proc/PID/root`: files found with the identity
 * `stat` reports, relative and absolute links resolved inside the root, `..`
 * stopped at the root, missing names, mounts that are not local never asked,
 * link loops, a chroot's bounds, raw-byte names, and lookups answered from
 * what an earlier walk remembered.
 */

import { assert, assertEquals, assertNotEquals, assertStringIncludes } from "@std/assert";
import { EXITED, type Lookup, PathWalker } from "../../lib/identity/path_walk.ts";
import { deviceName, parseMountInfo } from "../../lib/proc/mounts.ts";
import { decodeName } from "../../lib/proc/names.ts";

/** A tree in a temp dir, its anchor link, and the host paths around it. */
interface Fixture {
  /** The temp dir: the tree, the anchor and decoys outside the tree live here. */
  readonly dir: string;
  /** The tree's root on the host. */
  readonly tree: string;
  /** A link to the tree, as `/proc/PID/root` is a link to the process's root. */
  readonly anchor: string;
  /** The temp dir's device, `MAJOR:MINOR`. */
  readonly device: string;
  /** The tree's mountinfo: the temp dir's device at `/`, a tmpfs at `/run`, FUSE at `/net`. */
  readonly mountinfo: string;
}

/**
 * Runs `fn` on a fresh tree (removed afterwards):
 * - `data/f`, `data/g`, `data/sub/`: plain files and a directory
 * - `run/r`: a file below `/run`, a tmpfs by the table
 * - `net/secret`: a real file below `/net`, a `fuse.sshfs` by the table
 * - `lib/rel` -> `../data/f`, `lib/up` -> `../../../data/g`, `tonet` -> `net/secret`
 * - `lib/abs` -> `DIR/outside.txt`, an absolute path that names a file on the
 *   host and another file inside the tree
 * - `DIR/data/f` on the host: what a `..` leaving the root would find
 * - `loop` -> `loop`, `ping` -> `pong` -> `ping`
 */
function withTree(
  fn: (fixture: Fixture, t: Deno.TestContext) => void | Promise<void>,
): (t: Deno.TestContext) => Promise<void> {
  return async (t) => {
    const dir = Deno.makeTempDirSync({ prefix: "path_walk_test_" });
    try {
      const tree = `${dir}/tree`;
      const anchor = `${dir}/root`;
      for (const sub of ["data/sub", "run", "net", "lib", `.${dir}`]) {
        Deno.mkdirSync(`${tree}/${sub}`, { recursive: true });
      }
      Deno.writeTextFileSync(`${tree}/data/f`, "f");
      Deno.writeTextFileSync(`${tree}/data/g`, "g");
      Deno.writeTextFileSync(`${tree}/run/r`, "r");
      Deno.writeTextFileSync(`${tree}/net/secret`, "never to be asked");
      Deno.writeTextFileSync(`${tree}${dir}/outside.txt`, "inside the root");
      Deno.writeTextFileSync(`${dir}/outside.txt`, "on the host");
      Deno.mkdirSync(`${dir}/data`);
      Deno.writeTextFileSync(`${dir}/data/f`, "above the root");
      Deno.symlinkSync("../data/f", `${tree}/lib/rel`);
      Deno.symlinkSync("../../../data/g", `${tree}/lib/up`);
      Deno.symlinkSync("net/secret", `${tree}/tonet`);
      Deno.symlinkSync(`${dir}/outside.txt`, `${tree}/lib/abs`);
      Deno.symlinkSync("loop", `${tree}/loop`);
      Deno.symlinkSync("pong", `${tree}/ping`);
      Deno.symlinkSync("ping", `${tree}/pong`);
      Deno.symlinkSync(tree, anchor);
      const device = deviceName(Deno.statSync(tree).dev);
      const mountinfo = [
        `21 1 ${device} / / rw - ext4 /dev/root rw`,
        "22 21 0:91 / /run rw,nosuid - tmpfs tmpfs rw",
        "23 21 0:92 / /net rw,nosuid - fuse.sshfs u@h:/ rw,user_id=1000",
        "",
      ].join("\n");
      await fn({ dir, tree, anchor, device, mountinfo }, t);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/** A walker of the fixture's tree as a process whose root is `/` sees it. */
function walkerOf(fixture: Fixture): PathWalker {
  return new PathWalker("/", parseMountInfo(fixture.mountinfo), null);
}

/** What `lookUp` should report for the object at host `path`, found on a `type` mount. */
function foundAs(path: string, type: string): Lookup {
  const info = Deno.lstatSync(path);
  const times = [info.ctime, info.mtime, info.birthtime].flatMap((t) => t ? [t.getTime()] : []);
  return {
    found: true,
    dev: info.dev,
    ino: info.ino!,
    type,
    changedMs: Math.max(...times),
    ctimeMs: info.ctime?.getTime() ?? null,
  };
}

/** Runs `sh -c script` with `args` as `$1`…: it makes names Deno's API cannot (raw bytes). */
async function sh(script: string, ...args: string[]): Promise<void> {
  const output = await new Deno.Command("sh", { args: ["-c", script, "sh", ...args] }).output();
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
}

Deno.test(
  "PathWalker.lookUp() finds files and directories with the dev, ino and mount type stat gives",
  withTree(async (fixture, t) => {
    const { tree, anchor } = fixture;
    const walker = walkerOf(fixture);
    const cases: [name: string, path: string, type: string][] = [
      ["/data/f", `${tree}/data/f`, "ext4"],
      ["/data/sub", `${tree}/data/sub`, "ext4"],
      ["/data/./sub/", `${tree}/data/sub`, "ext4"],
      ["/run/r", `${tree}/run/r`, "tmpfs"],
      ["/run", `${tree}/run`, "tmpfs"],
      ["/", tree, "ext4"],
    ];
    for (const [name, path, type] of cases) {
      await t.step(name, () => assertEquals(walker.lookUp(anchor, name), foundAs(path, type)));
    }
  }),
);

Deno.test(
  "PathWalker.lookUp() follows a relative link from the link's own directory",
  withTree((fixture) => {
    const { tree, anchor } = fixture;
    const walker = walkerOf(fixture);
    assertEquals(walker.lookUp(anchor, "/lib/rel"), foundAs(`${tree}/data/f`, "ext4"));
    // Through a directory: the link's target is read from /lib, wherever the name came from.
    assertEquals(walker.lookUp(anchor, "/data/../lib/rel"), foundAs(`${tree}/data/f`, "ext4"));
  }),
);

Deno.test(
  "PathWalker.lookUp() restarts an absolute link at the anchor, not at the host's root",
  withTree((fixture) => {
    const { dir, tree, anchor } = fixture;
    const found = walkerOf(fixture).lookUp(anchor, "/lib/abs");
    assertEquals(found, foundAs(`${tree}${dir}/outside.txt`, "ext4"));
    // The kernel, following the link from the host, reaches the host's file.
    assertNotEquals(Deno.statSync(`${anchor}/lib/abs`).ino, found.found ? found.ino : undefined);
  }),
);

Deno.test(
  "PathWalker.lookUp() stops `..` at the root, in a name and in a link's target",
  withTree(async (fixture, t) => {
    const { tree, anchor } = fixture;
    const walker = walkerOf(fixture);
    // The kernel leaves the tree: `root/..` is the temp dir, where a decoy `data/f` waits.
    assertEquals(Deno.readTextFileSync(`${anchor}/../data/f`), "above the root");
    const cases: [name: string, path: string, type: string][] = [
      ["/../data/f", `${tree}/data/f`, "ext4"],
      ["/data/../../../data/f", `${tree}/data/f`, "ext4"],
      ["/lib/up", `${tree}/data/g`, "ext4"],
      ["/..", tree, "ext4"],
      // The directory a `..` leads to is on the mount above the mount point.
      ["/run/..", tree, "ext4"],
      ["/run/../run/r", `${tree}/run/r`, "tmpfs"],
    ];
    for (const [name, path, type] of cases) {
      await t.step(name, () => assertEquals(walker.lookUp(anchor, name), foundAs(path, type)));
    }
  }),
);

Deno.test(
  "PathWalker.lookUp() reports a name below a file as missing, not as unresolvable",
  withTree(async (fixture, t) => {
    const walker = walkerOf(fixture);
    for (const name of ["/data/f/x", "/data/f/..", "/lib/rel/x", "/data/f/sub/x"]) {
      await t.step(name, () => assertEquals(walker.lookUp(fixture.anchor, name), { found: false }));
    }
  }),
);

Deno.test(
  "PathWalker.lookUp() reports a missing name as missing while the anchor is there",
  withTree(async (fixture, t) => {
    const walker = walkerOf(fixture);
    for (const name of ["/nope", "/data/nope", "/nope/x", "/lib/../nope"]) {
      await t.step(name, () => assertEquals(walker.lookUp(fixture.anchor, name), { found: false }));
    }
  }),
);

Deno.test(
  "PathWalker.lookUp() says the process exited when the anchor went away under a missing name",
  withTree((fixture) => {
    const walker = walkerOf(fixture);
    assertEquals(walker.lookUp(fixture.anchor, "/data/nope"), { found: false });
    Deno.removeSync(fixture.anchor);
    assertEquals(walker.lookUp(fixture.anchor, "/data/nope"), {
      found: false,
      unresolvable: EXITED,
    });
  }),
);

Deno.test(
  "PathWalker.lookUp() finds nothing across a mount that is not local, though a file is there",
  withTree(async (fixture, t) => {
    const walker = walkerOf(fixture);
    // The file is there: a walker that asked below /net would find it.
    assertEquals(Deno.readTextFileSync(`${fixture.anchor}/net/secret`), "never to be asked");
    for (const name of ["/net/secret", "/net", "/tonet", "/data/../net/secret"]) {
      await t.step(name, () => {
        const found = walker.lookUp(fixture.anchor, name);
        assertEquals(found.found, false);
        assert(!found.found && found.unresolvable?.includes("fuse.sshfs"), JSON.stringify(found));
      });
    }
  }),
);

Deno.test({
  name: "PathWalker.lookUp() touches no file system where it must not or cannot ask",
  // Any stat, lstat or readlink would throw NotCapable, which lookUp never swallows.
  permissions: { read: false },
  async fn(t) {
    const anchor = "/nonexistent/proc/1/root";
    const local = "1 0 8:1 / / rw - ext4 /dev/sda1 rw";
    const fuse = "2 1 0:92 / /net rw - fuse.sshfs u@h:/ rw";
    const make = (rootLink: string, table: string[], outer: string[] | null) =>
      new PathWalker(
        rootLink,
        parseMountInfo(table.join("\n")),
        outer && parseMountInfo(outer.join("\n")),
      );
    const rawName = decodeName(Uint8Array.from([...new TextEncoder().encode("/data/"), 0xff]));
    const cases: [label: string, PathWalker, name: string, unresolvable: string][] = [
      [
        "below a FUSE mount",
        make("/", [local, fuse], null),
        "/net/x/y",
        "its path crosses fuse.sshfs, which is not asked",
      ],
      [
        "a FUSE mount point",
        make("/", [local, fuse], null),
        "/net",
        "its path crosses fuse.sshfs, which is not asked",
      ],
      [
        "a root on NFS",
        make("/", ["1 0 0:50 / / rw - nfs4 h:/ rw"], null),
        "/",
        "its file system is not asked",
      ],
      [
        "below a root on NFS",
        make("/", ["1 0 0:50 / / rw - nfs4 h:/ rw"], null),
        "/x",
        "its path crosses nfs4, which is not asked",
      ],
      [
        "a chroot on FUSE, seen in the scanner's table",
        make("/srv/ct", [], [local, "3 1 0:93 / /srv/ct rw - fuse.sshfs u@h:/ rw"]),
        "/srv/ct/x",
        "its path crosses fuse.sshfs, which is not asked",
      ],
      [
        "a FUSE mount inside a chroot, seen in the scanner's table",
        make("/srv/ct", [], [local, "3 1 0:93 / /srv/ct/net rw - fuse.sshfs u@h:/ rw"]),
        "/srv/ct/net/x",
        "its path crosses fuse.sshfs, which is not asked",
      ],
      [
        "a chroot no table holds",
        make("/srv/ct", [], null),
        "/srv/ct/x",
        "no mount holds its path",
      ],
      [
        "outside a chroot",
        make("/srv/ct", [], [local]),
        "/etc/passwd",
        "it lies outside the process's root",
      ],
      [
        "a sibling of a chroot sharing its prefix",
        make("/srv/ct", [], [local]),
        "/srv/ctx/lib.so",
        "it lies outside the process's root",
      ],
      ["a raw-byte name", make("/", [local], null), rawName, "its name is not valid UTF-8"],
    ];
    for (const [label, walker, name, unresolvable] of cases) {
      await t.step(label, () => {
        assertEquals(walker.lookUp(anchor, name), { found: false, unresolvable });
      });
    }
  },
});

Deno.test(
  "PathWalker.lookUp() gives up on a link loop, and follows 40 links as the kernel does",
  withTree(async (fixture, t) => {
    const { tree, anchor } = fixture;
    const walker = walkerOf(fixture);
    for (const name of ["/loop", "/ping", "/pong/x", "/data/../ping"]) {
      await t.step(name, () => {
        assertEquals(walker.lookUp(anchor, name), {
          found: false,
          unresolvable: "too many symbolic links",
        });
      });
    }
    // chain/l1 -> l2 -> ... -> l41 -> ../data/f: l2 is 40 links from the file, l1 41.
    Deno.mkdirSync(`${tree}/chain`);
    Deno.symlinkSync("../data/f", `${tree}/chain/l41`);
    for (let i = 40; i >= 1; i--) Deno.symlinkSync(`l${i + 1}`, `${tree}/chain/l${i}`);
    await t.step("40 links", () => {
      assertEquals(walker.lookUp(anchor, "/chain/l2"), foundAs(`${tree}/data/f`, "ext4"));
      Deno.statSync(`${tree}/chain/l2`);
    });
    await t.step("41 links", () => {
      assertEquals(walker.lookUp(anchor, "/chain/l1"), {
        found: false,
        unresolvable: "too many symbolic links",
      });
      let kernel = "";
      try {
        Deno.statSync(`${tree}/chain/l1`);
      } catch (error) {
        kernel = String(error);
      }
      assertStringIncludes(kernel, "symbolic links", kernel);
    });
  }),
);

Deno.test(
  "PathWalker.lookUp() in a chroot finds names inside its root and refuses the others",
  withTree(async (fixture, t) => {
    const { dir, tree, anchor, device } = fixture;
    // The scanner sees the chroot at /srv/ct; the chroot's own table lists only
    // the mounts below its root, by points inside it.
    const outer = parseMountInfo([
      `21 1 ${device} / / rw - ext4 /dev/root rw`,
      "23 21 0:92 / /srv/ct/net rw - fuse.sshfs u@h:/ rw",
    ].join("\n"));
    const own = parseMountInfo("22 21 0:91 / /run rw - tmpfs tmpfs rw");
    const walker = new PathWalker("/srv/ct", own, outer);
    const found: [name: string, path: string, type: string][] = [
      ["/srv/ct/data/f", `${tree}/data/f`, "ext4"],
      ["/srv/ct/run/r", `${tree}/run/r`, "tmpfs"],
      ["/srv/ct/lib/rel", `${tree}/data/f`, "ext4"],
      ["/srv/ct/lib/abs", `${tree}${dir}/outside.txt`, "ext4"],
      ["/srv/ct/../../data/f", `${tree}/data/f`, "ext4"],
    ];
    for (const [name, path, type] of found) {
      await t.step(name, () => assertEquals(walker.lookUp(anchor, name), foundAs(path, type)));
    }
    const refused: [name: string, unresolvable: string][] = [
      ["/data/f", "it lies outside the process's root"],
      ["/srv/ctx/data/f", "it lies outside the process's root"],
      ["/srv/ct/net/secret", "its path crosses fuse.sshfs, which is not asked"],
    ];
    for (const [name, unresolvable] of refused) {
      await t.step(name, () => {
        assertEquals(walker.lookUp(anchor, name), { found: false, unresolvable });
      });
    }
  }),
);

Deno.test(
  "PathWalker.lookUp() does not look up a name or a link target that is not valid UTF-8",
  withTree(async (fixture) => {
    const { tree, anchor } = fixture;
    // data/<0xff> is a real file; rawlink -> data/<0xff>.
    await sh(
      'raw="$(printf "\\377")"; echo x > "$1/data/$raw" && ln -s "data/$raw" "$1/rawlink"',
      tree,
    );
    const walker = walkerOf(fixture);
    const rawName = decodeName(Uint8Array.from([...new TextEncoder().encode("/data/"), 0xff]));
    assertEquals(walker.lookUp(anchor, rawName), {
      found: false,
      unresolvable: "its name is not valid UTF-8",
    });
    assertEquals(walker.lookUp(anchor, "/rawlink"), {
      found: false,
      unresolvable: "a link on its path is not valid UTF-8",
    });
  }),
);

Deno.test(
  "PathWalker.lookUp() answers later lookups through directories it walked before",
  withTree((fixture) => {
    const { tree, anchor } = fixture;
    const walker = walkerOf(fixture);
    const f = foundAs(`${tree}/data/f`, "ext4");
    const g = foundAs(`${tree}/data/g`, "ext4");
    assertNotEquals(f, g);
    assertEquals(walker.lookUp(anchor, "/data/f"), f);
    assertEquals(walker.lookUp(anchor, "/data/g"), g);
    assertEquals(walker.lookUp(anchor, "/data/f"), f);
    assertEquals(walker.lookUp(anchor, "/data/f/x"), { found: false });
    assertEquals(walker.lookUp(anchor, "/data/sub"), foundAs(`${tree}/data/sub`, "ext4"));
    assertEquals(walker.lookUp(anchor, "/data/nope"), { found: false });
    // Another process of the same tree: its own anchor, the same walks.
    const other = `${fixture.dir}/other_root`;
    Deno.symlinkSync(tree, other);
    assertEquals(walker.lookUp(other, "/data/g"), g);
    assertEquals(walker.lookUp(other, "/run/r"), foundAs(`${tree}/run/r`, "tmpfs"));
  }),
);

Deno.test(
  "PathWalker.lookUp() keeps a link's target for the rest of its walks",
  withTree((fixture) => {
    const { tree, anchor } = fixture;
    const walker = walkerOf(fixture);
    assertEquals(walker.lookUp(anchor, "/lib/rel"), foundAs(`${tree}/data/f`, "ext4"));
    Deno.removeSync(`${tree}/lib/rel`);
    Deno.symlinkSync("../data/g", `${tree}/lib/rel`);
    // A fresh walker reads the new target; this one walks the one it met.
    assertEquals(walkerOf(fixture).lookUp(anchor, "/lib/rel"), foundAs(`${tree}/data/g`, "ext4"));
    assertEquals(walker.lookUp(anchor, "/lib/rel"), foundAs(`${tree}/data/f`, "ext4"));
  }),
);

const IS_ROOT = Deno.uid() === 0;

Deno.test({
  name: "PathWalker.lookUp() asks again on every walk what a user could have swapped for a link",
  ignore: !IS_ROOT,
  fn: withTree(async (fixture, t) => {
    const { tree, anchor } = fixture;
    // A directory in a user's home, and root's directory in one anyone may write (not sticky).
    Deno.mkdirSync(`${tree}/home/u/sw`, { recursive: true });
    Deno.writeTextFileSync(`${tree}/home/u/sw/f`, "f");
    Deno.chownSync(`${tree}/home/u`, 65534, 65534);
    Deno.mkdirSync(`${tree}/pub/d`, { recursive: true });
    Deno.chmodSync(`${tree}/pub`, 0o777);
    Deno.writeTextFileSync(`${tree}/pub/d/f`, "f");
    for (const dir of ["home/u/sw", "pub/d"]) {
      await t.step(dir, () => {
        const walker = walkerOf(fixture);
        assertEquals(walker.lookUp(anchor, `/${dir}/f`), foundAs(`${tree}/${dir}/f`, "ext4"));
        // The owner swaps the directory for a link into the FUSE mount, after the walk.
        Deno.renameSync(`${tree}/${dir}`, `${tree}/${dir}.old`);
        Deno.symlinkSync("/net", `${tree}/${dir}`);
        assertEquals(walker.lookUp(anchor, `/${dir}/secret`), {
          found: false,
          unresolvable: "its path crosses fuse.sshfs, which is not asked",
        });
      });
    }
  }),
});

Deno.test(
  "PathWalker.lookUp() finds nothing after a file, not even . or a trailing slash",
  withTree((fixture) => {
    const { tree, anchor } = fixture;
    const walker = walkerOf(fixture);
    Deno.symlinkSync("data/f/", `${tree}/slashed`);
    for (const name of ["/data/f/.", "/data/f/", "/slashed", "/data/f/.."]) {
      assertEquals(walker.lookUp(anchor, name), { found: false }, name);
    }
    assertEquals(walker.lookUp(anchor, "/data/sub/."), foundAs(`${tree}/data/sub`, "ext4"));
  }),
);

Deno.test(
  "PathWalker.lookUp() in a chroot finds its root by the root's own name",
  withTree((fixture) => {
    const { tree, anchor } = fixture;
    const walker = new PathWalker("/srv/ct", parseMountInfo(fixture.mountinfo), null);
    assertEquals(walker.lookUp(anchor, "/srv/ct"), foundAs(tree, "ext4"));
    assertEquals(walker.lookUp(anchor, "/srv/ct/data/f"), foundAs(`${tree}/data/f`, "ext4"));
  }),
);

Deno.test({
  name: "PathWalker.names() lists only directories root alone could swap, and small enough ones",
  ignore: !IS_ROOT,
  fn: withTree((fixture) => {
    const { tree, anchor } = fixture;
    Deno.mkdirSync(`${tree}/home/u/tmp`, { recursive: true });
    Deno.chownSync(`${tree}/home/u`, 65534, 65534);
    const walker = walkerOf(fixture);
    assertEquals(walker.names(anchor, "/data", 1 << 20), new Set(["f", "g", "sub"]));
    // Too large for what listing it would save.
    assertEquals(walker.names(anchor, "/data", 16), null);
    // The user could swap tmp for a link into the FUSE mount while it is read.
    assertEquals(walker.names(anchor, "/home/u/tmp", 1 << 20), null);
    // Not a directory, and across a mount that is not asked.
    assertEquals(walker.names(anchor, "/data/f", 1 << 20), null);
    assertEquals(walker.names(anchor, "/net", 1 << 20), null);
  }),
});

Deno.test(
  "PathWalker.lookUp() asks for a file again on every walk: an update may replace it meanwhile",
  withTree((fixture) => {
    const { tree, anchor } = fixture;
    const walker = walkerOf(fixture);
    const before = walker.lookUp(anchor, "/data/f");
    Deno.writeTextFileSync(`${tree}/data/f.new`, "new");
    Deno.renameSync(`${tree}/data/f.new`, `${tree}/data/f`);
    const after = walker.lookUp(anchor, "/data/f");
    assertEquals(after, foundAs(`${tree}/data/f`, "ext4"));
    assertNotEquals(after, before);
  }),
);
