/**
 * The benchmark is no test of speed, but it must keep working: run it at a tiny
 * size and check what it prints and that it leaves no process behind. Its work
 * directory lies in one of this run's own (through TMPDIR), so only what this
 * run started is judged, whatever else (a second suite's benchmark) runs here.
 */

import { assertEquals, assertMatch } from "@std/assert";
import { ROOT } from "./_helpers.ts";

Deno.test("bench/bench.ts runs end to end at a tiny size and stops what it started", async () => {
  const own = Deno.makeTempDirSync({ prefix: "lib_users_bench_test_" });
  try {
    await benchIn(own);
  } finally {
    Deno.removeSync(own, { recursive: true });
  }
});

async function benchIn(own: string): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}/bench/bench.ts`,
      "--scenarios=distinct,containers,fds,many-maps",
      "--sizes=6",
      "--many=20",
      "--rounds=1",
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", TMPDIR: own },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  assertMatch(stdout, /^# lib_users benchmark, \d{4}-\d\d-\d\d$/m);
  for (
    const heading of ["distinct, N = 6", "containers, N = 6", "fds, N = 6", "many-maps, N = 20"]
  ) {
    assertMatch(stdout, new RegExp(`^## ${heading} (processes|files in one process) `, "m"));
  }
  for (
    const subject of [
      "C floor",
      "Deno start-up \\(empty\\)",
      "lib_users, deno task scan",
      "lib_users, bundled",
    ]
  ) {
    assertEquals(stdout.match(new RegExp(`^\\| ${subject} \\| [0-9.]+ \\(`, "gm"))?.length, 4);
  }
  assertMatch(
    stdout,
    /^\| \(scan − Deno start-up\) ≤ 1\.5× the C floor \| distinct, N = 6, bundled \| -?[0-9.]+ \| (NOT )?met \|$/m,
  );
  assertMatch(
    stdout,
    /^\| containers ≤ 1\.3× distinct \(scan over the floor\) \| N = 6, bundled \| -?[0-9.]+ \| (NOT )?met \|$/m,
  );
  // Every process the benchmark started is gone (its spawners reap them): none runs a program
  // of its work directory, or has its root there (containers).
  const leftover = [...Deno.readDirSync("/proc")]
    .filter((e) => /^\d+$/.test(e.name))
    .filter((e) => {
      try {
        const argv = new TextDecoder().decode(Deno.readFileSync(`/proc/${e.name}/cmdline`));
        return argv.includes(own) || Deno.readLinkSync(`/proc/${e.name}/root`).startsWith(own);
      } catch {
        return false;
      }
    });
  assertEquals(leftover.map((e) => e.name), []);
}
