/**
 * A tree given by --proc that is not a procfs is untrusted input: links out of
 * it, FIFOs, devices, files larger than the kernel could write, and more names
 * than any host holds. The scan must read only regular files inside the tree,
 * never block, stay within bounded memory, and count what it refused.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { decodeRun, measureScan, ROOT } from "../_helpers.ts";

const MAPS_LINE = (name: string, inode = 7) =>
  `7f00-7f21 r-xp 00000000 fd:01 ${inode} /usr/lib/${name} (deleted)\n`;

/** Runs the CLI with only --allow-read on `tree`, killed after `seconds` (a hang is a failure). */
async function runWithin(tree: string, args: string[], seconds = 20) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--allow-read=${tree}`, `${ROOT}/main.ts`, "--proc", tree, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, seconds * 1000);
  const output = await child.output();
  clearTimeout(timer);
  assert(!hung, `lib_users ${args.join(" ")} did not finish within ${seconds} s`);
  return decodeRun(output);
}

function mkfifo(path: string): void {
  const made = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  if (!made.success) throw new Error(`mkfifo ${path} failed`);
}

/** A character device node (root only); false when it cannot be made here. */
function mknod(path: string, major: number, minor: number): boolean {
  try {
    return new Deno.Command("mknod", { args: [path, "c", String(major), String(minor)] })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test("CLI on a hostile tree reads only regular files inside it, never blocks, and counts what it refused", async () => {
  const dir = Deno.makeTempDirSync();
  const tree = `${dir}/tree`;
  const secret = `${dir}/secret`;
  Deno.writeTextFileSync(secret, "root:SECRET-HASH:19000:0:99999:7:::\n");
  try {
    const proc = (pid: number, files: Record<string, string>) => {
      Deno.mkdirSync(`${tree}/${pid}/fd`, { recursive: true });
      for (const [name, text] of Object.entries(files)) {
        Deno.writeTextFileSync(`${tree}/${pid}/${name}`, text);
      }
    };
    let bad = 0;
    // A link out of the tree, to a file the scan must never print.
    proc(2, { maps: MAPS_LINE("liba.so") });
    Deno.symlinkSync(secret, `${tree}/2/cmdline`);
    bad++;
    // FIFOs: opening one for reading would block until a writer comes.
    proc(3, { cmdline: "x\0" });
    mkfifo(`${tree}/3/maps`);
    bad++;
    proc(4, { maps: MAPS_LINE("libb.so") });
    mkfifo(`${tree}/4/cmdline`);
    bad++;
    // Links to devices that never end.
    proc(5, { cmdline: "x\0" });
    Deno.symlinkSync("/dev/urandom", `${tree}/5/maps`);
    bad++;
    proc(6, { maps: MAPS_LINE("libc.so") });
    Deno.symlinkSync("/dev/zero", `${tree}/6/cmdline`);
    bad++;
    // The same as device nodes in the tree itself, where root may make them.
    proc(7, { cmdline: "x\0" });
    if (mknod(`${tree}/7/maps`, 1, 9)) bad++;
    else Deno.writeTextFileSync(`${tree}/7/maps`, "");
    // An fd directory that is a link out of the tree: not followed.
    Deno.mkdirSync(`${tree}/8`);
    Deno.writeTextFileSync(`${tree}/8/cmdline`, "x\0");
    Deno.writeTextFileSync(`${tree}/8/maps`, "");
    Deno.symlinkSync("/proc/self/fd", `${tree}/8/fd`);
    // A maps file larger than the kernel could write.
    proc(9, { cmdline: "big\0" });
    const chunk = MAPS_LINE("libbig.so").repeat(100_000); // ≈ 7 MB
    const big = Deno.openSync(`${tree}/9/maps`, { write: true, create: true });
    for (let i = 0; i < 6; i++) big.writeSync(new TextEncoder().encode(chunk));
    big.close();
    bad++;
    // An ordinary process: the scan goes on past all of the above.
    proc(10, { cmdline: "/usr/sbin/ok\0", maps: MAPS_LINE("libok.so") });
    Deno.symlinkSync("/var/log/ok.log (deleted)", `${tree}/10/fd/3`);

    const libs = await runWithin(tree, ["-m"]);
    assertEquals(libs.code, 0, libs.stderr);
    assertEquals(libs.stdout, "10;/usr/lib/libok.so;/usr/sbin/ok\n");
    assertStringIncludes(libs.stderr, "Warning: Some files could not be read.");
    const json = await runWithin(tree, ["--json"]);
    const report = JSON.parse(json.stdout);
    assertEquals(report.groups.map((g: { pids: number[] }) => g.pids), [[10]]);
    assertEquals(report.unreadable, bad);
    const fds = await runWithin(tree, ["--fds", "-m"]);
    assertEquals(fds.stdout, "10;/var/log/ok.log;/usr/sbin/ok\n");
    for (const run of [libs, json, fds]) {
      assertEquals(run.stdout.includes("SECRET"), false);
      assertEquals(run.stderr.includes("SECRET"), false);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CLI on a FIFO as a cgroup file still finishes (units are read for --json)", async () => {
  const tree = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${tree}/20`);
    Deno.writeTextFileSync(`${tree}/20/cmdline`, "x\0");
    Deno.writeTextFileSync(`${tree}/20/maps`, MAPS_LINE("libd.so"));
    mkfifo(`${tree}/20/cgroup`);
    const run = await runWithin(tree, ["--json"]);
    assertEquals(run.code, 0);
    assertEquals(JSON.parse(run.stdout).groups[0].unit, null);
  } finally {
    Deno.removeSync(tree, { recursive: true });
  }
});

/**
 * What a scan of a tree may grow by: its budget of names (96 MiB as counted, which is what
 * 65,530 names of one process take) holds about 85,000 entries, measured at 250–335 MiB in all.
 */
const MAX_GROWTH = 400 * 1024 * 1024;

Deno.test("scanLibs() of a tree with more distinct names than any host keeps memory bounded", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const tree = `${dir}/tree`;
    // 4 processes × 25 MB of distinct deleted lines, each file under the per-file cap.
    for (let pid = 1; pid <= 4; pid++) {
      Deno.mkdirSync(`${tree}/${pid}`, { recursive: true });
      Deno.writeTextFileSync(`${tree}/${pid}/cmdline`, `p${pid}\0`);
      const file = Deno.openSync(`${tree}/${pid}/maps`, { write: true, create: true });
      const encoder = new TextEncoder();
      for (let block = 0; block < 25; block++) {
        let text = "";
        for (let i = 0; i < 10_000; i++) {
          text += MAPS_LINE(`lib-${pid}-${block}-${i}-${"x".repeat(40)}.so`, block * 10_000 + i);
        }
        file.writeSync(encoder.encode(text));
      }
      file.close();
    }
    // The first process keeps as many files as a process keeps (65,536), the next what is left
    // of the tree's budget of names, and the others none: each counts what it left out, and
    // every process is reported, named. With the young generation the CLI runs with: what is
    // measured is what the scan holds, not how much garbage V8 lets pile up before it collects
    // (a million lines' worth, with the default).
    const kept = await measureScan(dir, ["-A", "--v8-flags=--max-semi-space-size=1"], {
      proc: tree,
    });
    assertEquals(kept.unreadable, 0);
    assertEquals(kept.result.map((p) => p.cmdline), ["p1", "p2", "p3", "p4"]);
    for (const p of kept.result) assertEquals(p.files.length + (p.notListed ?? 0), 250_000);
    assertEquals(kept.result[0]!.files.length, 65_536);
    assertEquals(kept.result.slice(2).map((p) => p.files.length), [0, 0]);
    assert(
      kept.grown < MAX_GROWTH,
      `peak RSS grew by ${(kept.grown / 1048576).toFixed(1)} MiB`,
    );
    // Without the budget of one process, the tree's own bounds the names all the same.
    const { grown, unreadable, result } = await measureScan(dir, [
      "-A",
      "--v8-flags=--max-semi-space-size=1",
    ], {
      proc: tree,
      budget: { filesPerProcess: 1e9 },
    });
    assertEquals(unreadable, 0);
    assertEquals(result.length, 4);
    assert(result[0]!.notListed! > 0, "the first process's list is cut by the tree's budget");
    assert(grown < MAX_GROWTH, `peak RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CLI with a --proc that cannot be listed exits 2 with one line", async (t) => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.symlinkSync(`${dir}/b`, `${dir}/a`);
    Deno.symlinkSync(`${dir}/a`, `${dir}/b`);
    Deno.writeTextFileSync(`${dir}/file`, "");
    const cases: [string, string][] = [
      ["a", "too many levels of symbolic links"],
      ["file", "not a directory"],
    ];
    for (const [name, reason] of cases) {
      await t.step(name, async () => {
        const output = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--quiet",
            `--allow-read=${dir}`,
            `${ROOT}/main.ts`,
            "--proc",
            `${dir}/${name}`,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assertEquals(output.code, 2);
        assertEquals(
          new TextDecoder().decode(output.stderr),
          `lib_users: Cannot read "${dir}/${name}": ${reason}\n`,
        );
      });
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
