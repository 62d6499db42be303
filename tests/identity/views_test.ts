/**
 * `Views` on a fake proc tree in a temp dir (per process: an `ns/mnt` link, a
 * `root` link and a `mountinfo` file): the scanner's own table read first,
 * another namespace's table read once and shared by its processes, a tree's
 * table read again once per device or mount ID it did not know, one view per
 * namespace and root, and no tree kept from a process that moved while its
 * table was read.
 */

import { assert, assertEquals, assertNotStrictEquals, assertStrictEquals } from "@std/assert";
import { type View, Views } from "../../lib/identity/views.ts";
import { deviceName, type Mount } from "../../lib/proc/mounts.ts";

const SCANNER_NS = 4026531832;
const OTHER_NS = 4026532001;
const THIRD_NS = 4026532002;

/** The scanner's table: a root on ext4 and a procfs. */
const SCANNER_TABLE = [
  "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw",
  "2 1 0:20 / /proc rw,nosuid - proc proc rw",
];
/**
 * The table of `OTHER_NS`: an overlay root and a FUSE mount, devices the
 * scanner has not, and a bind mount of the scanner's root device.
 */
const OTHER_TABLE = [
  "101 100 0:40 / / rw - overlay overlay rw,lowerdir=/l",
  "102 101 0:41 / /data rw,nosuid - fuse.sshfs u@h:/ rw",
  "103 101 8:1 /srv /host rw - ext4 /dev/sda1 rw",
];

/** A mount as `parseMountInfo` makes it from one of the lines above. */
function mount(id: number, device: string, point: string, type: string, options: string): Mount {
  return { id, device, point, type, options };
}

interface FakeProcess {
  /** The inode in `ns/mnt`'s target; no link when absent. */
  readonly ns?: number;
  /** The target of `root`; `/` when absent. */
  readonly root?: string;
  /** The lines of `mountinfo`; no file when absent. */
  readonly mountinfo?: readonly string[];
}

/** Makes `PROC/PID` with the links and the file `process` asks for. */
function addProcess(proc: string, pid: number | "self", process: FakeProcess): void {
  Deno.mkdirSync(`${proc}/${pid}/ns`, { recursive: true });
  if (process.ns !== undefined) Deno.symlinkSync(`mnt:[${process.ns}]`, `${proc}/${pid}/ns/mnt`);
  Deno.symlinkSync(process.root ?? "/", `${proc}/${pid}/root`);
  if (process.mountinfo !== undefined) writeMountInfo(proc, pid, process.mountinfo);
}

function writeMountInfo(proc: string, pid: number | "self", lines: readonly string[]): void {
  Deno.writeTextFileSync(`${proc}/${pid}/mountinfo`, lines.map((line) => `${line}\n`).join(""));
}

/** The view of `pid`, which must have one. */
function viewOf(views: Views, pid: number): View {
  const view = views.viewOf(pid);
  if (view === null) throw new Error(`Process ${pid} has no view`);
  return view;
}

/** Runs `fn` on a fresh temp dir whose `proc` holds the scanner (`self`) in `SCANNER_NS`. */
function withProc(
  fn: (proc: string, dir: string, t: Deno.TestContext) => void | Promise<void>,
): (t: Deno.TestContext) => Promise<void> {
  return async (t) => {
    const dir = Deno.makeTempDirSync({ prefix: "views_test_" });
    try {
      const proc = `${dir}/proc`;
      addProcess(proc, "self", { ns: SCANNER_NS, mountinfo: SCANNER_TABLE });
      await fn(proc, dir, t);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

Deno.test(
  "Views.mountOfDevice() and mountOfId() answer from the scanner's table without the process's",
  withProc((proc) => {
    // 10 is in another namespace and its table cannot be read; 11 has no namespace link.
    addProcess(proc, 10, { ns: OTHER_NS });
    addProcess(proc, 11, {});
    const views = new Views(proc, null);
    const root = mount(1, "8:1", "/", "ext4", "rw");
    const procfs = mount(2, "0:20", "/proc", "proc", "rw");
    assertEquals(views.mountOfDevice(10, "8:1"), root);
    assertEquals(views.mountOfId(10, 2), procfs);
    assertEquals(views.mountOfDevice(11, "0:20"), procfs);
    assertEquals(views.mountOfId(11, 1), root);
    // What only 10's own table could tell stays unknown: nothing above read it.
    assertEquals(views.mountOfDevice(10, "0:40"), undefined);
    assertEquals(views.mountOfId(10, 101), undefined);
  }),
);

Deno.test(
  "Views.mountOfDevice() learns another namespace's devices from one process for all of its",
  withProc((proc) => {
    addProcess(proc, 10, { ns: OTHER_NS, mountinfo: OTHER_TABLE });
    addProcess(proc, 11, { ns: OTHER_NS });
    const views = new Views(proc, null);
    const fuse = mount(102, "0:41", "/data", "fuse.sshfs", "rw");
    assertEquals(views.mountOfDevice(10, "0:41"), fuse);
    Deno.removeSync(`${proc}/10/mountinfo`);
    // 11 has no table of its own, and 10's is gone: what was read from 10 serves it.
    assertEquals(views.mountOfDevice(11, "0:41"), fuse);
    assertEquals(views.mountOfId(11, 101), mount(101, "0:40", "/", "overlay", "rw,lowerdir=/l"));
    // A device both tables list stays the scanner's, read first.
    assertEquals(views.mountOfDevice(11, "8:1")?.point, "/");
    assertEquals(views.mountOfId(11, 103)?.point, "/host");
  }),
);

/** How the re-read test asks for one of its things, by device or by mount ID. */
interface Asker {
  readonly method: string;
  ask(views: Views, pid: number, thing: Thing): Mount | undefined;
}

/** A mount the re-read test adds to a table as the scan goes on. */
interface Thing {
  readonly id: number;
  readonly device: string;
  readonly point: string;
}

const KNOWN: Thing = { id: 101, device: "0:40", point: "/" };
const LATE: Thing = { id: 103, device: "0:42", point: "/late" };
const LATER: Thing = { id: 104, device: "0:43", point: "/later" };

function lineOf(thing: Thing): string {
  return `${thing.id} 101 ${thing.device} / ${thing.point} rw - tmpfs t rw`;
}

Deno.test(
  "Views.mountOfDevice() and mountOfId() read a tree twice at most, whatever is not known",
  withProc(async (proc, _dir, t) => {
    const askers: Asker[] = [
      {
        method: "mountOfDevice()",
        ask: (views, pid, thing) => views.mountOfDevice(pid, thing.device),
      },
      { method: "mountOfId()", ask: (views, pid, thing) => views.mountOfId(pid, thing.id) },
    ];
    const base = [lineOf(KNOWN)];
    let pid = 10;
    for (const { method, ask } of askers) {
      await t.step(method, () => {
        const [a, b] = [pid++, pid++];
        addProcess(proc, a, { ns: OTHER_NS + a, mountinfo: base });
        addProcess(proc, b, { ns: OTHER_NS + a, mountinfo: base });
        const views = new Views(proc, null);
        assertEquals(ask(views, a, KNOWN)?.point, "/"); // the tree's first read
        writeMountInfo(proc, a, [...base, lineOf(LATE)]);
        assertEquals(ask(views, a, LATE)?.point, "/late"); // read again: the last time
        writeMountInfo(proc, a, [...base, lineOf(LATE), lineOf(LATER)]);
        writeMountInfo(proc, b, [...base, lineOf(LATE), lineOf(LATER)]);
        // However many mounts a process makes the scan look for, from it or another of its tree.
        assertEquals(ask(views, a, LATER), undefined);
        assertEquals(ask(views, b, LATER), undefined);
        assertEquals(ask(views, a, LATE)?.point, "/late");
      });
    }
    await t.step("the scanner's own tree is read again from the scanner, not the process", () => {
      addProcess(proc, pid, { ns: SCANNER_NS, mountinfo: [lineOf(LATE)] });
      const views = new Views(proc, null);
      assertEquals(views.mountOfDevice(pid, "8:1")?.point, "/"); // the scanner's first read
      // A mount comes; the scan meets its device in a process of the scanner's tree.
      writeMountInfo(proc, "self", [...SCANNER_TABLE, lineOf(LATER)]);
      assertEquals(views.mountOfDevice(pid, LATER.device)?.point, "/later");
      // What only the process's own table lists is never learnt from it.
      assertEquals(views.mountOfDevice(pid, LATE.device), undefined);
      writeMountInfo(proc, "self", SCANNER_TABLE);
    });
  }),
);

Deno.test(
  "Views.viewOf() shares the scanner's own tree, walked from its own root, and no other",
  withProc((proc, dir) => {
    Deno.mkdirSync(`${dir}/ct`);
    addProcess(proc, 10, { ns: OTHER_NS, mountinfo: OTHER_TABLE });
    addProcess(proc, 11, { ns: OTHER_NS, mountinfo: OTHER_TABLE });
    addProcess(proc, 12, { ns: OTHER_NS, root: `${dir}/ct`, mountinfo: [OTHER_TABLE[1]!] });
    addProcess(proc, 13, { mountinfo: OTHER_TABLE }); // no namespace link
    addProcess(proc, 14, { ns: THIRD_NS }); // no table
    addProcess(proc, 15, { ns: SCANNER_NS }); // the scanner's tree; its own table cannot be read
    addProcess(proc, 16, { ns: SCANNER_NS, mountinfo: OTHER_TABLE });
    const views = new Views(proc, null);
    const host = viewOf(views, 15);
    assertEquals([host.ns, host.rootLink, host.anchor, host.shared], [
      `mnt:[${SCANNER_NS}]`,
      "/",
      "",
      true,
    ]);
    // Whatever a process of the scanner's tree shows, the scanner's own table is walked.
    assertStrictEquals(views.viewOf(16), host);
    assertEquals(host.walker.lookUp("", "/").found, true);
    const view = viewOf(views, 10);
    assertEquals([view.ns, view.rootLink, view.anchor, view.shared], [
      `mnt:[${OTHER_NS}]`,
      "/",
      `${proc}/10/root`,
      false,
    ]);
    // Another tree is only as each of its processes shows it: a view of its own each.
    const other = viewOf(views, 11);
    assertNotStrictEquals(other, view);
    assertNotStrictEquals(other.walker, view.walker);
    const chroot = viewOf(views, 12);
    assertEquals([chroot.ns, chroot.rootLink], [`mnt:[${OTHER_NS}]`, `${dir}/ct`]);
    assertEquals(views.viewOf(13), null);
    assertEquals(views.viewOf(14), null);
    assertStrictEquals(views.viewOf(15), host);
  }),
);

Deno.test(
  "Views.viewOf() lends a chroot in the scanner's namespace the scanner's mount of its root",
  withProc((proc, dir) => {
    Deno.mkdirSync(`${dir}/ct`);
    Deno.writeTextFileSync(`${dir}/ct/f`, "f");
    const info = Deno.statSync(`${dir}/ct/f`);
    writeMountInfo(proc, "self", [`1 0 ${deviceName(info.dev)} / / rw - ext4 /dev/sda1 rw`]);
    // A chroot's own table lists no mount above its root: here, none at all.
    addProcess(proc, 10, { ns: SCANNER_NS, root: `${dir}/ct`, mountinfo: [] });
    addProcess(proc, 11, { ns: OTHER_NS, root: `${dir}/ct`, mountinfo: [] });
    const views = new Views(proc, null);
    assertEquals(views.viewOf(10)?.walker.lookUp(`${proc}/10/root`, `${dir}/ct/f`), {
      found: true,
      dev: info.dev,
      ino: info.ino!,
      type: "ext4",
      changedMs: Math.max(info.ctime!.getTime(), info.mtime!.getTime(), info.birthtime!.getTime()),
      ctimeMs: info.ctime!.getTime(),
    });
    // In another namespace the scanner's table says nothing of its mounts.
    assertEquals(views.viewOf(11)?.walker.lookUp(`${proc}/11/root`, `${dir}/ct/f`), {
      found: false,
      unresolvable: "no mount holds its path",
    });
  }),
);

Deno.test(
  "Views.viewOf() keeps no tree from a process that moved while its table was read",
  withProc(async (proc, dir, t) => {
    const line = "301 300 0:77 / / rw - ext4 /dev/vdb rw";
    // Which link of the process moves while its table is read, and to where.
    type Move = [label: string, link: "ns/mnt" | "root" | null, target: string, kept: boolean];
    const cases: Move[] = [
      ["it stayed: its tree is kept", null, "", true],
      ["it entered another namespace", "ns/mnt", `mnt:[${THIRD_NS}]`, false],
      ["it entered a chroot", "root", dir, false],
    ];
    let pid = 10;
    for (const [label, link, target, kept] of cases) {
      await t.step(label, async () => {
        const [mover, stranger] = [pid++, pid++];
        addProcess(proc, mover, { ns: OTHER_NS + mover });
        addProcess(proc, stranger, { ns: OTHER_NS + stranger }); // no table of its own
        const fifo = `${proc}/${mover}/mountinfo`;
        const mkfifo = await new Deno.Command("mkfifo", { args: [fifo] }).output();
        assert(mkfifo.success);
        // The writer opens the table once the scan does, moves the process's
        // link, then writes the table: the scan reads it whole, after the move.
        const writer = new Deno.Command("sh", {
          args: [
            "-c",
            'exec 3>"$1"; if [ -n "$2" ]; then ln -sfn "$3" "$2"; fi; printf "%s\\n" "$4" >&3',
            "sh",
            fifo,
            link === null ? "" : `${proc}/${mover}/${link}`,
            target,
            line,
          ],
        }).spawn();
        const views = new Views(proc, null);
        try {
          const view = views.viewOf(mover);
          assertEquals(view === null, !kept);
        } finally {
          await settle(writer);
        }
        // The table's device serves other processes only from a tree kept.
        assertEquals(views.mountOfDevice(stranger, "0:77")?.type, kept ? "ext4" : undefined);
      });
    }
  }),
);

/** Waits for `child`, killing it when it still waits on its FIFO after 10 s. */
async function settle(child: Deno.ChildProcess): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), 10_000);
  });
  const ended = await Promise.race([child.status, timeout]);
  clearTimeout(timer);
  if (ended === "timeout") {
    child.kill();
    await child.status;
    throw new Error("The table's writer was never read");
  }
  assert(ended.success);
}

Deno.test(
  "Views.viewOf() walks with a tree's new table once it was read again for a mount it did not know",
  withProc((proc, dir) => {
    Deno.mkdirSync(`${dir}/ct/net`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/ct/net/g`, "below a mount that came later");
    const device = deviceName(Deno.statSync(`${dir}/ct`).dev);
    addProcess(proc, 12, {
      ns: OTHER_NS,
      root: `${dir}/ct`,
      mountinfo: [`301 300 ${device} / / rw - ext4 x rw`],
    });
    const views = new Views(proc, null);
    const anchor = `${proc}/12/root`;
    assertEquals(viewOf(views, 12).walker.lookUp(anchor, `${dir}/ct/net/g`).found, true);
    // A FUSE mount appears at /net; the scan meets its device and reads the table again.
    writeMountInfo(proc, 12, [
      `301 300 ${device} / / rw - ext4 x rw`,
      "302 301 0:92 / /net rw - fuse.sshfs u@h:/ rw",
    ]);
    assertEquals(views.mountOfDevice(12, "0:92")?.type, "fuse.sshfs");
    assertEquals(viewOf(views, 12).walker.lookUp(anchor, `${dir}/ct/net/g`), {
      found: false,
      unresolvable: "its path crosses fuse.sshfs, which is not asked",
    });
  }),
);

Deno.test(
  "Views.viewOf() reads the scanner's own table first, whatever is asked first",
  withProc((proc) => {
    // 10 shares the scanner's namespace and root; its own table cannot be read.
    addProcess(proc, 10, { ns: SCANNER_NS });
    assertEquals(viewOf(new Views(proc, null), 10).ns, `mnt:[${SCANNER_NS}]`);
  }),
);
