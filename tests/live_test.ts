/**
 * End to end against the live kernel: real processes map deleted libraries and
 * executables and hold deleted files; the real CLI must report exactly them.
 */

import { assertEquals, assertStringIncludes } from "@std/assert";
import { runCli } from "./_helpers.ts";
import { spawnStale } from "./_live.ts";
import { loadSchema, validate } from "./_json_schema.ts";

/** The lines of `text` that mention `needle`. */
function linesWith(text: string, needle: string): string[] {
  return text.split("\n").filter((line) => line.includes(needle));
}

Deno.test("CLI on the live kernel reports a deleted library, executable and open file", async (t) => {
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
    const cases: [string[], string][] = [
      [[], `${pid} "${cmdline}"`],
      [["-s"], `${pid} "${cmdline}" uses ${lib},${exe}`],
      [["-m"], `${pid};${lib},${exe};${cmdline}`],
      [["--fds"], `${pid} "${cmdline}"`],
      [["--fds", "-s"], `${pid} "${cmdline}" uses ${log}`],
      [["--fds", "-m"], `${pid};${log};${cmdline}`],
    ];
    for (const [args, expected] of cases) {
      await t.step(["-A", ...args].join(" "), async () => {
        const run = await runCli(["-A"], args);
        assertEquals(run.code, 0, run.stderr);
        assertEquals(linesWith(run.stdout, dir), [expected]);
      });
    }
    await t.step("-A --json", async () => {
      for (const mode of ["libs", "fds"]) {
        const run = await runCli(["-A"], mode === "fds" ? ["--json", "--fds"] : ["--json"]);
        assertEquals(run.code, 0);
        const report = JSON.parse(run.stdout);
        assertEquals(validate(await loadSchema(), report), []);
        const mine = report.groups.filter((g: { pids: number[] }) => g.pids.includes(pid));
        assertEquals(mine, [{
          pids: [pid],
          argv: [exe, "1000"],
          cmdline,
          files: mode === "fds" ? [{ path: log, kind: "fd" }] : [
            { path: lib, kind: "library" },
            { path: exe, kind: "executable" },
          ],
        }]);
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
