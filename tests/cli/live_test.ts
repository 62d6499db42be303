/**
 * End to end against the live kernel: real processes map deleted libraries and
 * executables and hold deleted files; the real CLI must report exactly them.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { readLineOf, runCli, runPlanLines, runTag } from "../_helpers.ts";
import { buildMapper, realLibrary, spawnStale, type StaleProcess } from "../_live.ts";
import { loadSchema, validate } from "../_json_schema.ts";
import { parseExposition } from "../_exposition.ts";
import { OUT_OF_STEPS } from "../../lib/identity/path_walk.ts";
import {
  classifyCgroup,
  decodeName,
  type DeletedFile,
  encodeName,
  escapeForTerminal,
  fileNames,
  formatHuman,
  type Group,
  groupByArgv,
  hasRawBytes,
  type JsonFile,
  type JsonGroup,
  parseCgroupFile,
  parseMachine,
  UNKNOWN_UNIT,
} from "../../mod.ts";

/** The lines of `text` that mention `needle`. */
function linesWith(text: string, needle: string): string[] {
  return text.split("\n").filter((line) => line.includes(needle));
}

Deno.test("CLI on the live kernel reports a deleted library, executable and open file", async (t) => {
  const began = Date.now();
  const stale = await spawnStale({
    program: "sleep",
    exe: "sleep-copy",
    libs: ["libutil-copy.so.1"],
    files: ["held.log"],
  });
  try {
    const { pid, dir } = stale;
    const lib = `${dir}/del/libutil-copy.so.1`;
    const exe = `${dir}/del/sleep-copy`;
    const log = `${dir}/del/held.log`;
    const cmdline = `${exe} 1000`;
    // Nothing stands at their paths now, since the test deleted them a moment ago.
    const gone = " (deleted less than a minute ago)";
    const cases: [string[], string][] = [
      [[], `${pid} "${cmdline}"`],
      [["-s"], `${pid} "${cmdline}" uses ${lib}${gone},${exe}${gone}`],
      [["-m"], `${pid};${lib},${exe};${cmdline}`],
      [["--fds"], `${pid} "${cmdline}"`],
      [["--fds", "-s"], `${pid} "${cmdline}" uses ${log} (deleted)`],
      [["--fds", "-m"], `${pid};${log};${cmdline}`],
    ];
    for (const [args, expected] of cases) {
      await t.step(["-A", ...args].join(" "), async () => {
        const run = await runCli(["-A"], args);
        assertEquals(run.code, 0, run.stderr);
        // Only this test's process: another suite's scanner may hold our files open a moment.
        const ours = linesWith(run.stdout, dir)
          .filter((line) => line.startsWith(`${pid} `) || line.startsWith(`${pid};`));
        assertEquals(ours, [expected]);
      });
    }
    await t.step("-A --json", async () => {
      for (const mode of ["libs", "fds"]) {
        let run = await runCli(["-A"], mode === "fds" ? ["--json", "--fds"] : ["--json"]);
        // Scanned again (up to five times) while this process's share of the scan ran out before
        // its files were judged (wall-clock time, on a loaded host): the rule never spoke.
        for (let again = 0; again < 4 && run.stdout.includes(OUT_OF_STEPS); again++) {
          const mine = JSON.parse(run.stdout).groups.find((g: JsonGroup) => g.pids.includes(pid));
          if (!mine?.files.some((f: JsonFile) => f.unverified_reason === OUT_OF_STEPS)) break;
          run = await runCli(["-A"], mode === "fds" ? ["--json", "--fds"] : ["--json"]);
        }
        assertEquals(run.code, 0);
        const report = JSON.parse(run.stdout);
        assertEquals(validate(await loadSchema(), report), []);
        const mine = report.groups.filter((g: { pids: number[] }) => g.pids.includes(pid));
        assertEquals(mine.length, 1);
        assertEquals(mine[0].pids, [pid]);
        assertEquals(mine[0].argv, [exe, "1000"]);
        assertEquals(mine[0].cmdline, cmdline);
        const files: JsonFile[] = mine[0].files;
        // Deleted by this test, after it began: a mapped file's own change time says when. An
        // open file's moves with every write: it says nothing of that.
        for (const file of files) {
          if (mode === "fds") {
            assertEquals(file.replaced_at, null);
            continue;
          }
          const at = Date.parse(file.replaced_at ?? "");
          assert(at >= began - 50 && at <= Date.now(), `${file.path}: ${file.replaced_at}`);
        }
        assertEquals(
          files.map(({ replaced_at: _, ...rest }) => rest),
          mode === "fds" ? [{ path: log, kind: "fd", verified: true, state: "deleted" }] : [
            { path: lib, kind: "library", verified: true, state: "deleted" },
            { path: exe, kind: "executable", verified: true, state: "deleted" },
          ],
        );
        // Started before its files were deleted, and said when.
        const started = Date.parse(mine[0].started_at[0]);
        assert(started >= began - 1000 && started <= Date.now(), mine[0].started_at[0]);
        if (mode === "libs") assert(started <= Date.parse(files[0]!.replaced_at!));
      }
    });
  } finally {
    await stale.stop();
  }
});

Deno.test("CLI on the live kernel warns about unreadable processes, as root without the note", async () => {
  // PID 1 is unreadable even to root in this sandbox; elsewhere every process may be readable.
  let pid1Readable = true;
  try {
    Deno.readFileSync("/proc/1/maps");
  } catch {
    pid1Readable = false;
  }
  const run = await runCli(["-A"], ["-m"]);
  assertEquals(run.code, 0);
  if (pid1Readable) {
    assertEquals(run.stderr.includes("Warning"), false);
  } else {
    assertStringIncludes(run.stderr, "Warning: Some files could not be read.\n");
    assertEquals(run.stderr.includes("has to be run as root"), Deno.uid() !== 0);
  }
});

Deno.test("CLI --check on the live kernel exits 1 while a stale process runs", async () => {
  const stale = await spawnStale({ program: "sleep", exe: "check-sleep", files: ["f"] });
  try {
    const run = await runCli(["-A"], ["--fds", "--check", "-m"]);
    assertEquals(run.code, 1);
    assertEquals(linesWith(run.stdout, stale.dir).length, 1);
  } finally {
    await stale.stop();
  }
});

const RAW = decodeName(Uint8Array.from([0xff, 0xfe]));
/** Library names LD_PRELOAD can carry (it splits on spaces and colons). */
const HOSTILE_LIBS = [
  "lib,comma;semi.so",
  'lib"quote.so',
  "lib\nnewline.so",
  "lib\x1b[31mesc.so",
  `lib${RAW}.so`,
];
const HOSTILE_FILES = [
  "space name.log",
  "comma,semi;.log",
  'quote".log',
  "new\nline.log",
  "esc\x1b[2J.log",
  `raw${RAW}.log`,
  "mid (deleted) name.log",
];
const HOSTILE_ARGS = [
  "a b",
  "c,d;e",
  '"q"',
  "new\nline",
  "\x1b[31mred",
  RAW,
  "x (deleted)",
  "back\\slash",
  "ssh\u200bd", // looks like "sshd"
  "\u061calm\u202erlo", // bidirectional controls
  "\ufeffbom tag\u{e0041}", // invisible characters
];

interface Expected {
  pid: number;
  argv: string[];
  files: DeletedFile[];
}

/** A character that must never reach the terminal raw (the newline ends lines). */
function isUnsafeInTerminal(ch: string): boolean {
  const code = ch.codePointAt(0)!;
  return (code < 0x20 && ch !== "\n") || (code >= 0x7f && code <= 0x9f) || code === 0xfffd ||
    /\p{Cf}/u.test(ch);
}

/** What the CLI must print for these processes, built from the expected names. */
function expectedGroups(expected: Expected[]): Group[] {
  return groupByArgv(expected.map((e) => ({
    pid: e.pid,
    argv: e.argv,
    cmdline: e.argv.join(" ").trimEnd(),
    files: e.files,
  })));
}

function rowsOf(output: string, pids: number[], separator: string): string[] {
  return output.split("\n").filter((line) =>
    pids.some((pid) => line.startsWith(`${pid}${separator}`))
  );
}

Deno.test("CLI on the live kernel is exact, terminal-safe and unforgeable with hostile names", async (t) => {
  const started: StaleProcess[] = [];
  try {
    const h1 = await spawnStale({
      program: "sh",
      exe: "sh copy",
      libs: HOSTILE_LIBS,
      files: HOSTILE_FILES,
      args: HOSTILE_ARGS,
    });
    started.push(h1);
    const h2 = await spawnStale({
      program: "sh",
      exe: "mid (deleted) name",
      files: ["end.log (deleted)"],
    });
    started.push(h2);
    const h3 = await spawnStale({ program: "sh", exe: "end (deleted)" });
    started.push(h3);
    // Not deleted, only named like it: mapped as the program and held open.
    const kept = await spawnStale({
      program: "sh",
      exe: "x.so (deleted)",
      keepProgram: true,
      keptFiles: ["x.so (deleted)"],
    });
    started.push(kept);

    const del = (p: StaleProcess, name: string) => `${p.dir}/del/${name}`;
    const libs = expectedGroups([
      {
        pid: h1.pid,
        argv: h1.argv,
        files: [
          { path: del(h1, "sh copy"), kind: "executable" },
          ...HOSTILE_LIBS.map((n) => ({ path: del(h1, n), kind: "library" as const })),
        ],
      },
      {
        pid: h2.pid,
        argv: h2.argv,
        files: [{ path: del(h2, "mid (deleted) name"), kind: "executable" }],
      },
      {
        pid: h3.pid,
        argv: h3.argv,
        files: [{ path: del(h3, "end (deleted)"), kind: "executable" }],
      },
    ]);
    const fds = expectedGroups([
      {
        pid: h1.pid,
        argv: h1.argv,
        // Open files carry no time (writes move it); a name that is not UTF-8 is not looked up.
        files: HOSTILE_FILES.map((n) => ({
          path: del(h1, n),
          kind: "fd" as const,
          ...(hasRawBytes(n) ? {} : { state: "deleted" as const }),
        })),
      },
      {
        pid: h2.pid,
        argv: h2.argv,
        files: [{ path: del(h2, "end.log (deleted)"), kind: "fd", state: "deleted" }],
      },
    ]);
    const pids = [h1.pid, h2.pid, h3.pid];

    for (const [mode, groups] of [["libs", libs], ["fds", fds]] as const) {
      const modeArgs = mode === "fds" ? ["--fds"] : [];
      await t.step(`${mode}: human -s is escaped, one line per group`, async () => {
        const run = await runCli(["-A"], [...modeArgs, "-s"]);
        assertEquals(run.code, 0);
        // What stands at each path, and since when: said after each name (pinned elsewhere).
        const since = / \((?:deleted |replaced )?less than a minute ago\)/g;
        assertStringIncludes(
          rowsOf(run.stdout, pids, " ").join("\n"),
          mode === "libs" ? " (deleted less than a minute ago)" : ".log (deleted),",
        );
        assertEquals(
          rowsOf(run.stdout, pids, " ").map((row) => row.replace(since, "")),
          formatHuman(groups, { showFiles: true }).trimEnd().split("\n"),
        );
        // No control character but the line ends, no byte that is not UTF-8.
        // (Every process's line: the escaping holds for all, whoever started them.)
        assertEquals([...run.stdout].filter(isUnsafeInTerminal), []);
        assertEquals(rowsOf(run.stdout, [kept.pid], " "), []);
        // Spelled out apart from formatHuman(), in this test's own rows.
        const mine = rowsOf(run.stdout, pids, " ").join("\n");
        assertStringIncludes(mine, "\\x1b[");
        assertStringIncludes(mine, "\\xff\\xfe");
        assertStringIncludes(mine, "back\\\\slash");
        assertStringIncludes(mine, "ssh\\u200bd");
        assertStringIncludes(mine, "\\udb40\\udc41");
      });
      await t.step(`${mode}: machine output parses back to the exact names`, async () => {
        const run = await runCli(["-A"], [...modeArgs, "-m"]);
        assertEquals(run.code, 0);
        const records = parseMachine(rowsOf(run.stdout, pids, ";").join("\n"));
        assertEquals(
          records,
          groups.map((g) => ({ pids: g.pids, files: fileNames(g), cmdline: g.cmdline })),
        );
        // No name may add a line or a field: every line of the output (whoever's) is a record.
        for (const line of run.stdout.split("\n").filter(Boolean)) {
          assertEquals(line.split(";").length, 3, line);
        }
        assertEquals(rowsOf(run.stdout, [kept.pid], ";"), []);
      });
      await t.step(`${mode}: JSON carries the exact bytes`, async () => {
        const run = await runCli(["-A"], [...modeArgs, "--json"]);
        assertEquals(run.code, 0);
        const report = JSON.parse(run.stdout);
        assertEquals(validate(await loadSchema(), report), []);
        const mine = report.groups.filter((g: JsonGroup) => g.pids.some((p) => pids.includes(p)));
        assertEquals(mine.length, groups.length);
        for (const [i, group] of groups.entries()) {
          const json: JsonGroup = mine[i];
          assertEquals(json.pids, group.pids);
          assertEquals(
            json.argv.map((a, k) => exactBytes(a, json.argv_base64?.[k])),
            group.argv.map(encodeName),
          );
          assertEquals(
            json.files.map((f) => [exactBytes(f.path, f.path_base64), f.kind]),
            group.files.map((f) => [encodeName(f.path), f.kind]),
          );
        }
        const keptGroup = report.groups.find((g: JsonGroup) => g.pids.includes(kept.pid));
        assertEquals(keptGroup, undefined, JSON.stringify(keptGroup));
      });
    }
  } finally {
    for (const process of started) await process.stop();
  }
});

/** The bytes a JSON name stands for: base64 when present, else the UTF-8 text. */
function exactBytes(text: string, base64: string | undefined): Uint8Array {
  if (base64 === undefined) return new TextEncoder().encode(text);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** Cgroup hierarchies a root test may create a cgroup in: pure v2, hybrid v2, v1 name=systemd. */
const CGROUP_ROOTS = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"];

/**
 * Moves `pid` into `/lib_users_test_TAG.slice/NAME` of the first writable
 * hierarchy (systemd reads `NAME` as a system service there, as under
 * `system.slice`); the cleanup, or null. The slice has a per-run random name:
 * never a cgroup the host or a second suite uses, and removed by this run only.
 */
function moveIntoNewCgroup(pid: number, name: string): (() => void) | null {
  for (const root of CGROUP_ROOTS) {
    try {
      Deno.statSync(`${root}/cgroup.procs`);
      const slice = `${root}/lib_users_test_${runTag()}.slice`;
      Deno.mkdirSync(slice);
      try {
        Deno.mkdirSync(`${slice}/${name}`);
        Deno.writeTextFileSync(`${slice}/${name}/cgroup.procs`, String(pid));
      } catch (error) {
        for (const made of [`${slice}/${name}`, slice]) {
          try {
            Deno.removeSync(made);
          } catch { /* not made */ }
        }
        throw error;
      }
      return () => {
        // The process is gone by now; empty cgroups can be removed.
        Deno.removeSync(`${slice}/${name}`);
        Deno.removeSync(slice);
      };
    } catch {
      continue;
    }
  }
  return null;
}

Deno.test("CLI on the live kernel reads a process's unit from its own cgroup file", async (t) => {
  // Rotated: a new log at its path. (A deleted file in a temporary directory, with
  // nothing in its place, the plan would set apart: a restart may not help.)
  const stale = await spawnStale({
    program: "sleep",
    exe: "unit-sleep",
    files: ["unit.log"],
    replace: true,
  });
  let cleanup: (() => void) | null = null;
  try {
    const jsonFor = async () => {
      const run = await runCli(["-A"], ["--fds", "--json"]);
      assertEquals(run.code, 0);
      return JSON.parse(run.stdout).groups.find((g: JsonGroup) => g.pids.includes(stale.pid));
    };
    await t.step("as it was started", async () => {
      const path = parseCgroupFile(Deno.readTextFileSync(`/proc/${stale.pid}/cgroup`));
      const expected = path === null ? UNKNOWN_UNIT : classifyCgroup(path);
      const group = await jsonFor();
      assertEquals([group.unit, group.class], [expected.name, expected.class]);
    });
    const unit = `lib-users-test-${stale.pid}.service`;
    cleanup = moveIntoNewCgroup(stale.pid, unit);
    await t.step({
      name: "moved into a new system service (where the host lets root create cgroups)",
      ignore: cleanup === null,
      async fn() {
        const group = await jsonFor();
        assertEquals([group.unit, group.class], [unit, "system-service"]);
        const services = await runCli(["-A"], ["--fds", "-m", "-S"]);
        assertStringIncludes(services.stdout, `\n${stale.pid} belong to ${unit}\n`);
        const hints = await runCli(["-A"], ["--fds", "-m", "--restart-hints"]);
        assertMatch(
          hints.stdout,
          new RegExp(`^systemctl restart .*${unit.replaceAll(".", "\\.")}`, "m"),
        );
      },
    });
  } finally {
    await stale.stop();
    cleanup?.();
  }
});

Deno.test("CLI on the live kernel: a restart plan for units users named to attack it passes each name as one operand", async (t) => {
  // With a part of this run's own: a second suite's units never stand in for these.
  const tag = runTag();
  const names = [
    `--host=attacker@evil.example-${tag}.service`,
    `$(reboot)-${tag}.service`,
    `esc\x1b[31m-${tag}.service`,
  ];
  const started: StaleProcess[] = [];
  const cleanups: (() => void)[] = [];
  try {
    for (const [i, name] of names.entries()) {
      const stale = await spawnStale({
        program: "sleep",
        exe: `hostile-${i}`,
        files: ["h.log"],
        replace: true,
      });
      started.push(stale);
      const cleanup = moveIntoNewCgroup(stale.pid, name);
      if (cleanup) cleanups.push(cleanup);
    }
    await t.step({
      name: "every printed line, run with stand-ins for the tools",
      ignore: cleanups.length !== names.length,
      async fn() {
        const run = await runCli(["-A"], ["--fds", "-m", "--restart-hints"]);
        assertEquals(run.code, 0, run.stderr);
        const plan = run.stdout.split("\n\n")[1] ?? "";
        const line = plan.split("\n").find((l) => l.startsWith("systemctl restart -- "));
        assertStringIncludes(line ?? "", `$'esc\\x1b[31m-${tag}.service'`);
        const restarted = (await runPlanLines(plan))
          .filter((argv) => argv[0] === "systemctl" && argv[1] === "restart")
          .flatMap((argv) => argv.slice(argv.indexOf("--") + 1));
        for (const name of names) {
          assertEquals(restarted.filter((operand) => operand === name).length, 1, name);
        }
      },
    });
  } finally {
    for (const process of started) await process.stop();
    for (const cleanup of cleanups.reverse()) cleanup();
  }
});

Deno.test("CLI on the live kernel prints an argument of 131,071 bytes with a raw byte in every format", async (t) => {
  // The longest one argument may be (MAX_ARG_STRLEN less its NUL), ending in a byte that is not UTF-8.
  const bytes = new Uint8Array(131_071).fill(0x41);
  bytes[bytes.length - 1] = 0xff;
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_longarg_" });
  const started = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'cp /bin/sh "$1/sh-long" && exec "$1/sh-long" -c "echo ready; read x" sh "$(cat "$1/arg")"',
      "sh",
      dir,
    ],
    stdin: "piped",
    stdout: "piped",
  });
  Deno.writeFileSync(`${dir}/arg`, bytes);
  const child = started.spawn();
  try {
    await readLineOf(child.stdout, "the shell with a 131,071-byte argument");
    Deno.removeSync(`${dir}/sh-long`);
    const arg = decodeName(bytes);
    await t.step("--json", async () => {
      const run = await runCli(["-A"], ["--json"]);
      assertEquals(run.code, 0, run.stderr);
      const group = JSON.parse(run.stdout).groups.find((g: { pids: number[] }) =>
        g.pids.includes(child.pid)
      );
      const last = group.argv_base64.at(-1);
      assertEquals(Uint8Array.from(atob(last), (c) => c.charCodeAt(0)), bytes);
    });
    // --allow-partial: a host whose kernel state is unknown (a container, no /boot) is UNKNOWN.
    const modes = [["-m"], ["-s", "-S"], ["--format=nagios", "--allow-partial"], [
      "--format=prometheus",
    ]];
    for (const args of modes) {
      await t.step(args.join(" "), async () => {
        const run = await runCli(["-A"], args);
        // Nagios exits with its state, at least WARNING as this process is stale; the others 0.
        // Never a crash (Deno's is 1 with "Uncaught").
        if (args[0] === "--format=nagios") {
          assertEquals([1, 2].includes(run.code), true, run.stdout);
        } else assertEquals(run.code, 0, run.stderr);
        assertEquals(run.stderr.includes("Uncaught"), false, run.stderr);
        if (args[0] === "-s") {
          const line = run.stdout.split("\n").find((line) => line.startsWith(`${child.pid} `))!;
          assertStringIncludes(line, escapeForTerminal(arg));
        }
        if (args[0] === "-m") {
          const row = run.stdout.split("\n").find((line) => line.startsWith(`${child.pid};`))!;
          assertEquals(parseMachine(row)[0]!.cmdline.endsWith(arg), true);
        }
      });
    }
  } finally {
    await child.stdin.close();
    await child.status;
    Deno.removeSync(dir, { recursive: true });
  }
});

const MAPPER = await buildMapper();

Deno.test({
  name:
    "CLI on the live kernel: a 1.5 MB argument and a 4,000-byte path, neither UTF-8, in every format",
  ignore: MAPPER === null,
  async fn(t) {
    const dir = Deno.makeTempDirSync({ prefix: "lib_users_joined_" });
    const bytes = (text: string) => new TextEncoder().encode(text);
    const join = (parts: Uint8Array[], separator: number) => {
      const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length + 1, -1));
      let at = 0;
      for (const part of parts) {
        if (at > 0) out[at++] = separator;
        out.set(part, at);
        at += part.length;
      }
      return out;
    };
    // Twenty directories of 190 bytes, each with a raw byte: a path near PATH_MAX.
    const component = Uint8Array.from([...bytes("d"), 0xff, ...bytes("x".repeat(188))]);
    const path = join([bytes(dir), ...Array(20).fill(component), bytes("lib.so")], 0x2f);
    Deno.writeFileSync(`${dir}/path`, path);
    const padding = "A".repeat(125_000);
    // As the attacker would: the process drops to nobody before it rewrites its vector.
    const args = ["-u", "65534", "-j", ...Array(12).fill(["-p", padding]).flat()];
    const started = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'p="$(cat "$1/path")"; mkdir -p "${p%/*}" && cp "$2" "$p" && shift 2 && exec "$@" "$p"',
        "sh",
        dir,
        realLibrary(),
        MAPPER!,
        ...args,
      ],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    try {
      await readLineOf(started.stdout, "the mapper with a 1.5 MB argument vector");
      await new Deno.Command("/bin/sh", { args: ["-c", 'rm "$(cat "$1/path")"', "sh", dir] })
        .output();
      const cmdline = join([bytes(MAPPER!), ...args.map(bytes), path], 0xff);
      assertEquals(cmdline.length > 1_500_000, true);
      await t.step("--json", async () => {
        const run = await runCli(["-A"], ["--json"]);
        assertEquals(run.code, 0, run.stderr);
        const group = JSON.parse(run.stdout).groups.find((g: { pids: number[] }) =>
          g.pids.includes(started.pid)
        );
        const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
        assertEquals(group.argv_base64.map(fromBase64), [cmdline]);
        assertEquals(fromBase64(group.files[0].path_base64), path);
      });
      await t.step("-m", async () => {
        const run = await runCli(["-A"], ["-m"]);
        assertEquals(run.code, 0, run.stderr);
        const row = run.stdout.split("\n").find((line) => line.startsWith(`${started.pid};`))!;
        const [record] = parseMachine(row);
        assertEquals([record!.cmdline, record!.files], [decodeName(cmdline), [decodeName(path)]]);
      });
      await t.step("-s", async () => {
        const run = await runCli(["-A"], ["-s"]);
        assertEquals(run.code, 0, run.stderr);
        const line = run.stdout.split("\n").find((line) => line.startsWith(`${started.pid} `))!;
        // A name that is not UTF-8 is not looked up: its state is not known, its own time is.
        assertStringIncludes(
          line,
          ` uses ${escapeForTerminal(decodeName(path))} (less than a minute ago)`,
        );
        assertStringIncludes(line, escapeForTerminal(decodeName(cmdline)));
      });
      await t.step("nagios", async () => {
        // (--allow-partial: a host whose kernel state is unknown is UNKNOWN without it.)
        const run = await runCli(["-A"], ["--format=nagios", "--allow-partial"]);
        // At least WARNING (this process is stale). The summary names the first groups only
        // (another process may come first): bounded, and this one's name shortened if there.
        assertMatch(run.stdout, /^(WARNING|CRITICAL) - /);
        const summary = run.stdout.slice(0, run.stdout.indexOf("\n"));
        assert(summary.length < 4096, `${summary.length} characters`);
        const at = summary.indexOf(`${MAPPER} -u 65534 -j -p AAAA`);
        if (at >= 0) assertMatch(summary.slice(at), /^[^ ]+ -u 65534 -j -p A*\.\.\./);
        const line = run.stdout.split("\n").find((line) => line.includes(`PIDs ${started.pid} `))!;
        assertEquals(line.endsWith(escapeForTerminal(decodeName(cmdline))), true);
      });
      await t.step("prometheus", async () => {
        // Prometheus names no PID: this checks the output is whole, and counts this process.
        const run = await runCli(["-A"], ["--format=prometheus"]);
        assertEquals(run.code, 0, run.stderr);
        assertMatch(run.stdout, /\nlib_users_stale_processes_all\{scan="libs"\} [1-9]/);
      });
    } finally {
      await started.stdin.close();
      await started.status;
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("CLI on the live kernel: replaced or deleted and since when; --replaced-only, --min-age, the plan's temporary files", async (t) => {
  const began = Date.now();
  // An update: new files at the library's and the program's paths. And a program whose
  // files were deleted in a temporary directory, as JNA's or a JIT's are.
  const updated = await spawnStale({
    program: "sleep",
    exe: "upd-sleep",
    libs: ["libupd.so.1"],
    replace: true,
  });
  const temporary = await spawnStale({ program: "sleep", exe: "tmp-sleep", libs: ["libtmp.so.1"] });
  try {
    const ours = (stdout: string, stale: StaleProcess) =>
      stdout.split("\n").filter((line) => line.startsWith(`${stale.pid} `));
    await t.step("-s says which, and since when", async () => {
      const run = await runCli(["-A"], ["-s"]);
      assertEquals(run.code, 0, run.stderr);
      const [up, del] = [`${updated.dir}/del`, `${temporary.dir}/del`];
      assertEquals(ours(run.stdout, updated), [
        `${updated.pid} "${up}/upd-sleep 1000" uses ${up}/libupd.so.1 (replaced less than a ` +
        `minute ago),${up}/upd-sleep (replaced less than a minute ago)`,
      ]);
      assertEquals(ours(run.stdout, temporary), [
        `${temporary.pid} "${del}/tmp-sleep 1000" uses ${del}/libtmp.so.1 (deleted less than a ` +
        `minute ago),${del}/tmp-sleep (deleted less than a minute ago)`,
      ]);
    });
    await t.step(
      "--replaced-only keeps the update, leaves out the deleted files, and says so",
      async () => {
        const run = await runCli(["-A"], ["--replaced-only", "--json"]);
        assertEquals(run.code, 0, run.stderr);
        const report = JSON.parse(run.stdout);
        assertEquals(validate(await loadSchema(), report), []);
        const pids = report.groups.flatMap((g: JsonGroup) => g.pids);
        assertEquals([pids.includes(updated.pid), pids.includes(temporary.pid)], [true, false]);
        // Other processes of the host may have deleted files too: at least ours are counted.
        assertEquals(report.narrowed.replaced_only, true);
        assertEquals(report.narrowed.min_age_seconds, null);
        assert(report.narrowed.files_left_out.deleted >= 2, JSON.stringify(report.narrowed));
        assert(report.narrowed.processes_left_out >= 1, JSON.stringify(report.narrowed));
        const human = await runCli(["-A"], ["--replaced-only", "-s"]);
        assertEquals(ours(human.stdout, temporary), []);
        assertMatch(
          human.stderr,
          /^lib_users: Left out: --replaced-only left out [0-9]+ deleted files/m,
        );
      },
    );
    await t.step(
      "--min-age leaves out what was replaced or deleted just now, in every format",
      async () => {
        const human = await runCli(["-A"], ["--min-age=1h", "-s"]);
        assertEquals(human.code, 0, human.stderr);
        assertEquals([...ours(human.stdout, updated), ...ours(human.stdout, temporary)], []);
        assertStringIncludes(human.stderr, "Left out: --min-age 1 hour left out ");
        const metrics = parseExposition(
          (await runCli(["-A"], ["--min-age=1h", "--format=prometheus"])).stdout,
        );
        assert((metrics.get('lib_users_left_out_files{scan="libs",by="min_age"}') ?? 0) >= 4);
        // Without it, the update's time: at most now, after the test began.
        const all = parseExposition((await runCli(["-A"], ["--format=prometheus"])).stdout);
        const since = all.get('lib_users_stale_since_seconds{scan="libs",state="replaced"}');
        assert(since !== undefined && since <= Date.now() / 1000, String(since));
        const nagios = await runCli(["-A"], ["--min-age=1h", "--format=nagios", "--allow-partial"]);
        assertMatch(
          nagios.stdout,
          /\(--min-age 1 hour left out [0-9]+ files? replaced less long ago/,
        );
        assertMatch(nagios.stdout, / left_out_young=[0-9]+;;;0;/);
      },
    );
    await t.step(
      "since when is the change time, which no owner can set: not a far mtime",
      async () => {
        // Year 5138, as `touch -d` lets any owner write: no date holds it, and the change is now.
        Deno.utimeSync(`${updated.dir}/del/libupd.so.1`, 0, 99_999_999_999_999);
        const run = await runCli(["-A"], ["--json"]);
        assertEquals(run.code, 0, run.stderr);
        const group = JSON.parse(run.stdout).groups.find((g: JsonGroup) =>
          g.pids.includes(updated.pid)
        );
        const file = group.files.find((f: JsonFile) => f.path.endsWith("/libupd.so.1"));
        const at = Date.parse(file.replaced_at);
        assert(at >= began - 50 && at <= Date.now(), file.replaced_at);
      },
    );
    await t.step("the plan sets the temporary files' process apart, not the update's", async () => {
      const run = await runCli(["-A"], ["-m", "--restart-hints"]);
      assertEquals(run.code, 0, run.stderr);
      const apart = run.stdout.split("\n")
        .filter((line) =>
          line.startsWith("# restarting will not help if the program makes them again: ")
        );
      const pidIn = (line: string, pid: number) =>
        new RegExp(`PIDs ([0-9]+,)*${pid}[, ]`).test(line);
      // Where the suite runs inside a system service, both are its processes: the unit is
      // restarted for the update, which restarts the other too, and nothing is said apart.
      const groups: JsonGroup[] = JSON.parse((await runCli(["-A"], ["--json"])).stdout).groups;
      const unitOf = (pid: number) => groups.find((g) => g.pids.includes(pid));
      const [mine, theirs] = [unitOf(temporary.pid), unitOf(updated.pid)];
      const restartedAnyway = mine?.class === "system-service" && mine.unit === theirs?.unit;
      assertEquals(
        apart.filter((line) => pidIn(line, temporary.pid)).length,
        restartedAnyway ? 0 : 1,
        run.stdout,
      );
      assertEquals(apart.filter((line) => pidIn(line, updated.pid)).length, 0, run.stdout);
    });
  } finally {
    await updated.stop();
    await temporary.stop();
  }
});
