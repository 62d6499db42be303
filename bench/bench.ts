/**
 * `deno task bench`: lib_users against its peers on populations that look
 * like an update (see `bench/scenarios.ts`).
 *
 * For each scenario and size it starts the processes, then measures whole
 * processes interleaved round by round after a warm-up round, each round in a
 * rotated order: lib_users as `deno task scan` runs it and bundled (the
 * stand-in for the compiled binary), the Python original (`lib_users`,
 * `fd_users`), `lsof -n +L1`, `dpkg -S` of the stale paths (scenario
 * `packages`), a C floor that only reads every maps file (or readlinks every
 * fd), and Deno's empty start-up. It prints medians with min–max, the median of
 * per-round ratios, and a verdict on each target. Timings are not tests: it
 * asserts nothing, and stops every process it started.
 *
 * The Python original is installed into a throw-away venv from PyPI
 * (`lib-users==0.14.post1`); where PyPI cannot be reached, `--original=DIR`
 * names a checkout of https://github.com/klausman/lib_users instead.
 *
 * Scenario `hoard` (the memory budget at full size) runs only lib_users, at
 * most 3 rounds: the peers are not asked to bound memory, and one round takes
 * seconds.
 *
 * Usage: deno task bench [--scenarios=distinct,…] [--sizes=200,1000,5000]
 *   [--many=16000] [--hoard=65000] [--rounds=9] [--original=DIR]
 *   deno task bench --hold=SCENARIO[:N]   (start a scenario and keep it until Enter)
 */

import { parseArgs } from "@std/cli/parse-args";
import { fromFileUrl } from "@std/path/from-file-url";
import config from "../deno.json" with { type: "json" };
import {
  HOARDERS,
  type Running,
  scanOf,
  type Scenario,
  SCENARIOS,
  startScenario,
} from "./scenarios.ts";

const ROOT = fromFileUrl(new URL("..", import.meta.url));
const USAGE = "Usage: deno task bench [--scenarios=distinct,…] [--sizes=200,1000,5000] " +
  "[--many=16000] [--hoard=65000] [--rounds=9] [--original=DIR] | --hold=SCENARIO[:N]";
const args = parseArgs(Deno.args, {
  string: ["scenarios", "sizes", "many", "hoard", "rounds", "original", "hold"],
});
const scenarios = String(args.scenarios ?? SCENARIOS.join(",")).split(",") as Scenario[];
const sizes = String(args.sizes ?? "200,1000,5000").split(",").map(Number);
const many = Number(args.many ?? 16000);
const hoard = Number(args.hoard ?? 65000);
const rounds = Number(args.rounds ?? 9);
if (
  scenarios.some((s) => !SCENARIOS.includes(s)) ||
  sizes.some((n) => !Number.isInteger(n) || n < 5) ||
  !Number.isInteger(many) || many < 1 || !Number.isInteger(hoard) || hoard < 1 ||
  !Number.isInteger(rounds) || rounds < 1
) {
  console.error(USAGE);
  Deno.exit(2);
}

interface Sample {
  wall: number;
  cpu: number;
  rss: number;
}

const decoder = new TextDecoder();
const work = Deno.makeTempDirSync({ prefix: "lib_users_bench_" });

function sh(script: string, ...params: string[]): Deno.CommandOutput {
  return new Deno.Command("/bin/sh", { args: ["-c", script, "sh", ...params] }).outputSync();
}

function build(name: string): string {
  const out = `${work}/${name}`;
  const made = new Deno.Command("cc", {
    args: ["-O2", "-o", out, `${ROOT}/bench/${name}.c`],
  }).outputSync();
  if (!made.success) throw new Error(decoder.decode(made.stderr));
  return out;
}

const library = ["/lib/x86_64-linux-gnu/libutil.so.1", "/usr/lib/x86_64-linux-gnu/libutil.so.1"]
  .find((path) => sh('[ -f "$1" ]', path).success);
if (!library) throw new Error("No libutil.so.1 to copy");
const tools = { work, library, holder: build("holder") };

if (args.hold !== undefined) {
  const [name, size] = String(args.hold).split(":");
  if (!SCENARIOS.includes(name as Scenario)) {
    console.error(USAGE);
    Deno.exit(2);
  }
  const running = await startScenario(name as Scenario, Number(size ?? 1000), tools);
  console.log(
    `${name}: ${running.pids.length} processes started and made stale; press Enter to stop`,
  );
  await Deno.stdin.read(new Uint8Array(1));
  await running.stop();
  Deno.removeSync(work, { recursive: true });
  Deno.exit(0);
}

const runstat = build("runstat");
const floor = build("floor");
Deno.writeTextFileSync(`${work}/empty.ts`, "");
const deno = Deno.execPath();

// The closest stand-in for the compiled binary that can run here (denort cannot
// be fetched): one bundled file, no config file to read, the compile task's flags.
const bundle = `${work}/lib_users.js`;
const bundled = new Deno.Command(deno, {
  args: ["bundle", "--quiet", "-o", bundle, `${ROOT}/main.ts`],
  cwd: ROOT,
}).outputSync();
if (!bundled.success) throw new Error(decoder.decode(bundled.stderr));
// The flags `deno task scan` runs main.ts with ("deno run -A … main.ts").
const FLAGS = config.tasks.scan.split(" ").slice(2, -1);

/** The Python original's two programs, and how they were found; null when not found. */
const original = findOriginal();
const lsof = sh("command -v lsof").success;
const dpkg = sh("command -v dpkg").success;

function findOriginal(): { libUsers: string[]; fdUsers: string[]; how: string } | null {
  const python = ["/usr/bin/python3", "python3"].find((p) => sh(`command -v ${p}`).success);
  if (python === undefined) return null;
  if (args.original !== undefined) {
    const dir = String(args.original);
    return {
      libUsers: [python, `${dir}/lib_users.py`],
      fdUsers: [python, `${dir}/fd_users.py`],
      how: `the checkout at ${dir}, run by ${python}`,
    };
  }
  const venv = `${work}/venv`;
  const made = sh(
    `"$1" -m venv "$2" && "$2/bin/pip" install --quiet --disable-pip-version-check ` +
      "--timeout 10 --retries 0 lib-users==0.14.post1",
    python,
    venv,
  );
  if (!made.success) {
    console.error(
      "The Python original could not be installed from PyPI; pass --original=DIR " +
        "(a checkout of https://github.com/klausman/lib_users) to compare with it.",
    );
    return null;
  }
  const script = (name: string) =>
    [`${venv}/bin/${name}`, `${venv}/bin/${name}.py`].find((p) => sh('[ -x "$1" ]', p).success)!;
  return {
    libUsers: [`${venv}/bin/python`, script("lib_users")],
    fdUsers: [`${venv}/bin/python`, script("fd_users")],
    how: "lib-users 0.14.post1 from PyPI in a throw-away venv",
  };
}

/** Runs a command under runstat, which prints its wall time, CPU time and peak RSS. */
const timed = (...command: string[]): string[] => [runstat, ...command];
const source = (...a: string[]) => timed(deno, "run", ...FLAGS, `${ROOT}/main.ts`, ...a);
const bundledCli = (...a: string[]) => timed(deno, "run", ...FLAGS, "--no-config", bundle, ...a);

/** The subject names the verdicts refer to. */
const S = {
  floor: "C floor",
  start: "Deno start-up (empty)",
  source: "lib_users, deno task scan",
  bundled: "lib_users, bundled",
  original: "Python original",
  lsof: "lsof -n +L1",
  packagesSource: "lib_users --packages, deno task scan",
  packagesBundled: "lib_users --packages, bundled",
  dpkg: "dpkg -S (the same paths)",
} as const;

/** What is measured in a scenario: each command prints one JSON sample. */
function subjectsOf(scenario: Scenario, running: Running): [string, string[]][] {
  const fds = scanOf(scenario) === "fds";
  const mode = fds ? ["--fds", "-m"] : ["-m"];
  const list: [string, string[]][] = [
    [S.floor, fds ? timed(floor, "fds") : timed(floor)],
    [S.start, timed(deno, "run", ...FLAGS, "--no-config", `${work}/empty.ts`)],
    [S.source, source(...mode)],
    [S.bundled, bundledCli(...mode)],
  ];
  if (scenario === "hoard") return list;
  if (original) {
    list.push([S.original, timed(...(fds ? original.fdUsers : original.libUsers), "-m")]);
  }
  if (lsof) list.push([S.lsof, timed("lsof", "-n", "+L1")]);
  if (scenario === "packages") {
    list.push([S.packagesSource, source("-m", "--packages")]);
    list.push([S.packagesBundled, bundledCli("-m", "--packages")]);
    if (dpkg) list.push([S.dpkg, timed("dpkg", "-S", ...running.stalePaths)]);
  }
  if (scenario === "shared") {
    // What is asked for only, and the monitoring routes, on today's one-file case.
    list.push(["lib_users -m --scripts, bundled", bundledCli("-m", "--scripts")]);
    list.push([
      "lib_users --format=nagios -t 50, bundled",
      bundledCli("--format=nagios", "-t", "50"),
    ]);
    // The reboot check (boot loader, microcode), the plan's next step and the units' markers.
    list.push(["lib_users --json, bundled", bundledCli("--json")]);
    list.push(["lib_users -S --restart-hints, bundled", bundledCli("-S", "--restart-hints")]);
    list.push(["lib_users --format=needrestart, bundled", bundledCli("--format=needrestart")]);
    // What stands at each file's path, and since when (#29, 1): one lookup per file and tree.
    list.push(["lib_users -m --replaced-only, bundled", bundledCli("-m", "--replaced-only")]);
    list.push([
      "lib_users --format=prometheus -o FILE, bundled",
      bundledCli("--format=prometheus", "-o", `${work}/lib_users.prom`),
    ]);
    list.push(["library libs, in-process", [
      deno,
      "run",
      "-A",
      `${ROOT}/bench/inprocess.ts`,
      "libs",
    ]]);
  }
  return list;
}

function measure(command: string[]): Sample {
  const out = new Deno.Command(command[0]!, { args: command.slice(1), stderr: "piped" })
    .outputSync();
  const text = decoder.decode(out.stdout);
  // A timing that failed says why, rather than a JSON parser's complaint about nothing.
  if (!out.success || text.trim() === "") {
    const why = decoder.decode(out.stderr).trim().split("\n").slice(-3).join(" / ");
    throw new Error(`${command.join(" ")} failed (exit ${out.code}): ${why || "no output"}`);
  }
  return JSON.parse(text);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One target's reading in one run: its value, its bound, and what it was measured on. */
interface Reading {
  target: string;
  where: string;
  value: number;
  bound: number;
}
const readings: Reading[] = [];
/** Median wall time and peak RSS of the bundled and source CLI, by scenario and size. */
const cliFigures = new Map<string, { wall: number; rss: number; overFloor: number }>();

const cpuModel = /model name\s*:\s*(.+)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? "?";
console.log(`# lib_users benchmark, ${new Date().toISOString().slice(0, 10)}`);
console.log(
  `# ${navigator.hardwareConcurrency} cores, ${cpuModel}, Linux ${Deno.osRelease()}, deno ${Deno.version.deno}`,
);
console.log(
  `# ${rounds} rounds after a warm-up round, interleaved; median (min–max); ` +
    "ratios are medians of per-round ratios",
);
console.log(`# Python original: ${original?.how ?? "not available"}`);

try {
  for (const scenario of scenarios) {
    const ns = scenario === "hoard" ? [hoard] : scenario.startsWith("many-") ? [many] : sizes;
    for (const n of ns) {
      const running = await startScenario(scenario, n, tools);
      try {
        runScenario(scenario, n, running);
      } finally {
        await running.stop();
      }
    }
  }
  printVerdicts();
} finally {
  Deno.removeSync(work, { recursive: true });
}

function runScenario(scenario: Scenario, n: number, running: Running): void {
  const subjects = subjectsOf(scenario, running);
  const samples = new Map<string, Sample[]>(subjects.map(([name]) => [name, []]));
  const roundsHere = scenario === "hoard" ? Math.min(rounds, 3) : rounds;
  for (let round = 0; round <= roundsHere; round++) {
    // A rotated order: no subject always runs right after another's page-cache work.
    for (let k = 0; k < subjects.length; k++) {
      const [name, command] = subjects[(k + round) % subjects.length]!;
      const sample = measure(command);
      if (round > 0) samples.get(name)!.push(sample);
    }
  }
  const total = [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).length;
  const unit = scenario === "hoard"
    ? `files in each of ${HOARDERS} processes`
    : scenario.startsWith("many-")
    ? "files in one process"
    : "processes";
  console.log(`\n## ${scenario}, N = ${n} ${unit} (${total} processes in /proc)\n`);
  console.log("| subject | wall ms | CPU ms | peak RSS MiB |");
  console.log("| --- | --- | --- | --- |");
  for (const [name] of subjects) {
    const list = samples.get(name)!;
    const cell = (key: keyof Sample, scale = 1) => {
      const values = list.map((s) => s[key] / scale);
      return `${median(values).toFixed(1)} (${Math.min(...values).toFixed(1)}–${
        Math.max(...values).toFixed(1)
      })`;
    };
    console.log(`| ${name} | ${cell("wall")} | ${cell("cpu")} | ${cell("rss", 1024)} |`);
  }
  const wall = (name: string) => samples.get(name)!.map((s) => s.wall);
  /** The median over rounds of f(round's walls). */
  const perRound = (f: (at: (name: string) => number) => number) =>
    median(wall(S.floor).map((_, r) => f((name) => wall(name)[r]!)));
  const where = `${scenario}, N = ${n}`;
  const add = (target: string, value: number, bound: number, form: string) => {
    readings.push({ target, where: `${where}, ${form}`, value, bound });
  };
  console.log("");
  const fds = scanOf(scenario) === "fds";
  for (const [form, name] of [["deno task scan", S.source], ["bundled", S.bundled]] as const) {
    const overFloor = perRound((at) => (at(name) - at(S.start)) / at(S.floor));
    const rss = median(samples.get(name)!.map((s) => s.rss)) / 1024 * 1.048576;
    cliFigures.set(`${scenario}\0${n}\0${form}`, { wall: median(wall(name)), rss, overFloor });
    const line = (label: string, value: number, bound: number) =>
      console.log(`- ${name}: ${label} ${value.toFixed(2)} (target ≤ ${bound})`);
    if (samples.has(S.original)) {
      const value = perRound((at) => at(name) / at(S.original));
      line(`× ${fds ? "fd_users" : "the Python original"}`, value, 0.6);
      add(fds ? "--fds -m ≤ 0.6× fd_users" : "-m ≤ 0.6× the Python original", value, 0.6, form);
    }
    if (samples.has(S.lsof)) {
      const value = perRound((at) => at(name) / at(S.lsof));
      line("× lsof -n +L1", value, 0.5);
      add("≤ 0.5× lsof -n +L1", value, 0.5, form);
    }
    line("(scan − start-up) / C floor", overFloor, 1.5);
    add("(scan − Deno start-up) ≤ 1.5× the C floor", overFloor, 1.5, form);
    console.log(`- ${name}: peak RSS ${rss.toFixed(1)} MB`);
    if (scenario === "hoard") {
      add(`peak RSS ≤ 512 MB, ${HOARDERS} processes of one user each hoarding`, rss, 512, form);
    }
    if (scenario === "packages") {
      const withPackages = form === "bundled" ? S.packagesBundled : S.packagesSource;
      if (dpkg) {
        const value = perRound((at) => (at(withPackages) - at(name)) / at(S.dpkg));
        console.log(
          `- ${withPackages}: adds ${value.toFixed(2)}× what dpkg -S takes (target ≤ 1)`,
        );
        add("--packages adds ≤ what dpkg -S takes", value, 1, form);
      }
    }
  }
  if (scenario === "hoard") {
    const reported = reportedOf(running.pids);
    console.log(
      `- lib_users -m, bundled: ${reported} of ${running.pids.length} processes reported`,
    );
    readings.push({
      target: "every hoarding process reported (value: how many are not)",
      where: `${where}, bundled`,
      value: running.pids.length - reported,
      bound: 0,
    });
  }
}

/** How many of `pids` a bundled `-m` run lists: every one, however many files each holds. */
function reportedOf(pids: readonly number[]): number {
  const out = new Deno.Command(deno, {
    args: ["run", ...FLAGS, "--no-config", bundle, "-m"],
    stderr: "null",
  }).outputSync();
  const listed = new Set(
    decoder.decode(out.stdout).split("\n").flatMap((line) =>
      line.split(";")[0]!.split(",").map(Number)
    ),
  );
  return pids.filter((pid) => listed.has(pid)).length;
}

function printVerdicts(): void {
  for (const form of ["deno task scan", "bundled"]) {
    const rss = (n: number) => cliFigures.get(`distinct\0${n}\0${form}`)?.rss;
    const at1000 = rss(1000);
    if (at1000 !== undefined) {
      readings.push({
        target: "peak RSS ≤ 40 MB at N = 1,000",
        where: `distinct, ${form}`,
        value: at1000,
        bound: 40,
      });
    }
    const largest = Math.max(...sizes);
    const atLargest = rss(largest);
    if (at1000 !== undefined && atLargest !== undefined && largest > 1000) {
      readings.push({
        target: "peak RSS grows ≤ 2 MB per 1,000 processes beyond 1,000",
        where: `distinct, N = 1,000 → ${largest}, ${form}`,
        value: (atLargest - at1000) / ((largest - 1000) / 1000),
        bound: 2,
      });
    }
    for (const n of sizes) {
      const distinct = cliFigures.get(`distinct\0${n}\0${form}`);
      const containers = cliFigures.get(`containers\0${n}\0${form}`);
      if (distinct && containers) {
        readings.push({
          target: "containers ≤ 1.3× distinct (scan over the floor)",
          where: `N = ${n}, ${form}`,
          value: containers.overFloor / distinct.overFloor,
          bound: 1.3,
        });
      }
    }
  }
  console.log("\n## Verdicts\n");
  console.log("| target | measured on | value | verdict |");
  console.log("| --- | --- | --- | --- |");
  for (const r of readings) {
    console.log(
      `| ${r.target} | ${r.where} | ${r.value.toFixed(2)} | ${
        r.value <= r.bound ? "met" : "NOT met"
      } |`,
    );
  }
}
