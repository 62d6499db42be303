/**
 * Spawns real processes that really map deleted libraries and executables and
 * really hold deleted files, for tests against the live kernel.
 *
 * Names may hold any bytes (they are built by the shell from octal escapes,
 * since Deno's paths and arguments are strings).
 */

import { encodeName } from "../lib/proc/names.ts";
import { readLineOf, waitFor } from "./_helpers.ts";

/** What a stale process is made of. Names are file names inside its own temp dir. */
export interface StaleSpec {
  /** The program to copy and run: a shell reading stdin, or `sleep 1000`. */
  program: "sh" | "sleep";
  /** Name of the program's copy; it is deleted unless `keepProgram`. */
  exe: string;
  /** Leave the program's copy on disk. */
  keepProgram?: boolean;
  /** Copies of a real shared library, LD_PRELOADed, then deleted (no spaces or colons). */
  libs?: readonly string[];
  /** Files held open, then deleted. */
  files?: readonly string[];
  /** Files held open and left on disk (`exe` may be among them). */
  keptFiles?: readonly string[];
  /** Extra arguments (only with the shell). */
  args?: readonly string[];
  /**
   * Put a new file at each deleted name, as an update does: the files are
   * then `replaced`, not `deleted` (which the restart plan sets apart when
   * they are temporary, as this directory's are).
   */
  replace?: boolean;
}

/** A running stale process. */
export interface StaleProcess {
  readonly pid: number;
  /** Where deleted names lived: `${dir}/del/NAME`; kept ones: `${dir}/keep/NAME`. */
  readonly dir: string;
  /** The exact argv the kernel shows. */
  readonly argv: string[];
  /** Kills the process by PID and removes its directory. */
  stop(): Promise<void>;
}

const LIBRARY_CANDIDATES = [
  "/lib/x86_64-linux-gnu/libutil.so.1",
  "/usr/lib/x86_64-linux-gnu/libutil.so.1",
  "/lib/aarch64-linux-gnu/libutil.so.1",
  "/usr/lib/aarch64-linux-gnu/libutil.so.1",
  "/usr/lib64/libutil.so.1",
  "/lib64/libutil.so.1",
  "/usr/lib/libutil.so.1",
];

/** A real, harmless shared library to copy (glibc's libutil stub). */
export function realLibrary(): string {
  for (const path of LIBRARY_CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* try the next */ }
  }
  throw new Error(`No libutil.so.1 found in ${LIBRARY_CANDIDATES.join(", ")}`);
}

/** Encodes a name's exact bytes as a printf format (every byte octal). */
function printfFormat(name: string): string {
  return [...encodeName(name)].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
}

const SETUP = `
set -eu
dir=$1 lib=$2 program=$3 exe=$4 keep_program=$5 nlibs=$6 nfiles=$7 nkept=$8 nargs=$9
shift 9
dec() { v=$(printf "$1x"); printf '%s' "\${v%x}"; }
mkdir -p "$dir/del" "$dir/keep"
where=del; [ "$keep_program" = 1 ] && where=keep
exe_path="$dir/$where/$(dec "$exe")"
cp "$(command -v "$program")" "$exe_path"
preload=
i=0; while [ $i -lt "$nlibs" ]; do
  p="$dir/del/$(dec "$1")"; shift; cp "$lib" "$p"; preload="$preload:$p"; i=$((i+1))
done
fd=3
i=0; while [ $i -lt "$nfiles" ]; do
  p="$dir/del/$(dec "$1")"; shift; echo data > "$p"; eval "exec $fd<\\"\\$p\\""; fd=$((fd+1)); i=$((i+1))
done
i=0; while [ $i -lt "$nkept" ]; do
  p="$dir/keep/$(dec "$1")"; shift; [ -e "$p" ] || echo data > "$p"
  eval "exec $fd<\\"\\$p\\""; fd=$((fd+1)); i=$((i+1))
done
i=0; while [ $i -lt "$nargs" ]; do set -- "$@" "$(dec "$1")"; shift; i=$((i+1)); done
export LD_PRELOAD="\${preload#:}"
if [ "$program" = sleep ]; then exec "$exe_path" 1000; fi
exec "$exe_path" -c 'echo ready; read x' "$@"
`;

/** Starts a stale process and waits until everything it maps is mapped and then deleted. */
export async function spawnStale(spec: StaleSpec): Promise<StaleProcess> {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_live_" });
  const libs = spec.libs ?? [];
  const files = spec.files ?? [];
  const kept = spec.keptFiles ?? [];
  const args = spec.args ?? [];
  if (spec.program === "sleep" && args.length > 0) throw new Error("sleep takes no extra args");
  const child = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      SETUP,
      "setup",
      dir,
      realLibrary(),
      spec.program,
      printfFormat(spec.exe),
      spec.keepProgram ? "1" : "0",
      String(libs.length),
      String(files.length),
      String(kept.length),
      String(args.length),
      ...[...libs, ...files, ...kept, ...args].map(printfFormat),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const exePath = `${dir}/${spec.keepProgram ? "keep" : "del"}/${spec.exe}`;
  const argv = spec.program === "sleep"
    ? [exePath, "1000"]
    : [exePath, "-c", "echo ready; read x", ...args];
  try {
    if (spec.program === "sh") await readLine(child.stdout);
    await waitForMappings(child.pid, libs.length + (spec.program === "sleep" ? 1 : 0), dir);
    const removed = await new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'for f in "$1"/del/*; do [ -e "$f" ] && rm -f -- "$f" && { [ -z "$2" ] || : > "$f"; }; done; true',
        "rm",
        dir,
        spec.replace ? "1" : "",
      ],
    }).output();
    if (!removed.success) throw new Error("Could not delete the stale files");
  } catch (error) {
    await kill(child);
    throw error;
  }
  return {
    pid: child.pid,
    dir,
    argv,
    async stop() {
      await kill(child);
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

async function kill(child: Deno.ChildProcess): Promise<void> {
  try {
    Deno.kill(child.pid, "SIGKILL");
  } catch { /* already gone */ }
  await child.status;
  await child.stdout.cancel().catch(() => {});
  await child.stdin.close().catch(() => {});
}

/**
 * The child's "ready" line: an early exit fails, and so does a child that
 * never gets there (a minute: some map 60,000 files first, on a busy machine).
 */
function readLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  return readLineOf(stream, "the process's ready line", 60_000);
}

/** Waits until `count` distinct files of `dir` are mapped (ld.so maps preloads after exec). */
function waitForMappings(pid: number, count: number, dir: string): Promise<void> {
  return waitFor(async () => {
    const maps = await Deno.readFile(`/proc/${pid}/maps`).catch(() => new Uint8Array());
    const text = new TextDecoder().decode(maps);
    const names = new Set(
      text.split("\n").filter((l) => l.includes(dir)).map((l) => l.slice(l.indexOf(dir))),
    );
    return names.size >= count;
  }, `process ${pid} to map ${count} files of ${dir}`);
}

const helperBuilds = new Map<string, Promise<string | null>>();

/**
 * Builds `tests/helpers/NAME.c` once per test process (statically, so it also
 * runs inside a bare chroot); null when no C compiler or static libc is here.
 */
function buildHelper(name: string): Promise<string | null> {
  let build = helperBuilds.get(name);
  if (build === undefined) {
    build = (async () => {
      const dir = Deno.makeTempDirSync({ prefix: `lib_users_${name}_` });
      // Others may run the helper (the exchanger runs as nobody); only root may write here.
      Deno.chmodSync(dir, 0o755);
      globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
      const out = `${dir}/${name}`;
      const source = new URL(`./helpers/${name}.c`, import.meta.url).pathname;
      try {
        const made = await new Deno.Command("cc", {
          args: ["-O2", "-static", "-o", out, source],
          stdout: "null",
          stderr: "null",
        }).output();
        return made.success ? out : null;
      } catch {
        return null;
      }
    })();
    helperBuilds.set(name, build);
  }
  return build;
}

/** `tests/helpers/mapper.c`, built (see `buildHelper`). */
export function buildMapper(): Promise<string | null> {
  return buildHelper("mapper");
}

/** `tests/helpers/exchanger.c`, built (see `buildHelper`). */
export function buildExchanger(): Promise<string | null> {
  return buildHelper("exchanger");
}

/** A running mapper (see `tests/helpers/mapper.c`). */
export interface Mapper {
  readonly pid: number;
  /** Ends it (closes its standard input, then kills it). */
  stop(): Promise<void>;
}

/**
 * Starts `command` (a mapper, or a wrapper that execs one) and waits for its
 * "ready". Files are mapped and held open once this returns.
 */
export async function spawnMapper(command: readonly string[]): Promise<Mapper> {
  const child = new Deno.Command(command[0]!, {
    args: command.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    await readLine(child.stdout);
  } catch (error) {
    await kill(child);
    throw error;
  }
  return { pid: child.pid, stop: () => kill(child) };
}

/** Starts a mapper (see {@linkcode spawnMapper}), runs `body` with it, and stops it whatever happens. */
export async function withMapper(
  command: readonly string[],
  body: (mapper: Mapper) => Promise<void>,
): Promise<void> {
  const mapper = await spawnMapper(command);
  try {
    await body(mapper);
  } finally {
    await mapper.stop();
  }
}

/** Runs a shell script with `args` as $1…; throws with its stderr when it fails. */
export async function sh(script: string, ...args: string[]): Promise<void> {
  const done = await new Deno.Command("/bin/sh", {
    args: ["-c", `set -eu\n${script}`, "sh", ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!done.success) throw new Error(`Shell step failed: ${new TextDecoder().decode(done.stderr)}`);
}

/**
 * A private mount namespace for a test's mounts (loop devices, overlays): held
 * by a shell that ends when its standard input closes, at `stop()` or when
 * the test runner dies. The mounts end with the namespace's last process, so
 * a killed run leaves none behind on the host.
 */
export interface PrivateMounts {
  /** The command prefix that runs a program inside (`nsenter … --`); it execs, keeping the PID. */
  readonly enter: readonly string[];
  /** Runs a shell script inside, as {@linkcode sh}. */
  sh(script: string, ...args: string[]): Promise<void>;
  /** Ends the holder (processes started inside must have ended first). */
  stop(): Promise<void>;
}

/** Starts a {@linkcode PrivateMounts}. */
export async function privateMounts(): Promise<PrivateMounts> {
  const holder = new Deno.Command("unshare", {
    args: ["-m", "--propagation", "private", "/bin/sh", "-c", "echo ready; read x"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    await readLine(holder.stdout);
  } catch (error) {
    await kill(holder);
    throw error;
  }
  const enter = ["nsenter", "-t", String(holder.pid), "-m", "--"];
  return {
    enter,
    sh: (script, ...args) => inside(enter, script, args),
    stop: () => kill(holder),
  };
}

/** Runs a script with `enter` in front; throws with its stderr when it fails. */
async function inside(enter: readonly string[], script: string, args: string[]): Promise<void> {
  const done = await new Deno.Command(enter[0]!, {
    args: [...enter.slice(1), "/bin/sh", "-c", `set -eu\n${script}`, "sh", ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!done.success) throw new Error(`Shell step failed: ${new TextDecoder().decode(done.stderr)}`);
}

/** The Python that runs `tests/helpers/hangfs.py`: the system's, which has Debian's fusepy. */
export const FUSE_PYTHON = "/usr/bin/python3";

/** Why a FUSE file system of `hangfs.py` cannot be mounted here, or undefined when it can. */
export async function fuseMissing(): Promise<string | undefined> {
  try {
    Deno.statSync("/dev/fuse");
  } catch {
    return "no /dev/fuse";
  }
  try {
    const probe = await new Deno.Command(FUSE_PYTHON, {
      args: ["-c", "import fusepy"],
      stderr: "null",
    }).output();
    return probe.success ? undefined : "no fusepy (Debian python3-fusepy)";
  } catch {
    return `no ${FUSE_PYTHON}`;
  }
}
