/**
 * The benchmark is no test of speed, but it must keep working: run it at a tiny
 * size and check what it prints and that it leaves no process behind.
 */

import { assertEquals, assertMatch } from "@std/assert";
import { ROOT } from "./_helpers.ts";

Deno.test("bench/bench.ts runs end to end at a tiny size and stops what it started", async () => {
  const before = new Set([...Deno.readDirSync("/proc")].map((e) => e.name));
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
    env: { NO_COLOR: "1" },
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
  // Every process the benchmark started is gone (its spawners reap them).
  const leftover = [...Deno.readDirSync("/proc")]
    .filter((e) => /^\d+$/.test(e.name) && !before.has(e.name))
    .filter((e) => {
      try {
        const argv = new TextDecoder().decode(Deno.readFileSync(`/proc/${e.name}/cmdline`));
        // Every process these scenarios start runs a program of the bench's directory, or has
        // its root there (containers).
        return argv.includes("lib_users_bench_") ||
          Deno.readLinkSync(`/proc/${e.name}/root`).includes("lib_users_bench_");
      } catch {
        return false;
      }
    });
  assertEquals(leftover.map((e) => e.name), []);
});
