/**
 * Scale, garbage and races: big fixture trees made at test time, the garbage
 * fixture, and scans while processes start and exit.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { groupByArgv, scanFds, scanLibs } from "../../mod.ts";
import { measureScan, ROOT, runCli } from "../_helpers.ts";
import config from "../../deno.json" with { type: "json" };
import { buildMapper, realLibrary, spawnMapper, spawnStale } from "../_live.ts";

const LIVE_LINE =
  "7f0000000000-7f0000001000 r-xp 00000000 fd:01 1 /usr/lib/x86_64-linux-gnu/liblive.so.1\n";

function deletedLine(name: string): string {
  return `7f0000000000-7f0000001000 r-xp 00000000 fd:01 1 ${name} (deleted)\n`;
}

Deno.test("scanLibs() and scanFds() find all of 2,000 processes", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (let pid = 1; pid <= 2500; pid++) {
      Deno.mkdirSync(`${dir}/${pid}/fd`, { recursive: true });
      Deno.writeTextFileSync(`${dir}/${pid}/cmdline`, `/usr/bin/worker\0--id\0${pid % 2000}\0`);
      const stale = pid <= 2000;
      Deno.writeTextFileSync(
        `${dir}/${pid}/maps`,
        LIVE_LINE.repeat(30) + (stale ? deletedLine(`/lib/libgone${pid % 7}.so`) : ""),
      );
      Deno.symlinkSync(
        stale ? `/var/log/w${pid}.log (deleted)` : "/dev/null",
        `${dir}/${pid}/fd/3`,
      );
    }
    const libs = await scanLibs({ proc: dir });
    assertEquals(libs.processes.length, 2000);
    assertEquals(groupByArgv(libs.processes).length, 2000);
    const fds = await scanFds({ proc: dir });
    assertEquals(fds.processes.length, 2000);
    const run = await runCli([`--allow-read=${dir}`], ["--proc", dir, "-m"]);
    assertEquals(run.code, 0);
    assertEquals(run.stdout.trimEnd().split("\n").length, 2000);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("scanLibs() reads processes with 100,000 mappings each in bounded memory", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    let maps = "";
    for (let i = 0; i < 100_000; i++) {
      maps += i % 1000 === 0 ? deletedLine(`/lib/gone${i}.so`) : LIVE_LINE;
    }
    const processes = 8; // ~9 MB of maps each: ~72 MB if they were all held at once
    for (let pid = 1; pid <= processes; pid++) {
      Deno.mkdirSync(`${dir}/${pid}`);
      Deno.writeTextFileSync(`${dir}/${pid}/maps`, maps);
      Deno.writeTextFileSync(`${dir}/${pid}/cmdline`, `big${pid}\0`);
    }
    const { grown, result } = await measureScan(dir, ["-A"], { proc: dir });
    assertEquals(result.map((p) => p.files.length), Array(processes).fill(100));
    assert(grown < 32 * 1024 * 1024, `peak RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("scanLibs() holds a bounded share of names, however many long ones processes map", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const processes = 3;
    let maps = "";
    for (let i = 0; i < 20_000; i++) maps += deletedLine(`/lib/${"x".repeat(300)}${i}.so`);
    for (let pid = 1; pid <= processes; pid++) {
      Deno.mkdirSync(`${dir}/${pid}`);
      Deno.writeTextFileSync(`${dir}/${pid}/maps`, maps);
      Deno.writeTextFileSync(`${dir}/${pid}/cmdline`, `hoard${pid}\0`);
    }
    // 18 MB of names in all (within what a fixture tree may hold): a budget of 4,096 files keeps
    // that many of each process's 20,000.
    const { grown, result } = await measureScan(dir, ["-A"], {
      proc: dir,
      budget: { filesPerProcess: 4096 },
    });
    assertEquals(
      result.map((p) => [p.files.length, p.notListed]),
      Array(processes).fill([4096, 15_904]),
    );
    const unbounded = await measureScan(dir, ["-A"], {
      proc: dir,
      budget: { filesPerProcess: 1e9, charsPerUser: 1e12 },
    });
    assertEquals(unbounded.result.map((p) => p.files.length), Array(processes).fill(20_000));
    // What is kept is a fifth of the names (measured: ≈ 0.47 of the peak growth without the budget,
    // the rest is reading the lines past it).
    assert(
      grown < unbounded.grown * 0.7,
      `peak RSS grew by ${(grown / 1048576).toFixed(1)} MiB with the budget, ` +
        `${(unbounded.grown / 1048576).toFixed(1)} MiB without`,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CLI lists 65,530 files of one process, and says in every format what a cut left out", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/7`);
    Deno.mkdirSync(`${dir}/8`);
    // As many mappings as the kernel's default vm.max_map_count allows, each of another file:
    // all listed.
    let maps = "";
    for (let i = 0; i < 65_530; i++) maps += deletedLine(`/lib/gone${i}.so`);
    Deno.writeTextFileSync(`${dir}/7/maps`, maps);
    Deno.writeTextFileSync(`${dir}/7/cmdline`, "mapper\0");
    const cli = (...args: string[]) => runCli([`--allow-read=${dir}`], ["--proc", dir, ...args]);
    const whole = await cli("-m");
    assertEquals([whole.code, whole.stdout.split(";")[1]!.split(",").length], [0, 65_530]);
    // With a sysctl raised past that, a cut: what fits is kept, and the cut is said everywhere.
    for (let i = 65_530; i < 70_000; i++) maps += deletedLine(`/lib/gone${i}.so`);
    Deno.writeTextFileSync(`${dir}/8/maps`, maps);
    Deno.writeTextFileSync(`${dir}/8/cmdline`, "hoarder\0");
    const warning = "Warning: 4464 deleted files were not listed";
    const human = await cli("-s");
    assertEquals(human.code, 4);
    assertStringIncludes(human.stdout, "and 4464 more not listed\n");
    assertStringIncludes(human.stderr, warning);
    const machine = await cli("-m");
    assertEquals(machine.code, 4);
    assertEquals(machine.stdout.split("\n")[1]!.split(";")[1]!.split(",").length, 65_536);
    assertStringIncludes(machine.stderr, warning);
    const jsonRun = await cli("--json");
    assertEquals(jsonRun.code, 4);
    const json = JSON.parse(jsonRun.stdout);
    assertEquals([json.truncated, json.files_not_listed, json.groups[1].files_not_listed], [
      true,
      4464,
      4464,
    ]);
    assertEquals(json.groups[1].files.length, 65_536);
    const nagios = await cli("--format=nagios", "--allow-partial");
    assertEquals(nagios.code, 3);
    assertMatch(
      nagios.stdout,
      /^UNKNOWN - [^|]*the lists were cut, past what the scan keeps of names/,
    );
    assertStringIncludes(nagios.stdout, "(4464 more files not listed)");
    assertStringIncludes(nagios.stdout, "files_not_listed=4464;;;0;");
    const prometheus = await cli("--format=prometheus");
    assertEquals(prometheus.code, 4);
    assertStringIncludes(prometheus.stdout, `\nlib_users_files_not_listed{scan="libs"} 4464\n`);
    assertStringIncludes(prometheus.stdout, `\nlib_users_scan_success{scan="libs"} 0\n`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CLI survives the garbage fixture: bad lines, empty and missing files, odd entries", async () => {
  const tree = `${ROOT}/testdata/proc_garbage`;
  const libs = await runCli([`--allow-read=${tree}`], ["--proc", tree, "-m"]);
  assertEquals(libs.code, 0);
  assertEquals(
    libs.stdout,
    "10;/lib/ok.so,/lib/tail.so;garbage-owner\n16;/lib/\\xff.so;bad\\xfeargv\n",
  );
  // 14's maps is a directory: unreadable, so counted and warned about.
  assertStringIncludes(libs.stderr, "Warning: Some files could not be read.\n");
  const json = JSON.parse(
    (await runCli([`--allow-read=${tree}`], ["--proc", tree, "--json"])).stdout,
  );
  assertEquals(json.unreadable, 1);
  const fds = await runCli([`--allow-read=${tree}`], ["--proc", tree, "--fds", "-m"]);
  assertEquals(fds.code, 0);
  assertEquals(fds.stdout, "15;/var/log/rotated.log;fd-owner\n");
  assertStringIncludes(fds.stderr, "Warning: Some files could not be read.\n");
});

Deno.test("CLI on the live kernel stays exact while processes start and exit", async () => {
  const stale = await spawnStale({
    program: "sleep",
    exe: "race-sleep",
    libs: ["librace.so.1"],
    files: ["race.log"],
  });
  const dir = Deno.makeTempDirSync();
  // Each churner holds a deleted file, so its short-lived children are candidates too; it ends
  // when the test runner does (a killed run leaves none).
  const churners = [1, 2].map((n) =>
    new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'echo x >"$1"; exec 3<"$1"; rm "$1"; while kill -0 "$PPID" 2>/dev/null; do /bin/true; done',
        "churn",
        `${dir}/held${n}`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn()
  );
  try {
    for (let round = 0; round < 4; round++) {
      const running = await Promise.race([
        ...churners.map((c) => c.status),
        Promise.resolve("running"),
      ]);
      assertEquals(running, "running", "a churner ended early");
      for (const args of [["-m"], ["--fds", "-m"], ["--json"], ["--fds", "-s"]]) {
        const run = await runCli(["-A"], args);
        assertEquals(run.code, 0, run.stderr);
        // This test's own process, on a line (or in a group) of its own.
        if (args.includes("--json")) {
          const groups: { pids: number[] }[] = JSON.parse(run.stdout).groups;
          assertEquals(groups.filter((g) => g.pids.includes(stale.pid)).map((g) => g.pids), [[
            stale.pid,
          ]]);
        } else {
          const start = `${stale.pid}${args.includes("-m") ? ";" : " "}`;
          const rows = run.stdout.split("\n").filter((line) => line.startsWith(start));
          assertEquals(rows.length, 1, run.stdout);
          assertStringIncludes(rows[0]!, stale.dir);
        }
        for (const line of run.stderr.split("\n").filter(Boolean)) {
          assert(line.startsWith("Warning: ") || line.startsWith("Note that "), line);
        }
      }
    }
  } finally {
    for (const churner of churners) {
      try {
        churner.kill("SIGKILL");
      } catch { /* it already ended: the assertions above say why */ }
      await churner.status;
    }
    await stale.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});

const MAPPER = await buildMapper();
/** The flags `deno task scan` runs main.ts with ("deno run -A … main.ts"). */
const SCAN_FLAGS = config.tasks.scan.split(" ").slice(2, -1);
if (MAPPER === null) console.warn("scale_test: the 60,000-mapping case is ignored: no cc -static");

Deno.test({
  name:
    "scanLibs() on the live kernel: 60,000 mappings of deleted files cost no more memory than 60",
  ignore: MAPPER === null,
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      /** Peak RSS growth of a scan while one process maps `files` `count` times in all. */
      const measure = async (count: number, files: string[]) => {
        for (const file of files) Deno.copyFileSync(realLibrary(), file);
        const mapper = await spawnMapper([MAPPER!, "-n", String(count), ...files]);
        try {
          for (const file of files) Deno.removeSync(file);
          // Measured as the CLI runs: with the V8 flags of `deno task scan`.
          const { grown, result } = await measureScan(dir, SCAN_FLAGS, {});
          const mine = result.find((p) => p.pid === mapper.pid);
          assertEquals(mine?.files.map((f) => f.path), [...files].sort());
          return grown;
        } finally {
          await mapper.stop();
        }
      };
      const one = [`${dir}/a.so`];
      const two = [`${dir}/a.so`, `${dir}/b.so`];
      const base = await measure(60, two);
      for (const [name, files] of [["one file", one], ["two alternating", two]] as const) {
        const grown = await measure(60_000, files);
        const extra = (grown - base) / 1048576;
        assert(extra <= 5, `${name}: 60,000 mappings took ${extra.toFixed(1)} MiB more than 60`);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
