/**
 * The identity rule on the live kernel: files replaced while another link
 * keeps their old inode, decoys, a process that flips its mappings under the
 * scan, processes in their own mount namespace or chroot, exact names, and a
 * FUSE file system whose daemon stopped answering.
 */

import { assert, assertEquals, assertStringIncludes, equal } from "@std/assert";
import { findTool, runCli, runTag, waitFor } from "../_helpers.ts";
import {
  buildMapper,
  FUSE_PYTHON,
  fuseMissing,
  type Mapper,
  privateMounts,
  realLibrary,
  sh,
  spawnMapper,
  withMapper,
} from "../_live.ts";
import { type JsonFile, type JsonGroup, parseMachine } from "../../mod.ts";
import { createIdentityJudge } from "../../lib/identity/judge.ts";
import { MapsReader } from "../../lib/proc/maps_reader.ts";
import { deviceName } from "../../lib/proc/mounts.ts";
import { OUT_OF_STEPS } from "../../lib/identity/path_walk.ts";
import { decodeName, encodeName } from "../../lib/proc/names.ts";

const MAPPER = await buildMapper();
const IS_ROOT = Deno.uid() === 0;
const NO_MAPPER = MAPPER === null ? "no C compiler with a static libc (cc -static)" : undefined;
const NOT_ROOT = IS_ROOT ? undefined : "needs root (mount namespaces, chroot, other users)";
for (const reason of [NO_MAPPER, NOT_ROOT]) {
  if (reason !== undefined) console.warn(`identity_test: live cases ignored: ${reason}`);
}
const ignore = NO_MAPPER !== undefined || NOT_ROOT !== undefined;

/**
 * The row of machine output `stdout` whose PIDs include `pid`, or undefined;
 * it must hold `pid` alone (every process these tests start has a command
 * line of its own, so a group with another PID would mix in files of a
 * process the test did not start).
 */
function rowOf(stdout: string, pid: number): string | undefined {
  // Records only (PIDs, then ";"): not the comments a restart plan adds after them.
  const rows = stdout.split("\n").filter((line) =>
    /^[0-9]+(,[0-9]+)*;/.test(line) &&
    line.slice(0, line.indexOf(";")).split(",").includes(String(pid))
  );
  assert(rows.length <= 1, rows.join("\n"));
  if (rows[0] !== undefined) assertEquals(rows[0].slice(0, rows[0].indexOf(";")), String(pid));
  return rows[0];
}

/**
 * The files the machine output lists for `pid`, or undefined when it is not
 * there; the scan run through `via` (into a mount namespace) when given.
 */
async function filesOf(
  pid: number,
  args: string[] = [],
  via: readonly string[] = [],
): Promise<readonly string[] | undefined> {
  const run = await runCli(["-A"], ["-m", ...args], {}, undefined, via);
  assertEquals(run.code, 0, run.stderr);
  const row = rowOf(run.stdout, pid);
  return row === undefined ? undefined : parseMachine(row)[0]!.files;
}

/** The JSON group holding `pid`, which must hold it alone (see `rowOf`). */
function groupOf(stdout: string, pid: number): JsonGroup | undefined {
  const groups: JsonGroup[] = JSON.parse(stdout).groups;
  const group = groups.find((group) => group.pids.includes(pid));
  if (group !== undefined) assertEquals(group.pids, [pid], JSON.stringify(group));
  return group;
}

/**
 * What a scan says when the time it gives one process ran out (a loaded host:
 * it is wall-clock time) and the kernel's marker decided instead.
 */
const BUDGET_CUT = OUT_OF_STEPS;

/**
 * The JSON files of the group holding `pid` (the scan run through `via` when
 * given); scanned again, up to five times, while the process's share of the
 * scan ran out before its files were judged: the rule under test never spoke.
 */
async function jsonFilesOf(
  pid: number,
  args: string[] = [],
  via: readonly string[] = [],
): Promise<Omit<JsonFile, "replaced_at">[] | undefined> {
  for (let attempt = 1;; attempt++) {
    const run = await runCli(["-A"], ["--json", ...args], {}, undefined, via);
    assertEquals(run.code, 0, run.stderr);
    const files = groupOf(run.stdout, pid)?.files;
    const cut = files?.some((file) => file.unverified_reason === BUDGET_CUT) ?? false;
    if (!cut || attempt === 5) return files?.map(withoutTime);
  }
}

/** When this file's tests began: every file they replace or delete changes after it. */
const TESTS_BEGAN = Date.now();

/**
 * A JSON file less its `replaced_at`, which must be a time within these
 * tests (the files are theirs) where the identity rule decided, else null.
 */
function withoutTime(file: JsonFile): Omit<JsonFile, "replaced_at"> {
  const { replaced_at: at, ...rest } = file;
  if (!file.verified) assertEquals(at, null, file.path);
  else if (at !== null) {
    const ms = Date.parse(at);
    // The kernel's clock for ctime is the coarse one, up to a tick behind Date.now().
    assert(ms >= TESTS_BEGAN - 50 && ms <= Date.now() + 50, `${file.path}: replaced_at ${at}`);
  }
  return rest;
}

/**
 * Asserts the machine output lists `expected` for `pid`. Machine output has
 * no reasons: when it differs, a JSON scan says whether the process's share
 * ran out (or agrees with `expected`, the share having run out in the first
 * scan only); then it is scanned again, up to five times. Any other
 * difference fails at once.
 */
async function assertFiles(
  expected: readonly string[] | undefined,
  pid: number,
  args: string[] = [],
  via: readonly string[] = [],
): Promise<void> {
  for (let attempt = 1;; attempt++) {
    const files = await filesOf(pid, args, via);
    if (equal(files, expected)) return;
    const run = await runCli(["-A"], ["--json", ...args], {}, undefined, via);
    const json = groupOf(run.stdout, pid)?.files;
    const cut = json?.some((file) => file.unverified_reason === BUDGET_CUT) ?? false;
    if ((!cut && !equal(json?.map((f) => f.path), expected)) || attempt === 5) {
      assertEquals(files, expected, `attempt ${attempt}`);
    }
  }
}

/** Runs `body` with a temporary directory holding a copy of a real library, `lib.so`. */
async function withLibrary(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_identity_" });
  try {
    Deno.copyFileSync(realLibrary(), `${dir}/lib.so`);
    await body(dir);
  } finally {
    await sh('umount -l "$1"/* 2>/dev/null || true', dir);
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Replaces a file as dpkg does: a new file written beside it, renamed over it. */
const REPLACE = 'cp "$1" "$1.new" && mv "$1.new" "$1"';

Deno.test({
  name: "scan reports a library replaced while a hard link keeps its old inode",
  ignore,
  async fn() {
    await withLibrary(async (dir) => {
      const lib = `${dir}/lib.so`;
      await withMapper([MAPPER!, lib], async (mapper) => {
        await sh(`ln "$1" "$1.keep"; ${REPLACE}`, lib);
        await assertFiles([lib], mapper.pid);
        await assertFiles([lib], mapper.pid, ["--fds"]);
        // Another file stands at its path: an update.
        assertEquals(await jsonFilesOf(mapper.pid), [{
          path: lib,
          kind: "library",
          verified: true,
          state: "replaced",
        }]);
      });
    });
  },
});

Deno.test({
  name: "scan is not fooled by a decoy named x (deleted), nor by a process flipping its mapping",
  ignore,
  async fn() {
    await withLibrary(async (dir) => {
      const lib = `${dir}/lib.so`;
      const started: Mapper[] = [];
      try {
        // The attacker, unprivileged, opened the library before the update and
        // keeps swapping one mapping between its old inode and a live file.
        Deno.copyFileSync(lib, `${dir}/live.so`);
        started.push(await spawnMapper([MAPPER!, "-u", "65534", "-F", lib, `${dir}/live.so`]));
        const victims: Mapper[] = [];
        for (let i = 0; i < 3; i++) victims.push(await spawnMapper([MAPPER!, lib]));
        started.push(...victims);
        // Live files named like marked ones, and a really deleted file: each prints a path of
        // its own, so a live one taken for deleted would show. The decoy maps live ones only.
        const self = `${dir}/libself.so`;
        Deno.copyFileSync(lib, `${dir}/live.so (deleted)`);
        Deno.copyFileSync(lib, `${dir}/decoy.so (deleted)`);
        Deno.copyFileSync(lib, self);
        const mixed = await spawnMapper([MAPPER!, `${dir}/live.so (deleted)`, self]);
        started.push(mixed);
        const decoy = await spawnMapper([MAPPER!, `${dir}/decoy.so (deleted)`]);
        started.push(decoy);
        Deno.removeSync(self);
        await sh(REPLACE, lib);
        let cut = 0;
        for (let scan = 0; scan < 20; scan++) {
          const run = await runCli(["-A"], ["-m"]);
          const records = parseMachine(
            run.stdout.split("\n").filter((line) => line.includes(dir)).join("\n"),
          );
          // A decoy's share of a scan can run out on a loaded host (it is wall-clock time): its
          // marker then decides, and says so. Such a scan is asked again, never counted.
          const seen = records.flatMap((record) => record.pids);
          const mixedFiles = records.find((record) => record.pids.includes(mixed.pid))?.files;
          if ((seen.includes(decoy.pid) || !equal(mixedFiles, [self])) && cut < 20) {
            const json = await runCli(["-A"], ["--json"]);
            const ours: JsonGroup[] = JSON.parse(json.stdout).groups
              .filter((g: JsonGroup) => g.pids.includes(decoy.pid) || g.pids.includes(mixed.pid));
            if (ours.some((g) => g.files.some((f) => f.unverified_reason === BUDGET_CUT))) {
              cut++;
              scan--;
              continue;
            }
          }
          const pids = records.flatMap((record) => record.pids);
          for (const victim of victims) {
            assert(pids.includes(victim.pid), `scan ${scan}: ${victim.pid} missing`);
          }
          assertEquals(pids.includes(decoy.pid), false, `scan ${scan}: the decoy was reported`);
          const files = records.flatMap((record) => record.files);
          assertEquals(files.filter((f) => /(live|decoy)\.so/.test(f)), [], `scan ${scan}`);
          const mine = records.find((record) => record.pids.includes(mixed.pid));
          assertEquals(mine?.files, [self], `scan ${scan}`);
        }
      } finally {
        for (const process of started) await process.stop();
      }
    });
  },
});

Deno.test({
  name: "scan reports a process that cleared its argv as [comm]",
  ignore,
  async fn() {
    await withLibrary(async (dir) => {
      const lib = `${dir}/lib.so`;
      // A program name of this run's own (comm keeps 15 bytes): no other process shares the row.
      const comm = `mapper${runTag().slice(0, 9)}`;
      Deno.copyFileSync(MAPPER!, `${dir}/${comm}`);
      Deno.chmodSync(`${dir}/${comm}`, 0o755);
      await withMapper([`${dir}/${comm}`, "-z", lib], async (mapper) => {
        Deno.removeSync(lib);
        const run = await runCli(["-A"], ["-m"]);
        assertEquals(rowOf(run.stdout, mapper.pid), `${mapper.pid};${lib};[${comm}]`);
      });
    });
  },
});

Deno.test({
  name: "scan judges a process in its own mount namespace by its own view, not the host's",
  ignore,
  async fn() {
    await withLibrary(async (dir) => {
      // In the process's namespace `host/` is a bind mount of `inner/`.
      Deno.mkdirSync(`${dir}/host`);
      Deno.mkdirSync(`${dir}/inner`);
      Deno.copyFileSync(`${dir}/lib.so`, `${dir}/inner/lib.so`);
      // The host's file of that name is the very inode the process maps.
      Deno.linkSync(`${dir}/inner/lib.so`, `${dir}/host/lib.so`);
      // A live file named like a marked one, which exists only in the process's view.
      Deno.copyFileSync(`${dir}/lib.so`, `${dir}/inner/fake.so (deleted)`);
      // Replaced on the host only: the process keeps using its own, current file.
      Deno.copyFileSync(`${dir}/lib.so`, `${dir}/inner/own.so`);
      Deno.copyFileSync(`${dir}/lib.so`, `${dir}/host/own.so`);
      await withMapper([
        "unshare",
        "-m",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        'mount --bind "$1/inner" "$1/host" && exec "$2" "$1/host/lib.so" "$1/host/fake.so (deleted)" "$1/host/own.so"',
        "sh",
        dir,
        MAPPER!,
      ], async (mapper) => {
        await sh(REPLACE, `${dir}/inner/lib.so`);
        await sh(REPLACE, `${dir}/host/own.so`);
        // Host side, the old inode is still at host/lib.so: only the process's view tells.
        await assertFiles([`${dir}/host/lib.so`], mapper.pid);
        assertEquals(await jsonFilesOf(mapper.pid), [
          { path: `${dir}/host/lib.so`, kind: "library", verified: true, state: "replaced" },
        ]);
      });
    });
  },
});

Deno.test({
  name: "scan resolves names inside a chroot and never follows a link out of it",
  ignore,
  async fn() {
    await withLibrary(async (dir) => {
      const root = `${dir}/root`;
      Deno.mkdirSync(`${root}/lib`, { recursive: true });
      Deno.mkdirSync(`${dir}/outside`);
      // Its command line names only paths inside the root: a program name of this run's own
      // keeps it apart from the same test of a second suite.
      const program = `/mapper-${runTag()}`;
      Deno.copyFileSync(MAPPER!, `${root}${program}`);
      Deno.chmodSync(`${root}${program}`, 0o755);
      Deno.copyFileSync(`${dir}/lib.so`, `${root}/lib/a.so`);
      Deno.copyFileSync(`${dir}/lib.so`, `${root}/lib/kept.so`);
      // Outside the root, the old inode of lib/a.so lives on under the host path the link names.
      Deno.linkSync(`${root}/lib/a.so`, `${dir}/outside/a.so`);
      await withMapper([
        "unshare",
        `--root=${root}`,
        program,
        "/lib/a.so",
        "/lib/kept.so",
      ], async (mapper) => {
        Deno.removeSync(`${root}/lib/a.so`);
        Deno.symlinkSync(`${dir}/outside/a.so`, `${root}/lib/a.so`);
        // kept.so's name now leads, by an absolute link through `..`, to its own inode:
        // inside the root that is the file in use; on the host the link leads nowhere.
        Deno.linkSync(`${root}/lib/kept.so`, `${root}/kept.so`);
        Deno.removeSync(`${root}/lib/kept.so`);
        Deno.symlinkSync("/lib/../kept.so", `${root}/lib/kept.so`);
        await assertFiles([`${root}/lib/a.so`], mapper.pid);
        const files = await jsonFilesOf(mapper.pid);
        // Inside the root, its link leads nowhere: nothing stands at its path.
        assertEquals(files, [
          { path: `${root}/lib/a.so`, kind: "library", verified: true, state: "deleted" },
        ]);
      });
    });
  },
});

Deno.test({
  name: "scan names a file holding the four characters \\012 exactly, apart from a newline",
  ignore,
  async fn() {
    await withLibrary(async (dir) => {
      const literal = `${dir}/a\\012b.so`;
      const newline = `${dir}/a\nb.so`;
      Deno.copyFileSync(`${dir}/lib.so`, literal);
      Deno.copyFileSync(`${dir}/lib.so`, newline);
      await withMapper([MAPPER!, literal, newline], async (mapper) => {
        Deno.removeSync(literal);
        Deno.removeSync(newline);
        await assertFiles([newline, literal], mapper.pid);
        assertEquals((await jsonFilesOf(mapper.pid))?.map((f) => f.path), [newline, literal]);
      });
    });
  },
});

const NO_FUSE = await fuseMissing();
if (NO_FUSE !== undefined) console.warn(`identity_test: FUSE case ignored: ${NO_FUSE}`);

Deno.test({
  name: "every output mode finishes and reports when a FUSE daemon stops answering",
  ignore: ignore || NO_FUSE !== undefined,
  async fn(t) {
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_fuse_" });
    const mountpoint = `${dir}/mnt`;
    Deno.mkdirSync(mountpoint);
    // The mount, the process and the scans share a mount namespace of the test's own; the
    // daemon ends with the test's pipe, so a killed run leaves neither daemon nor mount.
    const ns = await privateMounts();
    const daemon = new Deno.Command(ns.enter[0]!, {
      args: [
        ...ns.enter.slice(1),
        FUSE_PYTHON,
        new URL("../helpers/hangfs.py", import.meta.url).pathname,
        mountpoint,
        realLibrary(),
        `${dir}/trigger`,
        "--until-eof",
      ],
      stdin: "piped",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    let mapper: Mapper | undefined;
    const endDaemon = () => {
      try {
        // Its death answers every request still waiting: a stuck stat returns.
        daemon.kill("SIGKILL");
      } catch { /* already gone */ }
    };
    try {
      await waitFor(
        () => ns.sh('test -e "$1"', `${mountpoint}/lib.so`).then(() => true, () => false),
        "the FUSE mount",
      );
      mapper = await spawnMapper([
        ...ns.enter,
        MAPPER!,
        `${mountpoint}/lib.so`,
        `${mountpoint}/held.log`,
      ]);
      await ns.sh('rm "$1/lib.so" "$1/held.log"', mountpoint);
      // A scan reads every process, however busy the host: hung is 15 s past three times what
      // a whole scan takes here before the daemon stops answering.
      const before = performance.now();
      await runCli(["-A"], ["-m"], {}, undefined, ns.enter);
      const bound = 15 + 3 * (performance.now() - before) / 1000;
      Deno.writeTextFileSync(`${dir}/trigger`, "");
      const pid = mapper.pid;
      // Both files are mapped and held open.
      const both = [`${mountpoint}/held.log`, `${mountpoint}/lib.so`];
      const modes: [string[], (stdout: string) => void][] = [
        [["-m"], (out) => assertEquals(rowFiles(out, pid), both)],
        [["-s"], (out) => {
          const line = out.split("\n").find((line) => line.startsWith(`${pid} "`));
          assertStringIncludes(line ?? "", both[1]!, out);
        }],
        [["--fds", "-m"], (out) => assertEquals(rowFiles(out, pid), both)],
        [["-m", "-S"], (out) => assertEquals(rowFiles(out, pid), both)],
        [["--json"], (out) => assertFuseJson(out, pid, both)],
        [["--fds", "--json"], (out) => assertFuseJson(out, pid, both)],
        // --allow-partial: a host whose kernel state is unknown (no /boot) is UNKNOWN without it.
        [["--format=nagios", "--allow-partial"], (out) => {
          assert(/^(WARNING|CRITICAL) - /.test(out), out);
          assert(out.split("\n").some((line) => line.startsWith(`PIDs ${pid} `)), out);
        }],
        [
          // Prometheus names no PID: at least this process's two files are counted.
          ["--format=prometheus"],
          (out) => {
            const count = /^lib_users_stale_files\{[^}]*\} (\d+)$/m.exec(out)?.[1];
            assert(Number(count) >= 2, out);
          },
        ],
        [["-m", "--restart-hints"], (out) => assertEquals(rowFiles(out, pid), both)],
      ];
      for (const [args, check] of modes) {
        await t.step(args.join(" "), async () => {
          const timer = setTimeout(endDaemon, bound * 1000);
          const started = performance.now();
          const run = await runCli(["-A"], args, {}, undefined, ns.enter);
          clearTimeout(timer);
          const seconds = (performance.now() - started) / 1000;
          assert(seconds < bound, `${args.join(" ")} hung on the FUSE file system (${seconds} s)`);
          check(run.stdout);
        });
      }
    } finally {
      endDaemon();
      await daemon.status;
      await daemon.stdin.close().catch(() => {});
      await mapper?.stop();
      // The mount ends with the namespace.
      await ns.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

function rowFiles(stdout: string, pid: number): readonly string[] | undefined {
  const row = rowOf(stdout, pid);
  return row === undefined ? undefined : parseMachine(row)[0]!.files;
}

function assertFuseJson(stdout: string, pid: number, paths: string[]): void {
  const files = groupOf(stdout, pid)?.files ?? [];
  assertEquals(files.map((f) => f.path), paths);
  for (const file of files) {
    assertEquals(file.verified, false);
    assertStringIncludes(file.unverified_reason ?? "", "fuse", file.unverified_reason);
  }
}

Deno.test({
  name: "scan judges files under overlayfs: a file replaced through the overlay, a live decoy",
  ignore,
  async fn() {
    await withLibrary(async (dir) => {
      for (const sub of ["lower", "upper", "work", "merged"]) Deno.mkdirSync(`${dir}/${sub}`);
      Deno.copyFileSync(`${dir}/lib.so`, `${dir}/lower/lib.so`);
      Deno.copyFileSync(`${dir}/lib.so`, `${dir}/lower/fake.so (deleted)`);
      const options = `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`;
      // The overlay, the process and the scan share a mount namespace of the test's own.
      const ns = await privateMounts();
      try {
        await ns.sh('mount -t overlay overlay -o "$1" "$2"', options, `${dir}/merged`);
        const merged = `${dir}/merged`;
        const mapper = await spawnMapper([
          ...ns.enter,
          MAPPER!,
          `${merged}/lib.so`,
          `${merged}/fake.so (deleted)`,
        ]);
        try {
          // As a package manager inside a container replaces it: a new file renamed over the old.
          await ns.sh(REPLACE, `${merged}/lib.so`);
          const json = await jsonFilesOf(mapper.pid, [], ns.enter);
          assertEquals(json?.map((f) => f.path), [`${merged}/lib.so`], JSON.stringify(json));
          await assertFiles([`${merged}/lib.so`], mapper.pid, [], ns.enter);
        } finally {
          await mapper.stop();
        }
      } finally {
        await ns.stop();
      }
    });
  },
});

Deno.test({
  name: "scan judges a process's many deleted files in one directory by one listing, exactly",
  ignore,
  async fn() {
    await withLibrary(async (dir) => {
      // Past 16 deleted files in one directory the scan lists it: absent names are stale at once.
      const names = Array.from(
        { length: 24 },
        (_, i) => `${dir}/tmp-${String(i).padStart(2, "0")}`,
      );
      const decoy = `${dir}/tmp-live (deleted)`;
      for (const path of [...names, decoy]) Deno.copyFileSync(`${dir}/lib.so`, path);
      // A live decoy whose name is not UTF-8, which a listing could not spell: never verified.
      await sh('cp "$1/lib.so" "$1/$(printf "tmp-\\377 (deleted)")"', dir);
      const raw = decodeName(Uint8Array.from([...encodeName(`${dir}/tmp-`), 0xff]));
      await withMapper([
        "/bin/sh",
        "-c",
        // Mapped first, so listed last in maps (mappings go top-down): judged after the listing.
        'd=$1; m=$2; shift 2; exec "$m" "$(printf "%s/tmp-\\377 (deleted)" "$d")" "$@"',
        "sh",
        dir,
        MAPPER!,
        ...names,
        decoy,
      ], async (mapper) => {
        // Most deleted; the last replaced (its name is there again, for another file); one
        // put back by a hard link (its name leads to the very file again).
        for (const path of names.slice(0, 22)) Deno.removeSync(path);
        await sh(REPLACE, names[22]!);
        await sh('ln "$1" "$1.keep" && rm "$1" && ln "$1.keep" "$1"', names[23]!);
        const stale = names.slice(0, 23);
        const reported = [...stale.slice(0, 22), raw, stale[22]!].sort();
        await assertFiles(reported, mapper.pid);
        await assertFiles(reported, mapper.pid, ["--fds"]);
        const json = await jsonFilesOf(mapper.pid);
        // JSON shows a raw byte as U+FFFD (with the exact bytes in path_base64).
        assertEquals(
          json?.map((f) => [f.path, f.verified]),
          reported.map((path) => path === raw ? [`${dir}/tmp-\uFFFD`, false] : [path, true]),
        );
      });
    });
  },
});

Deno.test({
  name:
    "scan bounds what a process costs: 20 files 1,900 directories deep of a user's, and -t inside it",
  ignore,
  async fn(t) {
    await withLibrary(async (dir) => {
      // The attacker's directories, so no walk may remember them.
      const deep = Array.from({ length: 1900 }, () => "a").join("/");
      await sh(
        'cd "$1" && mkdir -p "$2" && i=0; while [ $i -lt 20 ]; do cp lib.so "$2/l$i.so"; ' +
          'ln "$2/l$i.so" "keep$i.so"; i=$((i+1)); done; chown -R 65534 a',
        dir,
        deep,
      );
      const libs = Array.from({ length: 20 }, (_, i) => `${dir}/${deep}/l${i}.so`);
      await withMapper([MAPPER!, "-u", "65534", ...libs], async (mapper) => {
        await sh('cd "$1" && rm "$2"/l*.so', dir, deep);
        // What judging the files costs, in seconds, with a fresh judge; the first `count` only.
        const judged = (syscalls: "pinned" | null, count: number) => {
          const judge = createIdentityJudge("/proc", syscalls === null ? { syscalls } : {});
          const reader = new MapsReader({ ignored: () => false });
          const started = performance.now();
          const verdicts = [...reader.read(`/proc/${mapper.pid}/maps`)]
            .filter(([file]) => file.path.startsWith(dir))
            .slice(0, count)
            .map(([file, range]) => judge.mapping(mapper.pid, file, range));
          judge.close();
          return { verdicts, seconds: (performance.now() - started) / 1000 };
        };
        // Times are compared with one file's cost measured here and now, never a fixed number
        // of seconds: on a loaded host everything is slower, and only the proportion tells.
        await t.step("pinned lookups cost their depth once: every file checked", async () => {
          const json = await jsonFilesOf(mapper.pid);
          assertEquals(json?.map((f) => f.verified), libs.map(() => true));
          const one = judged("pinned", 1);
          const all = judged("pinned", 20);
          // Twenty files at the depth of one: a walk each would cost about twenty times one.
          assert(
            all.seconds < 5 * one.seconds + 0.5,
            `20 files took ${all.seconds} s, one ${one.seconds} s`,
          );
          assertEquals(
            all.verdicts.map(({ stale, state }) => ({ stale, state })),
            libs.map(() => ({ stale: true, state: "deleted" })),
          );
        });
        await t.step("by path, two seconds of checks, then the marker decides, saying so", () => {
          const one = judged(null, 1);
          const all = judged(null, 20);
          // Two seconds of checks, then at most the one in flight, then the marker at once.
          assert(
            all.seconds < 2 + 2 * one.seconds + 0.5,
            `20 files took ${all.seconds} s, one ${one.seconds} s`,
          );
          assertEquals(all.verdicts.length, 20);
          assert(all.verdicts.every((v) => v.stale));
          assert(all.verdicts.some((v) => v.unverified?.startsWith("not checked:")));
        });
        await t.step("a deadline already past: no file is checked", () => {
          const judge = createIdentityJudge("/proc", { deadline: performance.now() - 1 });
          const [file, range] = [...new MapsReader({ ignored: () => false })
            .read(`/proc/${mapper.pid}/maps`)].find(([f]) => f.path.startsWith(dir))!;
          assertEquals(judge.mapping(mapper.pid, file, range), {
            stale: true,
            unverified: "not checked: the scan ran out of time (-t)",
          });
          judge.close();
        });
      });
    });
  },
});

/** Why a file system cannot be made on a loop device here with `tool`, or undefined. */
function loopMissing(tool: string, debianPackage: string): string | undefined {
  if (ignore) return NO_MAPPER ?? NOT_ROOT;
  if (findTool(tool) === undefined) return `no ${tool} (Debian ${debianPackage})`;
  try {
    Deno.statSync("/dev/loop-control");
  } catch {
    return "no loop devices (/dev/loop-control)";
  }
  return undefined;
}

const NO_BTRFS = loopMissing("mkfs.btrfs", "btrfs-progs");
if (NO_BTRFS !== undefined) console.warn(`identity_test: btrfs case ignored: ${NO_BTRFS}`);

Deno.test({
  name: "scan judges files on btrfs by stat's devices: subvolumes, a subvol= mount, a snapshot",
  ignore: NO_BTRFS !== undefined,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_btrfs_" });
    const [top, sub] = [`${dir}/top`, `${dir}/sub`];
    // The file system, the process and the scan share a mount namespace of the test's own.
    const ns = await privateMounts();
    try {
      // Inode numbers start again in every subvolume: a.so, sv/b.so and snap/b.so share one.
      await ns.sh(
        `truncate -s 200M "$1/fs.img"; "$4" -q -f "$1/fs.img" >/dev/null
        mkdir "$2" "$3"; mount -o loop "$1/fs.img" "$2"
        btrfs subvolume create "$2/sv" >/dev/null
        mount -o loop,subvol=sv "$1/fs.img" "$3"
        for name in a.so sv/b.so sv/e.so f.so "d.so (deleted)"; do cp "$5" "$2/$name"; done
        cp "$5" "$3/c.so"
        btrfs subvolume snapshot "$2/sv" "$2/snap" >/dev/null
        ln "$2/f.so" "$2/f.keep"`,
        dir,
        top,
        sub,
        // Found by full path: sbin is not on every PATH.
        findTool("mkfs.btrfs")!,
        realLibrary(),
      );
      const mapped = [
        `${top}/a.so`,
        `${top}/sv/b.so`,
        `${top}/snap/b.so`,
        `${sub}/c.so`,
        `${top}/d.so (deleted)`,
        `${top}/sv/e.so`,
        `${top}/f.so`,
      ];
      await withMapper([...ns.enter, MAPPER!, ...mapped], async (mapper) => {
        for (const path of [`${top}/a.so`, `${top}/sv/b.so`, `${sub}/c.so`, `${top}/f.so`]) {
          await ns.sh(REPLACE, path);
        }
        // A link put back at the path: the marker stays, the name leads to the object again.
        await ns.sh('ln "$1" "$1.keep" && rm "$1" && ln "$1.keep" "$1"', `${top}/sv/e.so`);
        const stale = [`${sub}/c.so`, `${top}/a.so`, `${top}/f.so`, `${top}/sv/b.so`];
        await assertFiles(stale, mapper.pid, [], ns.enter);
        await assertFiles(stale, mapper.pid, ["--fds"], ns.enter);
        assertEquals(
          await jsonFilesOf(mapper.pid, [], ns.enter),
          stale.map((path) => ({ path, kind: "library", verified: true, state: "replaced" })),
        );
      });
    } finally {
      // The mounts end with the namespace.
      await ns.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

const NO_SQUASHFS = loopMissing("mksquashfs", "squashfs-tools");
if (NO_SQUASHFS !== undefined) {
  console.warn(`identity_test: squashfs overlay case ignored: ${NO_SQUASHFS}`);
}

Deno.test({
  name: "scan judges files on an overlay of a squashfs lower and a tmpfs upper layer",
  ignore: NO_SQUASHFS !== undefined,
  async fn() {
    await withLibrary(async (dir) => {
      const merged = `${dir}/merged`;
      for (const sub of ["src", "lower", "up", "merged"]) Deno.mkdirSync(`${dir}/${sub}`);
      for (const name of ["lib.so", "kept.so", "fake.so (deleted)"]) {
        Deno.copyFileSync(`${dir}/lib.so`, `${dir}/src/${name}`);
      }
      // The layers, the process and the scan share a mount namespace of the test's own.
      const ns = await privateMounts();
      try {
        await ns.sh(
          `mksquashfs "$1/src" "$1/lower.img" -quiet -noappend >/dev/null
          mount -t squashfs -o loop,ro "$1/lower.img" "$1/lower"
          mount -t tmpfs tmpfs "$1/up" && mkdir "$1/up/u" "$1/up/w"
          mount -t overlay overlay -o "lowerdir=$1/lower,upperdir=$1/up/u,workdir=$1/up/w" "$1/merged"
          cp "$1/lib.so" "$1/merged/new.so"`,
          dir,
        );
        // new.so, made through the overlay, lives in the upper layer.
        const names = ["lib.so", "kept.so", "fake.so (deleted)", "new.so"];
        const mapped = names.map((name) => `${merged}/${name}`);
        await withMapper([...ns.enter, MAPPER!, ...mapped], async (mapper) => {
          await ns.sh(REPLACE, `${merged}/lib.so`);
          await ns.sh('ln "$1" "$1.keep" && rm "$1" && ln "$1.keep" "$1"', `${merged}/new.so`);
          await assertFiles([`${merged}/lib.so`], mapper.pid, [], ns.enter);
          await assertFiles([`${merged}/lib.so`], mapper.pid, ["--fds"], ns.enter);
          assertEquals(await jsonFilesOf(mapper.pid, [], ns.enter), [
            { path: `${merged}/lib.so`, kind: "library", verified: true, state: "replaced" },
          ]);
        });
      } finally {
        // The mounts end with the namespace.
        await ns.stop();
      }
    });
  },
});

Deno.test("createIdentityJudge() makes no view from a process that exited while it was read", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const proc = `${dir}/proc`;
    const decoy = `${dir}/x.so (deleted)`;
    Deno.writeTextFileSync(decoy, "live");
    const info = Deno.statSync(decoy);
    const device = deviceName(info.dev);
    const mountinfo = `27 1 ${device} / / rw - ext4 /dev/root rw\n`;
    const process = (pid: number | "self", withMounts: boolean) => {
      Deno.mkdirSync(`${proc}/${pid}/ns`, { recursive: true });
      Deno.mkdirSync(`${proc}/${pid}/map_files`);
      // The scanner's namespace is not theirs: their tree is read from them alone.
      Deno.symlinkSync(
        `mnt:[${pid === "self" ? 4026531832 : 4026532999}]`,
        `${proc}/${pid}/ns/mnt`,
      );
      Deno.symlinkSync("/", `${proc}/${pid}/root`);
      Deno.symlinkSync(decoy, `${proc}/${pid}/map_files/1-2`);
      if (withMounts) Deno.writeTextFileSync(`${proc}/${pid}/mountinfo`, mountinfo);
    };
    process("self", true);
    process(10, false); // gone before its mount table could be read
    process(11, true);
    const judge = createIdentityJudge(proc, { syscalls: null });
    const file = {
      path: `${dir}/x.so`,
      printed: decoy,
      device,
      inode: String(info.ino),
    };
    assertEquals(judge.mapping(10, file, "1-2"), {
      stale: true,
      unverified: "the process's root cannot be read",
    });
    // 11 sees the same tree, whole: the live file named like a marked one is no finding.
    assertEquals(judge.mapping(11, file, "1-2"), { stale: false });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/**
 * A proc tree for judging without a kernel: `self` and process 11 in mount
 * namespaces of their own, both rooted at `/` on `device` (mount ID 27), with
 * `map_files/1-2` and `fd/3` of 11 leading to `target`.
 */
function judgeTree(dir: string, target: string, fdinfo: string): string {
  const proc = `${dir}/proc`;
  const device = deviceName(Deno.statSync(target).dev);
  for (const [pid, ns] of [["self", 4026531832], ["11", 4026532999]] as const) {
    for (const sub of ["ns", "map_files", "fd", "fdinfo"]) {
      Deno.mkdirSync(`${proc}/${pid}/${sub}`, { recursive: true });
    }
    Deno.symlinkSync(`mnt:[${ns}]`, `${proc}/${pid}/ns/mnt`);
    Deno.symlinkSync("/", `${proc}/${pid}/root`);
    Deno.writeTextFileSync(
      `${proc}/${pid}/mountinfo`,
      `27 1 ${device} / / rw - ext4 /dev/root rw\n`,
    );
  }
  Deno.symlinkSync(target, `${proc}/11/map_files/1-2`);
  Deno.symlinkSync(target, `${proc}/11/fd/3`);
  Deno.writeTextFileSync(`${proc}/11/fdinfo/3`, fdinfo);
  return proc;
}

/** Runs `body` with a live file `x.so` in a temporary directory, and its device and inode. */
function withLiveFile(body: (dir: string, path: string, device: string, inode: number) => void) {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_judge_" });
  try {
    const path = `${dir}/x.so`;
    Deno.writeTextFileSync(path, "live");
    const info = Deno.statSync(path);
    body(dir, path, deviceName(info.dev), info.ino!);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("createIdentityJudge() re-checks the inode: a mapping that now leads to another file is not cleared by it", async (t) => {
  await t.step(
    "maps names another inode than the link leads to: changed, by the marker",
    () =>
      withLiveFile((dir, path, device, inode) => {
        const judge = createIdentityJudge(judgeTree(dir, path, ""), { syscalls: null });
        const file = { path, printed: `${path} (deleted)`, device, inode: String(inode + 1) };
        // Without the re-check the live file at the path would clear the deleted one.
        assertEquals(judge.mapping(11, file, "1-2"), {
          stale: true,
          unverified: "it changed while it was read",
        });
        judge.close();
      }),
  );
  await t.step(
    "the same inode: the live file at the path is the very object, no finding",
    () =>
      withLiveFile((dir, path, device, inode) => {
        const judge = createIdentityJudge(judgeTree(dir, path, ""), { syscalls: null });
        const file = { path, printed: `${path} (deleted)`, device, inode: String(inode) };
        assertEquals(judge.mapping(11, file, "1-2"), { stale: false });
        judge.close();
      }),
  );
  await t.step(
    "fdinfo names another inode than the fd leads to: changed, by the marker",
    () =>
      withLiveFile((dir, path, _device, inode) => {
        const fdinfo = `pos:\t0\nflags:\t0100000\nmnt_id:\t27\nino:\t${inode + 1}\n`;
        const judge = createIdentityJudge(judgeTree(dir, path, fdinfo), { syscalls: null });
        assertEquals(judge.openFile(11, { path, printed: `${path} (deleted)` }, "3"), {
          stale: true,
          unverified: "it changed while it was read",
        });
        judge.close();
      }),
  );
  await t.step("fdinfo with the same inode, or none (kernels before 5.14): no finding", () => {
    for (const ino of ["same", "none"]) {
      withLiveFile((dir, path, _device, inode) => {
        const fdinfo = `pos:\t0\nflags:\t0100000\nmnt_id:\t27\n${
          ino === "same" ? `ino:\t${inode}\n` : ""
        }`;
        const judge = createIdentityJudge(judgeTree(dir, path, fdinfo), { syscalls: null });
        assertEquals(judge.openFile(11, { path, printed: `${path} (deleted)` }, "3"), {
          stale: false,
        }, ino);
        judge.close();
      });
    }
  });
});

Deno.test("createIdentityJudge() leaves a mapping of inode 0 to the marker, saying so", () =>
  withLiveFile((dir, path, device) => {
    // Inode 0 names no file: even a live file reached through the link may not clear it.
    const judge = createIdentityJudge(judgeTree(dir, path, ""), { syscalls: null });
    const file = { path, printed: `${path} (deleted)`, device, inode: "0" };
    assertEquals(judge.mapping(11, file, "1-2"), { stale: true, unverified: "it has no inode" });
    judge.close();
  }));
