/**
 * Where the CLI's text goes (`cli/output.ts`), through the real CLI: `--output`
 * replaces a file atomically, a signal mid-output never tears a record, a
 * closed pipe is a quiet exit and a full disk an error of its own.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { decodeRun, FIXTURE_PROC, ROOT, runCli } from "../_helpers.ts";
import { parseExposition } from "../_exposition.ts";
import { parseMachine } from "../../lib/format/machine.ts";

const READ_TREE = [`--allow-read=${FIXTURE_PROC}`];
const TREE = ["--proc", FIXTURE_PROC];

/** A temporary directory; on a memory file system when asked (thousands of files, quickly). */
function withDir(run: (dir: string) => Promise<void>, inMemory = false): Promise<void> {
  const memory = inMemory && isDirectory("/dev/shm") ? "/dev/shm" : undefined;
  const dir = Deno.makeTempDirSync({
    prefix: "lib_users_output_",
    ...(memory ? { dir: memory } : {}),
  });
  return run(dir).finally(() => Deno.removeSync(dir, { recursive: true }));
}

Deno.test("--output replaces the file atomically, mode 0644 whatever the umask", () =>
  withDir(async (dir) => {
    const target = `${dir}/lib_users.prom`;
    Deno.writeTextFileSync(target, "old\n");
    // A reader that opened the old file keeps reading it whole: the new one is another inode.
    const reader = Deno.openSync(target);
    try {
      const output = await new Deno.Command("/bin/sh", {
        args: [
          "-c",
          'umask 077; exec "$0" run --quiet "$@"',
          Deno.execPath(),
          `--allow-read=${FIXTURE_PROC},${dir}`,
          `--allow-write=${dir}`,
          `${ROOT}/main.ts`,
          ...TREE,
          "--format=prometheus",
          "--output",
          target,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const run = decodeRun(output);
      assertEquals([run.code, run.stdout], [0, ""], run.stderr);
      const samples = parseExposition(Deno.readTextFileSync(target));
      assertEquals(samples.get('lib_users_scan_success{scan="libs"}'), 1);
      assertEquals(Deno.statSync(target).mode! & 0o777, 0o644);
      const old = new Uint8Array(16);
      assertEquals(new TextDecoder().decode(old.subarray(0, reader.readSync(old)!)), "old\n");
      // Nothing left behind.
      assertEquals([...Deno.readDirSync(dir)].map((entry) => entry.name), ["lib_users.prom"]);
    } finally {
      reader.close();
    }
  }));

Deno.test("--output keeps the old file when the scan fails, and says why on stderr", () =>
  withDir(async (dir) => {
    const target = `${dir}/lib_users.prom`;
    Deno.writeTextFileSync(target, "good\n");
    const failed = await runCli([`--allow-read=${dir}`, `--allow-write=${dir}`], [
      "--proc",
      `${dir}/missing`,
      "--format=prometheus",
      "-o",
      target,
    ]);
    assertEquals([failed.code, failed.stdout], [2, ""]);
    assertStringIncludes(failed.stderr, `Cannot read "${dir}/missing": no such directory`);
    assertEquals(Deno.readTextFileSync(target), "good\n");

    const unwritable = await runCli(READ_TREE, [...TREE, "-m", "-o", target]);
    assertEquals(unwritable, {
      code: 2,
      stdout: "",
      stderr:
        `lib_users: Cannot write "${target}": Deno was not given --allow-read=${dir} --allow-write=${dir} (or -A)\n`,
    });
    assertEquals(Deno.readTextFileSync(target), "good\n");
  }));

Deno.test("--output into a missing directory says so once, without the temporary file's name", () =>
  withDir(async (dir) => {
    for (const format of ["--json", "-m", "--format=prometheus", "--format=nagios"]) {
      const nowhere = await runCli(["-A"], [...TREE, format, "-o", `${dir}/no/such/dir/x`]);
      assertEquals(nowhere, {
        code: 2,
        stdout: "",
        stderr:
          `lib_users: Cannot write "${dir}/no/such/dir/x": no such directory "${dir}/no/such/dir"\n`,
      }, format);
    }
    // Any other refusal is the system's words, still without the temporary file.
    Deno.writeTextFileSync(`${dir}/file`, "");
    const underFile = await runCli(["-A"], [...TREE, "-m", "-o", `${dir}/file/x`]);
    assertEquals(underFile, {
      code: 2,
      stdout: "",
      stderr: `lib_users: Cannot write "${dir}/file/x": Not a directory (os error 20)\n`,
    });
    assertEquals([...Deno.readDirSync(dir)].map((entry) => entry.name), ["file"]);
  }));

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Long command lines: a few hundred records are far more than a pipe holds. */
const FLAGS = "--flag ".repeat(100);

/** A fixture tree with `count` processes mapping a deleted library, with long command lines. */
function largeTree(dir: string, count: number): void {
  for (let pid = 1; pid <= count; pid++) {
    Deno.mkdirSync(`${dir}/${pid}`);
    Deno.writeTextFileSync(
      `${dir}/${pid}/maps`,
      `7f00-7f21 r-xp 00000000 fd:01 ${pid} /usr/lib/lib${pid}.so (deleted)\n`,
    );
    Deno.writeTextFileSync(
      `${dir}/${pid}/cmdline`,
      `/usr/bin/app-${pid}\0${FLAGS}\0`,
    );
  }
}

for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130], ["SIGHUP", 129]] as const) {
  Deno.test(`${signal} while the output is written ends it after a whole record, exit ${code}`, () =>
    withDir(async (dir) => {
      largeTree(dir, 4000);
      const child = new Deno.Command(Deno.execPath(), {
        // -A: a tree under /dev/shm is readable to Deno only with --allow-all.
        args: ["run", "--quiet", "-A", `${ROOT}/main.ts`, "--proc", dir, "-m"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.getReader();
      const chunks: Uint8Array[] = [];
      const first = await reader.read();
      if (first.done) throw new Error("no output at all");
      chunks.push(first.value);
      // The pipe fills while nobody reads; the CLI is then blocked mid-output.
      await new Promise((resolve) => setTimeout(resolve, 500));
      child.kill(signal);
      // Deno hears a signal on a thread of its own, which a loaded machine may run
      // late: the pipe stays full meanwhile, so the CLI cannot write to the end first.
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        chunks.push(value);
      }
      const status = await child.status;
      const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
      const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
      assertEquals(
        status.code,
        code,
        `exit ${status.code}, ${text.length} bytes, stderr: ${stderr}`,
      );
      // Exited on its own after the record, not killed by the signal (which gives the same code).
      assertEquals(status.signal, null);
      assert(text.endsWith("\n"), "the last record is whole");
      const records = parseMachine(text);
      // Stopped early, and every record that arrived is one the scan found, whole.
      assert(records.length > 0 && records.length < 4000, `${records.length} records`);
      for (const record of records) {
        const pid = record.pids[0]!;
        assertEquals(record.files, [`/usr/lib/lib${pid}.so`]);
        assertEquals(record.cmdline, `/usr/bin/app-${pid} ${FLAGS.trimEnd()}`);
      }
    }, true));
}

Deno.test("a reader that goes away (| head) is a quiet exit 0", () =>
  withDir(async (dir) => {
    largeTree(dir, 300);
    const output = await new Deno.Command("bash", {
      args: [
        "-c",
        `"$0" run --quiet -A "$2" --proc "$1" -m | head -n 1; echo "exit \${PIPESTATUS[0]}"`,
        Deno.execPath(),
        dir,
        `${ROOT}/main.ts`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const run = decodeRun(output);
    assertEquals(run.stderr, "");
    assertMatch(run.stdout, /^1;\/usr\/lib\/lib1\.so;\/usr\/bin\/app-1 [^\n]*\nexit 0\n$/);
  }, true));
