/**
 * The process populations `deno task bench` measures, each started for real
 * and made stale as an update would make it: files replaced by a new file
 * renamed over them (libraries, executables), or deleted (rotated logs).
 *
 * - `distinct`: every process runs its group's replaced executable (argv in
 *   groups of 5) and every other one also maps its own replaced library.
 * - `shared`: one replaced library and one replaced executable for a third of
 *   the processes, one deleted file held open by a third, a third ordinary.
 * - `containers`: `distinct`, with a third of the groups (the second of every
 *   three) each in its own mount namespace and root (`unshare -m --root` into a
 *   copied tree).
 * - `fds`: every process holds its own deleted log open, groups of 5.
 * - `packages`: `distinct`, plus one group in a private mount namespace that
 *   maps real package files (glibc's gconv modules) replaced there only.
 * - `many-fds`, `many-maps`: one process holding N distinct deleted files open,
 *   or mapping N distinct deleted files.
 * - `hoard`: six processes of one user, each mapping N distinct deleted files
 *   whose names are 200 bytes long and not UTF-8: what costs a scan most memory.
 *
 * @module
 */

import type { ScanKind } from "../lib/scan/model.ts";

/** The scenarios, in the order the bench runs them. */
export const SCENARIOS = [
  "distinct",
  "shared",
  "containers",
  "fds",
  "packages",
  "many-fds",
  "many-maps",
  "hoard",
] as const;

/** One scenario's name. */
export type Scenario = typeof SCENARIOS[number];

/** What a scenario reads: maps (libs) or fd links (fds). */
export function scanOf(scenario: Scenario): ScanKind {
  return scenario === "fds" || scenario === "many-fds" ? "fds" : "libs";
}

/** What a scenario needs from the host. */
export interface Tools {
  /** A private directory for the scenario's files. */
  readonly work: string;
  /** A real shared library to copy. */
  readonly library: string;
  /** The program of `bench/holder.c`, built. */
  readonly holder: string;
}

/** A running scenario. */
export interface Running {
  /** Every process started (in `shared`, a third use no stale file). */
  readonly pids: readonly number[];
  /** Paths of real package files among the stale ones (scenario `packages`). */
  readonly packageFiles: readonly string[];
  /** Every stale path as the processes name them (none listed for `hoard`). */
  readonly stalePaths: readonly string[];
  /** Kills every process started and waits for them. */
  stop(): Promise<void>;
}

/** One process to start. */
interface Plan {
  /** The program, as the process names it. */
  readonly exe: string;
  readonly args: readonly string[];
  /** Libraries to preload, as the process names them. */
  readonly preload: readonly string[];
  /** A file to hold open as fd 3, as the process names it. */
  readonly hold?: string;
  /** Set for a process that uses no stale file. */
  readonly ordinary?: true;
}

/** A group of processes started together: on the host, or in a namespace of their own. */
interface Batch {
  readonly plans: readonly Plan[];
  /** A tree to run the batch in (own mount namespace and root). */
  readonly root?: string;
  /** A shell step run first inside the batch's own mount namespace. */
  readonly setup?: string;
}

const GROUP = 5;
/** The gconv modules of glibc: real package files no program needs. */
const GCONV = "/usr/lib/x86_64-linux-gnu/gconv";
const GCONV_MODULES = ["UTF-16.so", "UTF-32.so", "UTF-7.so", "UNICODE.so"];

/** Starts `scenario` with `n` processes (or files per process, for `many-*` and `hoard`) and makes it stale. */
export async function startScenario(
  scenario: Scenario,
  n: number,
  tools: Tools,
): Promise<Running> {
  if (scenario === "many-fds" || scenario === "many-maps") {
    return await startHolder(scenario, n, tools);
  }
  if (scenario === "hoard") return await startHoarders(n, tools);
  const dir = Deno.makeTempDirSync({ dir: tools.work, prefix: `${scenario}_` });
  const sleep = which("sleep");
  const replaced: string[] = [];
  const deleted: string[] = [];
  const copy = (from: string, to: string) => {
    Deno.copyFileSync(from, to);
    Deno.chmodSync(to, 0o755);
  };
  const batches: Batch[] = [];
  const packageFiles: string[] = [];
  if (scenario === "shared") {
    copy(tools.library, `${dir}/libshared.so.1`);
    copy(sleep, `${dir}/sleep-shared`);
    Deno.writeTextFileSync(`${dir}/held.log`, "x\n");
    replaced.push(`${dir}/libshared.so.1`, `${dir}/sleep-shared`);
    deleted.push(`${dir}/held.log`);
    const plans: Plan[] = [];
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0) {
        plans.push({
          exe: `${dir}/sleep-shared`,
          args: ["3600"],
          preload: [`${dir}/libshared.so.1`],
        });
      } else if (i % 3 === 1) {
        plans.push({ exe: sleep, args: ["3600"], preload: [], hold: `${dir}/held.log` });
      } else plans.push({ exe: sleep, args: ["3600"], preload: [], ordinary: true });
    }
    batches.push({ plans });
  } else if (scenario === "fds") {
    const plans: Plan[] = [];
    for (let i = 0; i < n; i++) {
      const group = Math.floor(i / GROUP);
      const exe = `${dir}/prog-${group}`;
      if (i % GROUP === 0) copy(sleep, exe);
      const log = `${dir}/app-${i}.log`;
      Deno.writeTextFileSync(log, "x\n");
      deleted.push(log);
      plans.push({ exe, args: ["3600", String(group)], preload: [], hold: log });
    }
    batches.push({ plans });
  } else {
    // distinct, containers, packages: groups of 5 running their own replaced program.
    const template = scenario === "containers" ? makeTemplate(dir, sleep) : undefined;
    const groups = Math.ceil(n / GROUP);
    for (let group = 0; group < groups; group++) {
      const contained = template !== undefined && group % 3 === 1;
      const base = contained ? `${dir}/ct-${group}` : dir;
      if (contained) cloneTree(template!, base);
      // How the process names its files: inside its root, or on the host.
      const inner = (path: string) => contained ? path.slice(base.length) : path;
      const exe = `${base}/prog-${group}`;
      copy(sleep, exe);
      replaced.push(exe);
      const plans: Plan[] = [];
      for (let i = group * GROUP; i < Math.min(n, (group + 1) * GROUP); i++) {
        const preload: string[] = [];
        if (i % 2 === 0) {
          const lib = `${base}/lib-${i}.so.1`;
          copy(tools.library, lib);
          replaced.push(lib);
          preload.push(inner(lib));
        }
        plans.push({ exe: inner(exe), args: ["3600", String(group)], preload });
      }
      batches.push(contained ? { plans, root: base } : { plans });
    }
    if (scenario === "packages") {
      const stash = `${dir}/gconv-stash`;
      Deno.mkdirSync(stash);
      for (const name of GCONV_MODULES) Deno.copyFileSync(`${GCONV}/${name}`, `${stash}/${name}`);
      const preload = GCONV_MODULES.map((name) => `${GCONV}/${name}`);
      packageFiles.push(...preload);
      batches.push({
        plans: Array.from(
          { length: GROUP },
          () => ({ exe: sleep, args: ["3600", "0.5"], preload }),
        ),
        setup: `mount -t tmpfs tmpfs ${GCONV} && cp ${stash}/* ${GCONV}/`,
      });
    }
  }
  const started = await spawn(dir, batches);
  try {
    await waitUntilStarted(started.pids);
    // As dpkg replaces a file: a new copy beside it, renamed over it.
    for (const path of replaced) {
      Deno.copyFileSync(path, `${path}.new`);
      Deno.renameSync(`${path}.new`, path);
    }
    for (const path of deleted) Deno.removeSync(path);
    // The package files exist only in their namespace: replaced through a process's root.
    const inPackageNs = scenario === "packages" ? started.pids.at(-1) : undefined;
    for (const path of inPackageNs === undefined ? [] : packageFiles) {
      const there = `/proc/${inPackageNs}/root${path}`;
      Deno.copyFileSync(there, `${there}.new`);
      Deno.renameSync(`${there}.new`, there);
    }
    const stale = started.pids.filter(usesStale).length;
    const expected = batches.flatMap((batch) => batch.plans).filter((plan) => !plan.ordinary);
    if (stale < expected.length) {
      throw new Error(`${expected.length - stale} of ${expected.length} processes are not stale`);
    }
  } catch (error) {
    await started.stop();
    throw error;
  }
  const stalePaths = [...replaced, ...deleted].map((path) => {
    const root = /\/ct-[0-9]+\//.exec(path);
    return root ? path.slice(root.index + root[0].length - 1) : path;
  });
  return { ...started, packageFiles, stalePaths: [...stalePaths, ...packageFiles] };
}

/** A tree a contained group can run its program in: a shell, ld.so and libc, hard-linked per group. */
function makeTemplate(dir: string, sleep: string): string {
  const template = `${dir}/template`;
  const needs = new Set([which("sh"), sleep]);
  const libs = new TextDecoder().decode(
    new Deno.Command("ldd", { args: [...needs] }).outputSync().stdout,
  ).matchAll(/(\/[^ \t\n]+\.so[^ \t\n]*)/g);
  for (const [path] of libs) needs.add(path);
  for (const path of needs) {
    const real = Deno.realPathSync(path);
    Deno.mkdirSync(`${template}${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    Deno.copyFileSync(real, `${template}${path}`);
    Deno.chmodSync(`${template}${path}`, 0o755);
  }
  // The processes' standard streams are /dev/null inside their root too.
  Deno.mkdirSync(`${template}/dev`);
  const made = new Deno.Command("mknod", {
    args: ["-m", "666", `${template}/dev/null`, "c", "1", "3"],
  })
    .outputSync();
  if (!made.success) throw new Error(`mknod failed: ${new TextDecoder().decode(made.stderr)}`);
  Deno.mkdirSync(`${template}/bin`, { recursive: true });
  Deno.copyFileSync(which("sh"), `${template}/bin/sh`);
  Deno.chmodSync(`${template}/bin/sh`, 0o755);
  return template;
}

function cloneTree(template: string, to: string): void {
  const done = new Deno.Command("cp", { args: ["-al", template, to] }).outputSync();
  if (!done.success) throw new Error(`cp -al failed: ${new TextDecoder().decode(done.stderr)}`);
}

function which(program: string): string {
  const found = new Deno.Command("/bin/sh", { args: ["-c", `command -v ${program}`] }).outputSync();
  const path = new TextDecoder().decode(found.stdout).trim();
  if (!found.success || !path.startsWith("/")) throw new Error(`No ${program} on PATH`);
  return Deno.realPathSync(path);
}

/** Shell-quotes one word. */
function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The shell lines that start a batch's processes in the background, each echoing its PID. */
function startLines(plans: readonly Plan[]): string {
  return plans.map((plan) => {
    const env = plan.preload.length > 0 ? `LD_PRELOAD=${quote(plan.preload.join(":"))} ` : "";
    const hold = plan.hold === undefined ? "" : ` 3<${quote(plan.hold)}`;
    const words = [plan.exe, ...plan.args].map(quote).join(" ");
    return `${env}${words}${hold} </dev/null >/dev/null 2>&1 & echo $!\n`;
  }).join("");
}

/** Starts every batch under one shell, which reaps them when they are killed. */
async function spawn(
  dir: string,
  batches: readonly Batch[],
): Promise<{ pids: number[]; stop(): Promise<void> }> {
  let script = "";
  for (const batch of batches) {
    if (batch.root === undefined && batch.setup === undefined) {
      script += startLines(batch.plans);
      continue;
    }
    const inner = `${batch.setup ? `${batch.setup} || exit 1\n` : ""}${
      startLines(batch.plans)
    }wait\n`;
    const root = batch.root === undefined ? "" : ` --root=${quote(batch.root)}`;
    script += `unshare -m --propagation private${root} /bin/sh -c ${quote(inner)} &\n`;
  }
  script += "echo ready\nwait\n";
  Deno.writeTextFileSync(`${dir}/spawn.sh`, script);
  const parent = new Deno.Command("/bin/sh", {
    args: [`${dir}/spawn.sh`],
    stdout: "piped",
    stdin: "null",
  }).spawn();
  const expected = batches.reduce((sum, batch) => sum + batch.plans.length, 0);
  const reader = parent.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const pids: number[] = [];
  let pending = "";
  let ready = false;
  const stop = async () => {
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await reader.cancel().catch(() => {});
    await parent.status;
  };
  // Namespaced batches echo their PIDs after "ready": read until every process is known.
  while (!ready || pids.length < expected) {
    const { value, done } = await reader.read();
    if (done) {
      await stop();
      throw new Error(`The spawner ended early (${pids.length} of ${expected} started)`);
    }
    pending += value;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (line === "ready") ready = true;
      else if (/^[0-9]+$/.test(line)) pids.push(Number(line));
    }
  }
  return { pids, stop };
}

/** Waits until each process has exec'd its program and mapped what it preloads. */
async function waitUntilStarted(pids: readonly number[]): Promise<void> {
  let waiting = [...pids];
  for (let tries = 0; waiting.length > 0 && tries < 3000; tries++) {
    if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    waiting = waiting.filter((pid) => !hasExeced(pid));
  }
  if (waiting.length > 0) {
    const pid = waiting[0]!;
    let why = "";
    try {
      why = `${Deno.readLinkSync(`/proc/${pid}/exe`)} ${
        Deno.readTextFileSync(`/proc/${pid}/maps`).split("\n").filter((l) => l.includes(".so"))
          .length
      } .so lines`;
    } catch (error) {
      why = String(error);
    }
    throw new Error(`${waiting.length} processes did not start (${pid}: ${why})`);
  }
}

/** Whether the process runs its program (not the shell that forks it) with its preloads mapped. */
function hasExeced(pid: number): boolean {
  try {
    const exe = Deno.readLinkSync(`/proc/${pid}/exe`);
    if (/\/(sh|dash|bash|unshare)$/.test(exe)) return false;
    const environ = Deno.readTextFileSync(`/proc/${pid}/environ`);
    const preload = /(?:^|\0)LD_PRELOAD=([^\0]*)/.exec(environ)?.[1];
    if (preload === undefined) return true;
    const maps = Deno.readTextFileSync(`/proc/${pid}/maps`);
    return preload.split(":").every((lib) => maps.includes(lib));
  } catch {
    return false;
  }
}

/** Whether the process maps or holds a file marked deleted. */
function usesStale(pid: number): boolean {
  try {
    if (Deno.readTextFileSync(`/proc/${pid}/maps`).includes(" (deleted)")) return true;
    return Deno.readLinkSync(`/proc/${pid}/fd/3`).endsWith(" (deleted)");
  } catch {
    return false;
  }
}

/** One holder process (`bench/holder.c`) with n distinct deleted files. */
/** The unprivileged user `hoard` runs as. */
const NOBODY = 65534;

/** How many processes `hoard` starts. */
export const HOARDERS = 6;

/**
 * `HOARDERS` holders of one unprivileged user (nobody), each mapping `n`
 * deleted files with long names that are not UTF-8: the attacker the budget of
 * names is for (root's own processes are not charged).
 */
async function startHoarders(n: number, tools: Tools): Promise<Running> {
  const started: Running[] = [];
  try {
    // The holders, as nobody, need to reach their directories under the work directory.
    Deno.chmodSync(tools.work, 0o755);
    for (let i = 0; i < HOARDERS; i++) {
      started.push(await startHolder("hoard", n, tools, 200, NOBODY));
    }
  } catch (error) {
    for (const running of started) await running.stop();
    throw error;
  }
  return {
    pids: started.flatMap((running) => running.pids),
    packageFiles: [],
    stalePaths: [],
    stop: async () => {
      for (const running of started) await running.stop();
    },
  };
}

async function startHolder(
  scenario: Scenario,
  n: number,
  tools: Tools,
  nameLength?: number,
  uid?: number,
): Promise<Running> {
  const dir = Deno.makeTempDirSync({ dir: tools.work, prefix: `${scenario}_` });
  if (uid !== undefined) Deno.chownSync(dir, uid, uid);
  const asUser = uid === undefined
    ? []
    : [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", tools.holder];
  const child = new Deno.Command(uid === undefined ? tools.holder : "setpriv", {
    args: [
      ...asUser,
      scenario === "many-fds" ? "fds" : "maps",
      dir,
      String(n),
      ...(nameLength === undefined ? [] : [String(nameLength)]),
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stdin.close().catch(() => {});
  };
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) {
      await stop();
      throw new Error(`The holder ended early (${scenario}, ${n} files)`);
    }
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const stalePaths = nameLength === undefined
    ? Array.from({ length: n }, (_, i) => `${dir}/file-${i}.dat`)
    : [];
  return { pids: [child.pid], packageFiles: [], stalePaths, stop };
}
