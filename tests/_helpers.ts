/** Shared helpers for the tests (not part of the library). */

import { fromFileUrl } from "@std/path/from-file-url";
import { decodeName } from "../lib/proc/names.ts";
import type { ProcessFinding } from "../lib/scan/model.ts";
import { classifyCgroup } from "../lib/proc/cgroup.ts";
import type { Group } from "../lib/scan/group.ts";

/**
 * The variable that replaces /etc/lib_users.conf, empty: every CLI a test
 * starts inherits it, so a server's own settings cannot change the answers
 * the suite expects. Runs with a cleared environment set it themselves.
 */
export const NO_CONFIG: Readonly<Record<string, string>> = Object.freeze({ LIB_USERS_CONFIG: "" });
for (const [name, value] of Object.entries(NO_CONFIG)) Deno.env.set(name, value);

/** The repository root. */
export const ROOT: string = fromFileUrl(new URL("..", import.meta.url));
/** The fixture proc tree described in testdata/README.md. */
export const FIXTURE_PROC = `${ROOT}/testdata/proc`;

/** `-m` of the fixture tree's libs scan, as the tests pin it. */
export const FIXTURE_LIBS_MACHINE = `\
99,1000;/usr/lib/x86_64-linux-gnu/libc.so.6,/usr/lib/x86_64-linux-gnu/libpam.so.0;/usr/sbin/cron -f
1234;/opt/my app/bin/server,/opt/my app/lib/libfoo 1.so;/opt/my app/bin/server --name a b
1235;/opt/my app/lib/libfoo 1.so;/opt/my app/bin/server --name a b
2000;/v/t/p/usr/sbin/openvpn;/usr/sbin/openvpn --config x.conf
3000;/lib/SYSV00000000,/usr/lib/i915;/usr/bin/Xorg :0
5000;/usr/lib/python3.11/lib-dynload/_ssl.cpython-311.so;/usr/bin/python3 /srv/app.py
`;

/** `-m` of the fixture tree's fds scan. */
export const FIXTURE_FDS_MACHINE =
  "99,1000;/var/log/cron.log.1;/usr/sbin/cron -f\n1234;/tmp/data;/opt/my app/bin/server --name a b\n";

/** What a finished CLI run printed. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run <permissions> main.ts <args>` and collects its output; from
 * the repository (a run from source) unless `cwd` says otherwise; through
 * `via` (a command that execs it, e.g. `nsenter … --`) when given.
 */
export async function runCli(
  permissions: readonly string[],
  args: readonly string[],
  env: Record<string, string> = {},
  cwd: string = ROOT,
  via: readonly string[] = [],
): Promise<CliRun> {
  // The CLI may read the variable only with leave to: given here where the run has no other.
  const allEnv = permissions.some((p) => /^(-A|--allow-all|--allow-env)$/.test(p));
  const command = [
    ...via,
    Deno.execPath(),
    "run",
    "--quiet",
    ...permissions,
    ...(allEnv ? [] : ["--allow-env=LIB_USERS_CONFIG"]),
    `${ROOT}/main.ts`,
    ...args,
  ];
  const output = await new Deno.Command(command[0]!, {
    args: command.slice(1),
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return decodeRun(output);
}

/** A finished command's exit code and output as text. */
export function decodeRun(output: Deno.CommandOutput): CliRun {
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Runs `scanLibs(options)` in a fresh process with `flags`: how much its peak
 * RSS (VmHWM) grew during the scan, and what it found.
 */
export async function measureScan(
  dir: string,
  flags: readonly string[],
  options: { proc?: string; budget?: { filesPerProcess?: number; charsPerUser?: number } },
): Promise<{ grown: number; result: ProcessFinding[]; unreadable: number }> {
  const script = `${dir}/measure.ts`;
  Deno.writeTextFileSync(
    script,
    `import { scanLibs } from ${JSON.stringify(`${ROOT}/mod.ts`)};
const peak = () => Number(/VmHWM:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]) * 1024;
const before = peak();
const result = await scanLibs(JSON.parse(Deno.args[0]));
const grown = peak() - before;
console.log(JSON.stringify({ grown, result: result.processes, unreadable: result.unreadable }));
`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, script, JSON.stringify(options)],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`The measuring scan failed (exit ${output.code})`);
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

/** Writes a fake `systemctl` that knows PIDs 99 and 1000 and nothing else. */
export function fakeSystemctl(dir: string): string {
  const path = `${dir}/systemctl`;
  Deno.writeTextFileSync(
    path,
    `#!/bin/sh
case "$3" in
  99) printf '● cron.service - Regular background program processing daemon\\n     Loaded: loaded\\n' ;;
  1000) printf 'ssh.service - OpenBSD Secure Shell server\\n' ;;
  *) printf 'No unit for PID %s is loaded.\\n' "$3" >&2; exit 4 ;;
esac
`,
  );
  Deno.chmodSync(path, 0o755);
  return path;
}

/** The tools the restart plan names. */
const PLAN_TOOLS = ["systemctl", "docker", "podman", "nerdctl", "crictl", "machinectl", "lxc"];

/**
 * Runs every command line of a restart plan with bash, with stand-ins for the
 * tools it names first on PATH, and returns the argument vector each stand-in
 * received (tool name first), exactly, bytes decoded losslessly.
 */
export async function runPlanLines(plan: string): Promise<string[][]> {
  const dir = Deno.makeTempDirSync();
  try {
    const calls = `${dir}/calls`;
    Deno.mkdirSync(calls);
    Deno.mkdirSync(`${dir}/bin`);
    for (const tool of PLAN_TOOLS) {
      Deno.writeTextFileSync(
        `${dir}/bin/${tool}`,
        `#!/bin/sh\nprintf '%s\\0' "$(basename "$0")" "$@" > "$(mktemp "${calls}/call.XXXXXX")"\n`,
      );
      Deno.chmodSync(`${dir}/bin/${tool}`, 0o755);
    }
    for (const line of plan.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
      const run = await new Deno.Command("bash", {
        args: ["-c", line],
        env: { PATH: `${dir}/bin:/usr/bin:/bin` },
      }).output();
      if (!run.success) {
        throw new Error(`${line}: ${new TextDecoder().decode(run.stderr)}`);
      }
    }
    return [...Deno.readDirSync(calls)].map((entry) => {
      const argv = decodeName(Deno.readFileSync(`${calls}/${entry.name}`)).split("\0");
      argv.pop(); // the last NUL ends the last argument
      return argv;
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** A group of one process `p<PID>` using one deleted library, in the unit its cgroup path names. */
export function unitGroup(pid: number, cgroup: string | null): Group {
  return {
    pids: [pid],
    argv: [`p${pid}`],
    cmdline: `p${pid}`,
    files: [{ path: "/lib/x.so", kind: "library" }],
    ...(cgroup === null ? {} : { unit: classifyCgroup(cgroup) }),
  };
}

/**
 * Serves the repository's `.ts` and `.json` files over HTTP on a free port of
 * 127.0.0.1, as a web server or raw.githubusercontent.com would.
 */
export function serveRepository(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    if (path.includes("..") || !/\.(ts|json)$/.test(path)) {
      return new Response("not found", { status: 404 });
    }
    try {
      const body = await Deno.readFile(`${ROOT}${path}`);
      const type = path.endsWith(".ts") ? "application/typescript" : "application/json";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

/** Where the system directories hold `tool`, or undefined: a test that needs it is then ignored. */
export function findTool(tool: string): string | undefined {
  for (const dir of ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"]) {
    try {
      if (Deno.statSync(`${dir}/${tool}`).isFile) return `${dir}/${tool}`;
    } catch { /* not here */ }
  }
  return undefined;
}

/**
 * Waits until `ready` holds, polling every 10 ms; throws (failing the test)
 * once `deadlineMs` passed first. The deadline is generous: the suite must
 * pass on a loaded machine, and a deadline only ends a wait that went wrong.
 */
export async function waitFor(
  ready: () => boolean | Promise<boolean>,
  what: string,
  deadlineMs = 15_000,
): Promise<void> {
  const deadline = performance.now() + deadlineMs;
  while (!(await ready())) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${deadlineMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The next line a child printed on `stream`; throws when the stream ends
 * first (the child exited early) or `deadlineMs` passes, so an early exit
 * fails the test instead of hanging it.
 */
export function readLineOf(
  stream: ReadableStream<Uint8Array>,
  what: string,
  deadlineMs = 15_000,
): Promise<string> {
  return readUntil(stream, "\n", what, deadlineMs);
}

/** What a child printed on `stream` up to and with `marker`; throws as {@linkcode readLineOf}. */
export async function readUntil(
  stream: ReadableStream<Uint8Array>,
  marker: string,
  what: string,
  deadlineMs = 15_000,
): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), deadlineMs);
  });
  try {
    while (!text.includes(marker)) {
      const read = await Promise.race([reader.read(), late]);
      if (read === "late") throw new Error(`Timed out after ${deadlineMs} ms waiting for ${what}`);
      if (read.done) {
        throw new Error(`${what} ended before it printed ${JSON.stringify(marker)}: "${text}"`);
      }
      text += decoder.decode(read.value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  return text;
}

/**
 * Reads a child's output line by line, each line within a deadline: what
 * {@linkcode readLineOf} does once, for a child that reports several steps.
 */
export class LineReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  /** Reads from `stream` (a child's stdout) from now on. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line, without its newline; throws when the child ends first or 30 s pass. */
  async next(what: string, deadlineMs = 30_000): Promise<string> {
    const deadline = Date.now() + deadlineMs;
    while (!this.#buffer.includes("\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no "${what}" within ${deadlineMs / 1000} s`)),
          deadline - Date.now(),
        );
      });
      const { value, done } = await Promise.race([this.#reader.read(), timeout]).finally(() =>
        clearTimeout(timer)
      );
      if (done) throw new Error(`the child ended before "${what}"`);
      this.#buffer += value;
    }
    const at = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, at);
    this.#buffer = this.#buffer.slice(at + 1);
    return line;
  }

  /** Stops reading. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/**
 * A short random part for names one run makes (temp paths, units, argv), so
 * a test that scans the live host can tell what it started from what a
 * second suite, or anything else on the host, started.
 */
export function runTag(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 10);
}

/** The environment variable that fixes the fuzzers' seed, to replay a failure. */
export const FUZZ_SEED_VARIABLE = "LIB_USERS_FUZZ_SEED";

/** The fuzzers' seed of this run: from `LIB_USERS_FUZZ_SEED`, else random. */
export const FUZZ_SEED: number = (() => {
  const given = Deno.env.get(FUZZ_SEED_VARIABLE);
  if (given === undefined || given === "") {
    return crypto.getRandomValues(new Uint32Array(1))[0]!;
  }
  const seed = Number(given);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new TypeError(
      `${FUZZ_SEED_VARIABLE} must be an integer from 0 to 4294967295: "${given}"`,
    );
  }
  return seed;
})();

/** A seeded source of random numbers (mulberry32): the same seed, the same sequence. */
export interface Random {
  /** A number in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  below(n: number): number;
  /** `length` random bytes. */
  bytes(length: number): Uint8Array;
}

/** A {@linkcode Random} from a 32-bit seed. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n: number) => Math.floor(next() * n);
  return {
    next,
    below,
    bytes: (length) => Uint8Array.from({ length }, () => below(256)),
  };
}

/**
 * Runs a fuzzer with a {@linkcode Random} seeded from the run's seed and the
 * fuzzer's name; a failure says the seed that replays it
 * (`LIB_USERS_FUZZ_SEED=N deno task test`).
 */
export async function fuzz(name: string, body: (random: Random) => void | Promise<void>) {
  let own = FUZZ_SEED;
  for (const byte of new TextEncoder().encode(name)) own = Math.imul(own ^ byte, 0x01000193) >>> 0;
  try {
    await body(seededRandom(own));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `${message}\n(fuzzer "${name}": replay with ${FUZZ_SEED_VARIABLE}=${FUZZ_SEED})`,
      { cause: error },
    );
  }
}

/**
 * Runs `body` on a copy of a fixture root of `testdata/` (or on an empty
 * directory, for null) made in a temporary directory of this run
 * (`$TMPDIR/lib_users_root_*`), and removes it after.
 */
export async function withFixtureCopy<T>(
  name: string | null,
  body: (root: string) => T | Promise<T>,
): Promise<T> {
  const root = Deno.makeTempDirSync({ prefix: "lib_users_root_" });
  try {
    if (name !== null) {
      const copy = new Deno.Command("cp", { args: ["-a", `${ROOT}/testdata/${name}/.`, root] })
        .outputSync();
      if (!copy.success) throw new Error(new TextDecoder().decode(copy.stderr));
    }
    return await body(root);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}
