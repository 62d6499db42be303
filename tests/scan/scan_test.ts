import { assert, assertEquals, assertRejects } from "@std/assert";
import { scanFds, scanLibs } from "../../lib/scan/scan.ts";
import type { ScanResult } from "../../lib/scan/model.ts";
import { FIXTURE_PROC } from "../_helpers.ts";
import { encodeName } from "../../lib/proc/names.ts";
import { buildMapper, type Mapper, realLibrary, spawnMapper } from "../_live.ts";

const READ_FIXTURE: Deno.PermissionOptions = { read: [FIXTURE_PROC] };
/** A fixture tree is no procfs: the kernel's marker decides, and says why. */
const UNVERIFIED = "the proc root is not a procfs the scan could confirm";

Deno.test({
  name: "scanLibs() finds deleted mappings in the fixture tree, with argv and kinds",
  permissions: READ_FIXTURE,
  async fn() {
    const result = await scanLibs({ proc: FIXTURE_PROC });
    assertEquals(result.unreadable, 0);
    assertEquals(result.processes.map((p) => p.pid), [99, 1000, 1234, 1235, 2000, 3000, 5000]);
    const server = result.processes.find((p) => p.pid === 1234)!;
    assertEquals(server.argv, ["/opt/my app/bin/server", "--name", "a b"]);
    assertEquals(server.cmdline, "/opt/my app/bin/server --name a b");
    assertEquals(server.files, [
      { path: "/opt/my app/bin/server", kind: "executable", unverified: UNVERIFIED },
      { path: "/opt/my app/lib/libfoo 1.so", kind: "library", unverified: UNVERIFIED },
    ]);
    const xorg = result.processes.find((p) => p.pid === 3000)!;
    assertEquals(xorg.files.map((f) => f.path), ["/lib/SYSV00000000", "/usr/lib/i915"]);
    const python = result.processes.find((p) => p.pid === 5000)!;
    assertEquals(python.cmdline, "/usr/bin/python3 /srv/app.py");
    assertEquals(python.argv, ["/usr/bin/python3", "/srv/app.py   "]);
  },
});

Deno.test("scanLibs() reports a process that cleared its argv by its comm, as ps shows it", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (const pid of [7, 8]) {
      Deno.mkdirSync(`${dir}/${pid}`);
      Deno.writeTextFileSync(`${dir}/${pid}/cmdline`, "");
      Deno.writeTextFileSync(`${dir}/${pid}/maps`, "1-2 r-xp 0 fd:01 5 /lib/gone.so (deleted)\n");
    }
    Deno.writeTextFileSync(`${dir}/7/comm`, "hidden\n");
    // 8 has no comm: it exited between the reads.
    const result = await scanLibs({ proc: dir });
    assertEquals(
      result.processes.map((p) => [p.pid, p.argv, p.cmdline]),
      [[7, [], "[hidden]"]],
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("scanLibs() counts a process whose comm cannot be read as unreadable, never names it", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (const pid of [7, 8]) {
      Deno.mkdirSync(`${dir}/${pid}`);
      Deno.writeTextFileSync(`${dir}/${pid}/cmdline`, "");
      Deno.writeTextFileSync(`${dir}/${pid}/maps`, "1-2 r-xp 0 fd:01 5 /lib/gone.so (deleted)\n");
    }
    Deno.writeTextFileSync(`${dir}/7/comm`, "hidden\n");
    // 8's comm is there but cannot be read (a directory: EISDIR), unlike a comm that is gone.
    Deno.mkdirSync(`${dir}/8/comm`);
    const result = await scanLibs({ proc: dir });
    assertEquals(result.processes.map((p) => [p.pid, p.cmdline]), [[7, "[hidden]"]]);
    assertEquals(result.unreadable, 1);
    // Gone instead: not counted.
    Deno.removeSync(`${dir}/8/comm`);
    assertEquals((await scanLibs({ proc: dir })).unreadable, 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "scanLibs() with kinds: false reads no exe link and calls every mapped file a library",
  permissions: READ_FIXTURE,
  async fn() {
    const result = await scanLibs({ proc: FIXTURE_PROC, kinds: false });
    const server = result.processes.find((p) => p.pid === 1234)!;
    assertEquals(server.files.map((f) => f.kind), ["library", "library"]);
  },
});

Deno.test({
  name: "scanLibs() reads the OpenVZ form and de-duplicates a file mapped twice",
  permissions: READ_FIXTURE,
  async fn() {
    const result = await scanLibs({ proc: FIXTURE_PROC });
    const openvpn = result.processes.find((p) => p.pid === 2000)!;
    assertEquals(openvpn.files, [
      { path: "/v/t/p/usr/sbin/openvpn", kind: "library", unverified: UNVERIFIED },
    ]);
  },
});

Deno.test({
  name: "scanLibs() with no ignore rules reports the pseudo files too",
  permissions: READ_FIXTURE,
  async fn() {
    const result = await scanLibs({ proc: FIXTURE_PROC, ignore: { patterns: [], literals: [] } });
    const xorg = result.processes.find((p) => p.pid === 3000)!;
    assertEquals(xorg.files.length, 15);
  },
});

Deno.test({
  name: "scanFds() finds deleted open files and applies the same ignores",
  permissions: READ_FIXTURE,
  async fn() {
    const result = await scanFds({ proc: FIXTURE_PROC });
    assertEquals(
      result.processes.map((p) => [p.pid, p.files.map((f) => `${f.kind}:${f.path}`)]),
      [
        [99, ["fd:/var/log/cron.log.1"]],
        [1000, ["fd:/var/log/cron.log.1"]],
        [1234, ["fd:/tmp/data"]],
      ],
    );
  },
});

Deno.test({
  name: "scanLibs() throws NotFound for a missing proc root",
  permissions: READ_FIXTURE,
  async fn() {
    await assertRejects(
      () => scanLibs({ proc: `${FIXTURE_PROC}/nonexistent` }),
      Deno.errors.NotFound,
    );
  },
});

Deno.test({
  name: "scanLibs() lets NotCapable through instead of reporting nothing",
  permissions: READ_FIXTURE,
  async fn() {
    await assertRejects(() => scanLibs({ proc: "/tmp" }), Deno.errors.NotCapable);
  },
});

/** Writes a proc tree (PID → file name → content), scans it with scanLibs, and removes it. */
async function scanTree(
  tree: Record<string, Record<string, string | Uint8Array>>,
): Promise<ScanResult> {
  const dir = Deno.makeTempDirSync();
  try {
    for (const [pid, files] of Object.entries(tree)) {
      Deno.mkdirSync(`${dir}/${pid}`);
      for (const [name, content] of Object.entries(files)) {
        if (typeof content === "string") Deno.writeTextFileSync(`${dir}/${pid}/${name}`, content);
        else Deno.writeFileSync(`${dir}/${pid}/${name}`, content);
      }
    }
    return await scanLibs({ proc: dir });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("scanLibs() splits argv at NULs exactly: empty, raw and unterminated arguments", async () => {
  const maps = "7f00-7f21 r-xp 00000000 fd:01 42 /usr/lib/libgone.so.1 (deleted)\n";
  const { processes } = await scanTree({
    "10": { maps, cmdline: Uint8Array.from([0x61, 0, 0, 0x62, 0xff, 0]) }, // "a", "", "b\xff"
    "11": { maps, cmdline: Uint8Array.from([0x61, 0, 0x62]) }, // rewritten: no final NUL
    "12": { maps, cmdline: Uint8Array.from([0, 0]), comm: "cleared\n" }, // two empty arguments
    "13": { maps, cmdline: new Uint8Array() }, // no argv and no comm (it exited): left out
    "14": { maps, cmdline: Uint8Array.from([0xef, 0xbb, 0xbf, 0x61, 0]) }, // a leading BOM is kept
  });
  assertEquals(processes.map((p) => [p.pid, p.argv.map(encodeName)]), [
    [10, [[0x61], [], [0x62, 0xff]].map((b) => Uint8Array.from(b))],
    [11, [[0x61], [0x62]].map((b) => Uint8Array.from(b))],
    [12, [new Uint8Array(), new Uint8Array()]],
    [14, [Uint8Array.from([0xef, 0xbb, 0xbf, 0x61])]],
  ]);
  assertEquals(processes.find((p) => p.pid === 12)?.cmdline, "[cleared]");
});

Deno.test("scanLibs() judges each line by its own address range, though it parses a file once", async () => {
  const rest = " r-xp 00000000 fd:01 42 /usr/lib/libgone.so.1 (deleted)\n";
  const ignored = "7f00-7f21 r-xp 00000000 00:05 7 /dev/shm/x (deleted)\n";
  const { processes } = await scanTree({
    "20": { maps: `zz-7f21${rest}${ignored}`, cmdline: "x\0" }, // a garbled range first
    "21": { maps: `7f00-7f21${rest}${ignored}`, cmdline: "x\0" },
    "22": { maps: `7e00-7e21${rest}`, cmdline: "x\0" },
  });
  assertEquals(processes.map((p) => [p.pid, p.files.map((f) => f.path)]), [
    [21, ["/usr/lib/libgone.so.1"]],
    [22, ["/usr/lib/libgone.so.1"]],
  ]);
});

Deno.test("scanLibs() and scanFds() keep thousands of distinct deleted files of one process, once each", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/5/fd`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/5/cmdline`, "many\0");
    let maps = "";
    for (let i = 0; i < 20_000; i++) {
      // Each file twice, the second time far from the first.
      maps += `1-2 r--p 0 fd:01 ${i + 1} /lib/gone${i}.so (deleted)\n`;
      if (i < 10_000) Deno.symlinkSync(`/var/log/gone${i}.log (deleted)`, `${dir}/5/fd/${i}`);
    }
    Deno.writeTextFileSync(`${dir}/5/maps`, maps + maps);
    const budget = { filesPerProcess: 50_000 };
    const libs = await scanLibs({ proc: dir, budget });
    assertEquals(libs.processes[0]!.files.length, 20_000);
    assertEquals(new Set(libs.processes[0]!.files.map((f) => f.path)).size, 20_000);
    const fds = await scanFds({ proc: dir, budget });
    assertEquals(fds.processes[0]!.files.length, 10_000);
    // The default budget keeps them all: a kernel may write 65,530 mappings.
    const all = await scanLibs({ proc: dir });
    assertEquals([all.processes[0]!.files.length, all.processes[0]!.notListed], [
      20_000,
      undefined,
    ]);
    // A smaller one keeps 4,096 of them and counts each of the others once.
    const small = { filesPerProcess: 4096 };
    const cut = await scanLibs({ proc: dir, budget: small });
    assertEquals([cut.processes[0]!.files.length, cut.processes[0]!.notListed], [4096, 15_904]);
    const cutFds = await scanFds({ proc: dir, budget: small });
    assertEquals([cutFds.processes[0]!.files.length, cutFds.processes[0]!.notListed], [4096, 5904]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

const MAPPER = await buildMapper();
const LIVE = Deno.uid() === 0 && MAPPER !== null;
if (!LIVE) console.warn("scan_test: budget cases ignored: needs root and cc -static");

/** Runs `body` with `count` copies of a library, mapped by one mapper per entry of `owners`, deleted. */
async function withHoarders(
  count: number,
  owners: number[],
  body: (pids: number[], dir: string) => Promise<void>,
): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_budget_" });
  const mappers: Mapper[] = [];
  try {
    const names = Array.from(
      { length: count },
      (_, i) => `${dir}/a-rather-long-name-of-a-deleted-file-number-${String(i).padStart(5, "0")}`,
    );
    for (const name of names) Deno.copyFileSync(realLibrary(), name);
    for (const uid of owners) {
      mappers.push(await spawnMapper([MAPPER!, "-u", String(uid), ...names]));
    }
    for (const name of names) Deno.removeSync(name);
    await body(mappers.map((mapper) => mapper.pid), dir);
  } finally {
    for (const mapper of mappers) await mapper.stop();
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test({
  name: "scanLibs() keeps at most budget.filesPerProcess files of a process and counts the rest",
  ignore: !LIVE,
  async fn() {
    await withHoarders(300, [65534], async ([pid]) => {
      const result = await scanLibs({ budget: { filesPerProcess: 100 } });
      const mine = result.processes.find((process) => process.pid === pid)!;
      assertEquals(mine.files.length, 100);
      assertEquals(mine.notListed, 200);
      assertEquals(result.notListed! >= 200, true);
      // Without a budget that small, every one is there.
      const whole = await scanLibs();
      assertEquals(whole.processes.find((process) => process.pid === pid)!.files.length, 300);
    });
  },
});

Deno.test({
  name: "scanLibs() keeps at most budget.charsPerUser characters of names of one user's processes",
  ignore: !LIVE,
  async fn() {
    // Users of this run's own (a user's share counts all its processes on the host): two
    // random UIDs no account or second suite uses.
    const user = 1_000_000 + 2 * (crypto.getRandomValues(new Uint32Array(1))[0]! % 1_000_000_000);
    await withHoarders(100, [user, user, user + 1], async (pids, dir) => {
      const [first, second, other] = pids as [number, number, number];
      const chars = 100 * `${dir}/a-rather-long-name-of-a-deleted-file-number-00000`.length;
      // A share of one and a half processes' names for each user.
      const result = await scanLibs({ budget: { charsPerUser: Math.floor(chars * 1.5) } });
      const of = (pid: number) => result.processes.find((process) => process.pid === pid)!;
      const kept = (pid: number) => of(pid).files.length;
      // Every process is reported; whichever of one user's two is read second gets only what is
      // left of its share (PIDs may wrap, so which one is not fixed).
      assertEquals([kept(first), kept(second)].sort((a, b) => a - b), [50, 100]);
      assertEquals(kept(other), 100);
      assertEquals((of(first).notListed ?? 0) + (of(second).notListed ?? 0), 50);
      assertEquals(of(other).notListed, undefined);
    });
  },
});

Deno.test("scanLibs() with pids reads only those processes, of those that exist", async () => {
  const all = await scanLibs({ proc: FIXTURE_PROC });
  const some = await scanLibs({ proc: FIXTURE_PROC, pids: [99, 1234, 424242] });
  assertEquals(some.processes.map((p) => p.pid), [99, 1234]);
  assert(all.processes.length > 2);
  assertEquals(some.scanned, 2);
});
