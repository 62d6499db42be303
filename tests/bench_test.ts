/**
 * The benchmark is no test of speed, but it must keep working: run it at a tiny
 * size and check what it prints and that it leaves no process behind.
 */

import { assertEquals, assertMatch } from "@std/assert";
import { ROOT } from "./_helpers.ts";

Deno.test("bench/bench.ts runs end to end at a tiny size and stops what it started", async () => {
  const before = new Set([...Deno.readDirSync("/proc")].map((e) => e.name));
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/bench/bench.ts`, "--sizes=6", "--rounds=1"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  assertMatch(stdout, /^# lib_users benchmark, \d{4}-\d\d-\d\d$/m);
  for (
    const subject of [
      "C floor, maps",
      "C floor, fds",
      "deno run (empty)",
      "CLI libs -m, deno run -A main.ts",
      "CLI libs -m, deno task scan",
      "CLI --fds -m, deno task scan",
      "CLI libs -m, bundled",
      "CLI --fds -m, bundled",
      "library libs, in-process",
      "library fds, in-process",
    ]
  ) {
    assertMatch(
      stdout,
      new RegExp(`^\\| ${subject.replace(/[()]/g, "\\$&")} \\| [0-9.]+ \\(`, "m"),
    );
  }
  for (const reading of ["medians", "best rounds"]) {
    assertMatch(
      stdout,
      new RegExp(`^Targets, ${reading} \\(start-up [0-9.]+ ms, floor [0-9.]+ ms\\):$`, "m"),
    );
  }
  assertEquals(
    stdout.match(/^- library libs, in-process: [0-9.]+ ms ≤ 2× floor = [0-9.]+ ms: (NOT )?met$/gm)
      ?.length,
    2,
  );
  assertMatch(stdout, /^- CLI libs -m, bundled: [0-9.]+ MiB: (NOT )?met$/m);
  // Every process the benchmark started is gone (its spawner reaps them).
  const leftover = [...Deno.readDirSync("/proc")]
    .filter((e) => /^\d+$/.test(e.name) && !before.has(e.name))
    .filter((e) => {
      try {
        return new TextDecoder().decode(Deno.readFileSync(`/proc/${e.name}/cmdline`)).includes(
          "3600",
        );
      } catch {
        return false;
      }
    });
  assertEquals(leftover.map((e) => e.name), []);
});
