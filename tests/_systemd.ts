/**
 * Boots a real systemd as PID 1 of namespaces of its own, for the tests that
 * check what a restart does against the real thing (issue #28, 10).
 *
 * The recipe: a cgroup of this boot's own under the host's cgroup2 mount
 * (`lib_users_systemd_TAG`); a shell moves itself into it and execs `unshare
 * --fork --pid --mount --uts --ipc --net --cgroup`, so the cgroup is the new
 * cgroup namespace's root. Its child, PID 1 inside, builds a throw-away root
 * in a tmpfs mounted on an empty temporary directory (an overlay of `/` with
 * an upper layer in that tmpfs; fresh proc with `/proc/sys` read-only,
 * read-only sysfs, cgroup2 at `/sys/fs/cgroup`, a tmpfs `/dev` with the usual
 * nodes bound, tmpfs `/run` and `/tmp`; in the overlay's `/etc` only: no
 * enabled units, an empty fstab, a volatile journal and a target of its own),
 * `pivot_root`s into it and execs systemd there, with the capabilities that
 * reach past the namespaces (modules, raw I/O, the clock, the kernel log)
 * dropped from its bounding set.
 *
 * The cgroup may be named as LXC names a container's (see
 * {@linkcode BootOptions}), for tests of how the host sees a container's units.
 *
 * On the host it writes nothing but that empty directory and the cgroup tree,
 * and {@linkcode BootedSystemd.close} removes both. Every mount exists only in
 * the private mount namespace, which ends with its last process. The runner's
 * death ends the booted system too (`setpriv --pdeathsig` on the shell,
 * `unshare --kill-child` on PID 1, and PID 1's death ends every process of its
 * PID namespace), so a runner killed mid-run leaves only the empty directory
 * and the empty cgroup tree.
 */

import { type CliRun, decodeRun, findTool, ROOT, runTag, waitFor } from "./_helpers.ts";

/** Where distributions install systemd. */
const SYSTEMD_CANDIDATES = ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"];
/** The util-linux tools the recipe runs. */
const TOOLS = ["unshare", "nsenter", "setpriv", "mount", "umount", "pivot_root"] as const;
/** What `unshare` makes: PID 1 and its mounts, cgroups, host name, IPC and network of their own. */
const UNSHARE_NAMESPACES = [
  "--fork",
  "--pid",
  "--mount",
  "--propagation",
  "private",
  "--uts",
  "--ipc",
  "--net",
  "--cgroup",
];
/** The booted system's default target: `sysinit.target` and nothing of the host's. */
export const HARNESS_TARGET = "lib-users-test.target";
/** How long a boot, a teardown or one command inside may take before the test fails. */
const DEADLINE_MS = 30_000;
/** The environment of every command run inside. */
const INSIDE_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C", SYSTEMD_COLORS: "0" };
/** How much of the boot's own output is kept for error messages. */
const LOG_LIMIT = 16_384;

/** A systemd booted by {@linkcode bootSystemd}; end it with `close()` in a `finally`. */
export interface BootedSystemd {
  /** The host PID of the booted system's PID 1 (systemd). */
  readonly pid: number;
  /** This boot's random part (see `runTag()`): in its cgroup's and directory's names; use it in unit names. */
  readonly tag: string;
  /** The boot's cgroup as the host's `/proc/PID/cgroup` names it (`/lib_users_systemd_TAG`; see {@linkcode BootOptions}). */
  readonly cgroup: string;
  /** The boot's cgroup in the host's cgroup2 file system. */
  readonly cgroupDir: string;
  /** The empty host directory the boot's tmpfs is mounted on, in the boot's mount namespace only. */
  readonly dir: string;
  /** The command prefix that runs a program inside (`nsenter --target PID --all --`), e.g. for `runCli`'s `via`. */
  readonly enter: readonly string[];
  /** What `systemctl is-system-running --wait` said at the end of the boot. */
  readonly state: string;
  /** Milliseconds from the spawn to that answer. */
  readonly bootMs: number;
  /** The version of the systemd that runs (`252`). */
  readonly version: number;
  /** Runs `argv` inside; fails the test after `deadlineMs` (30 s). Never through a shell. */
  run(argv: readonly string[], options?: { deadlineMs?: number }): Promise<CliRun>;
  /** Runs `systemctl ARGS…` inside (as {@linkcode BootedSystemd.run}). */
  systemctl(...args: string[]): Promise<CliRun>;
  /** One property of a unit (`systemctl show --property=NAME --value -- UNIT`). */
  property(unit: string, name: string): Promise<string>;
  /** Writes `/etc/systemd/system/NAME` inside and runs `daemon-reload`. */
  installUnit(name: string, text: string): Promise<void>;
  /** The host PIDs of every process in the unit's cgroup and below it, sorted; none when it has no cgroup. */
  unitPids(unit: string): Promise<number[]>;
  /** The host PID of the unit's main process, or undefined when it has none. */
  mainPid(unit: string): Promise<number | undefined>;
  /** The host PID of a process of the booted system, from its PID inside; undefined when none has it. */
  hostPid(insidePid: number): number | undefined;
  /** Kills PID 1 and everything in the cgroup, waits for them, removes the cgroup tree and the directory; idempotent. */
  close(): Promise<void>;
}

/**
 * The boot script, run as PID 1 of the new namespaces with $1 the empty
 * directory to mount the tmpfs on, $2 the target's name, $3 systemd, then the
 * host directories to share. Only relative paths reach `mount -o`, so no
 * directory name can add an option.
 */
const BOOT_SCRIPT = `
set -eu
dir=$1 target=$2 systemd=$3
mount -t tmpfs -o mode=0700,size=128m lib_users_systemd "$dir"
cd "$dir"
mkdir upper work new
mount -t overlay -o lowerdir=/,upperdir=upper,workdir=work lib_users_systemd new
cd new
mount -t proc -o nosuid,nodev,noexec proc proc
# /proc/sys is the host kernel's: a booted unit must not tune it.
mount --bind proc/sys proc/sys
mount -o remount,bind,ro proc/sys
if [ -e proc/sysrq-trigger ]; then
  mount --bind proc/sysrq-trigger proc/sysrq-trigger
  mount -o remount,bind,ro proc/sysrq-trigger
fi
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs sys
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 sys/fs/cgroup
mount -t tmpfs -o mode=0755,nosuid,size=4m dev dev
for node in null zero full random urandom tty; do
  : > "dev/$node"
  mount --bind "/dev/$node" "dev/$node"
done
# Not a terminal: systemd falls back to /dev/null for its own output.
: > dev/console
mount --bind /dev/null dev/console
mkdir dev/pts dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts dev/pts
ln -s pts/ptmx dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev,size=16m shm dev/shm
ln -s /proc/self/fd dev/fd
ln -s /proc/self/fd/0 dev/stdin
ln -s /proc/self/fd/1 dev/stdout
ln -s /proc/self/fd/2 dev/stderr
mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m run run
mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m tmp tmp
shift 3
for share in "$@"; do
  mkdir -p "./$share"
  mount --bind "$share" "./$share"
done
# In the overlay's /etc only: none of the host's enabled units, mounts or modules.
rm -rf etc/systemd/system/*.wants etc/systemd/system/*.requires
: > etc/fstab
rm -f etc/crypttab
ln -sf /dev/null etc/systemd/system/systemd-modules-load.service
# No generator is needed (nothing in fstab, no getty, no SysV scripts): masked, they cost nothing
# at the boot and at each daemon-reload.
mkdir -p etc/systemd/system-generators
for generator in usr/lib/systemd/system-generators/* lib/systemd/system-generators/*; do
  if [ -e "$generator" ]; then ln -sf /dev/null "etc/systemd/system-generators/\${generator##*/}"; fi
done
mkdir -p etc/systemd/journald.conf.d
printf '[Journal]\\nStorage=volatile\\n' > etc/systemd/journald.conf.d/lib-users-test.conf
printf '[Unit]\\nDescription=lib_users test harness\\nRequires=sysinit.target\\nAfter=sysinit.target\\n' \\
  > "etc/systemd/system/$target"
mkdir .host
pivot_root . .host
cd /
umount -l /.host
rmdir /.host
exec setpriv --bounding-set -sys_module,-sys_rawio,-sys_time,-syslog,-mac_admin,-mac_override,-wake_alarm,-block_suspend \\
  env -i container=lxc "$systemd" --system "--unit=$target"
`;

/** Moves the shell into the cgroup $1, then execs the rest of its arguments. */
const ENTER_CGROUP_SCRIPT = 'set -eu\necho $$ > "$1/cgroup.procs"\nshift\nexec "$@"';

/** The installed systemd, or undefined. */
function systemdBinary(): string | undefined {
  for (const path of SYSTEMD_CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* try the next */ }
  }
  return undefined;
}

/** Undoes the octal escapes of a mountinfo field (`\\040` is a space). */
function unescapeMountField(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/** Where the host mounts cgroup2, and the cgroup that mount shows at its top. */
function cgroup2Mount(): { dir: string; root: string } | undefined {
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const fields = line.split(" ");
    const separator = fields.indexOf("-");
    if (separator < 0 || fields[separator + 1] !== "cgroup2") continue;
    return { dir: unescapeMountField(fields[4]!), root: unescapeMountField(fields[3]!) };
  }
  return undefined;
}

/** The version of the installed systemd (`systemd --version`'s first number), or undefined. */
export async function installedSystemdVersion(): Promise<number | undefined> {
  const binary = systemdBinary();
  if (binary === undefined) return undefined;
  try {
    const output = await new Deno.Command(binary, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const version = /^systemd (\d+)/.exec(new TextDecoder().decode(output.stdout))?.[1];
    return version === undefined ? undefined : Number(version);
  } catch {
    return undefined;
  }
}

/**
 * Why {@linkcode bootSystemd} cannot work here (for a test's `ignore`), or
 * undefined when it can: not root, no systemd, a util-linux tool missing, no
 * cgroup2 mount, or one where root may not make a cgroup (probed with an
 * empty cgroup of a random name, removed at once).
 */
export async function cannotBootSystemd(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return "needs Linux";
  if (Deno.uid() !== 0) return "needs root (cgroups, namespaces, mounts)";
  if (systemdBinary() === undefined) return `no systemd (${SYSTEMD_CANDIDATES.join(" or ")})`;
  if ((await installedSystemdVersion()) === undefined) return "systemd --version says no version";
  for (const tool of TOOLS) {
    if (findTool(tool) === undefined) return `no ${tool} (util-linux)`;
  }
  const mount = cgroup2Mount();
  if (mount === undefined) return "no cgroup2 file system mounted";
  const probe = `${mount.dir}/lib_users_systemd_probe_${runTag()}`;
  try {
    Deno.mkdirSync(probe);
    Deno.removeSync(probe);
  } catch (error) {
    return `root cannot make a cgroup in "${mount.dir}": ${(error as Error).message}`;
  }
  // A container may forbid new namespaces even to root.
  const namespaces = await new Deno.Command(findTool("unshare")!, {
    args: [...UNSHARE_NAMESPACES, "true"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!namespaces.success) {
    const why = new TextDecoder().decode(namespaces.stderr).trim();
    return `unshare cannot make the namespaces: ${why}`;
  }
  return undefined;
}

/** A unit's file name: no slash, no dot-only name, nothing a path could make more of. */
function checkUnitName(name: string): void {
  if (!/^[A-Za-z0-9:_.\\@-]+\.[a-z]+$/.test(name) || name.startsWith(".")) {
    throw new TypeError(`Not a unit file name: "${name}"`);
  }
}

/** Reads a stream to its end in the background, keeping its last `LOG_LIMIT` characters. */
function collect(stream: ReadableStream<Uint8Array>): { text(): string; done: Promise<void> } {
  let text = "";
  const done = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text = (text + decoder.decode(chunk, { stream: true })).slice(-LOG_LIMIT);
    }
  })().catch(() => {});
  return { text: () => text, done };
}

/** The PIDs of `/proc/PID/status`'s `NSpid:` line (outermost first), or undefined when it is gone. */
function nsPids(hostPid: number): number[] | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${hostPid}/status`);
    return /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/).map(Number);
  } catch {
    return undefined;
  }
}

/** The PIDs of a process's children (of its main thread), none when it is gone. */
function childrenOf(pid: number): number[] {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`);
    return text.split(" ").filter((p) => p !== "").map(Number);
  } catch {
    return [];
  }
}

/** Every PID in the cgroup `dir` and the cgroups below it. */
function pidsBelow(dir: string): number[] {
  const pids: number[] = [];
  const visit = (path: string) => {
    let procs: string;
    try {
      procs = Deno.readTextFileSync(`${path}/cgroup.procs`);
    } catch {
      return; // removed meanwhile
    }
    pids.push(...procs.split("\n").filter((l) => l !== "").map(Number));
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(path)];
    } catch {
      return; // removed meanwhile
    }
    for (const entry of entries) {
      if (entry.isDirectory) visit(`${path}/${entry.name}`);
    }
  };
  visit(dir);
  return pids;
}

/** Removes a cgroup tree, deepest first (rmdir only: a cgroup's files cannot be unlinked). */
function removeCgroupTree(dir: string): void {
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.isDirectory) removeCgroupTree(`${dir}/${entry.name}`);
  }
  Deno.removeSync(dir);
}

/** Whether a path exists (a link counts, whatever it leads to). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** How {@linkcode bootSystemd} names the boot's cgroup. */
export interface BootOptions {
  /**
   * `plain` (the default): `/lib_users_systemd_TAG`, which no runtime makes.
   * `lxc`: `/lxc.payload.lib_users_systemd_TAG`, where LXC and Incus put a
   * container named `lib_users_systemd_TAG`, so that the host sees the boot's
   * units as a container's (`…/lxc.payload.NAME/system.slice/UNIT`).
   */
  cgroupLayout?: "plain" | "lxc";
  /**
   * Host directories seen inside at the same paths (bound after the boot's own
   * tmpfs `/tmp` and `/run`, which would hide them): the repository and a
   * test's files, so that a test can run the CLI inside.
   */
  share?: readonly string[];
}

/**
 * Boots systemd in namespaces of its own (see the module's doc) and waits
 * until `systemctl is-system-running --wait` answers, at most 30 s. Throws
 * with the boot's output when it does not get there or ends in neither
 * `running` nor `degraded`; what it made is removed first.
 */
export async function bootSystemd(options: BootOptions = {}): Promise<BootedSystemd> {
  const reason = await cannotBootSystemd();
  if (reason !== undefined) throw new Error(`Cannot boot systemd: ${reason}`);
  const systemd = systemdBinary()!;
  const tool = (name: (typeof TOOLS)[number]) => findTool(name)!;
  const mount = cgroup2Mount()!;
  const tag = runTag();
  const base = `lib_users_systemd_${tag}`;
  const name = options.cgroupLayout === "lxc" ? `lxc.payload.${base}` : base;
  const cgroupDir = `${mount.dir}/${name}`;
  const cgroup = `${mount.root === "/" ? "" : mount.root}/${name}`;
  const started = performance.now();
  const rootDir = await Deno.makeTempDir({ prefix: `${base}_` });

  let child: Deno.ChildProcess | undefined;
  let logs: ReturnType<typeof collect>[] = [];
  const log = () => logs.map((each) => each.text()).join("");
  let exited = false;
  let pid = 0;
  let closing: Promise<void> | undefined;

  const teardown = async (): Promise<void> => {
    const problems: string[] = [];
    const attempt = async (what: string, step: () => void | Promise<void>) => {
      try {
        await step();
      } catch (error) {
        problems.push(`${what}: ${(error as Error).message}`);
      }
    };
    // PID 1 only while it is still unshare's child: its PID cannot have been reused.
    let killed = false;
    if (pid !== 0 && child !== undefined && !exited) {
      const status = (() => {
        try {
          return Deno.readTextFileSync(`/proc/${pid}/status`);
        } catch {
          return "";
        }
      })();
      if (new RegExp(`^PPid:\\s+${child.pid}$`, "m").test(status)) {
        await attempt("kill PID 1", () => Deno.kill(pid, "SIGKILL"));
        killed = true;
      }
    }
    // unshare reaps PID 1, then ends: killed before that, it would leave PID 1 a zombie
    // for the host's init to reap. What is left after it is killed with the cgroup.
    if (killed) await waitFor(() => exited, "unshare to end", DEADLINE_MS / 3).catch(() => {});
    if (exists(cgroupDir)) {
      await attempt("kill the cgroup", () => {
        if (exists(`${cgroupDir}/cgroup.kill`)) {
          Deno.writeTextFileSync(`${cgroupDir}/cgroup.kill`, "1");
        } else {
          for (const each of pidsBelow(cgroupDir)) {
            try {
              Deno.kill(each, "SIGKILL");
            } catch { /* gone */ }
          }
        }
      });
    }
    if (child !== undefined) {
      const status = child.status;
      await attempt("wait for unshare", () => waitFor(() => exited, "unshare to end", DEADLINE_MS));
      await status;
    }
    if (exists(cgroupDir)) {
      await attempt("wait for the cgroup to empty", () =>
        waitFor(
          () => /^populated 0$/m.test(Deno.readTextFileSync(`${cgroupDir}/cgroup.events`)),
          `cgroup "${cgroupDir}" to empty`,
          DEADLINE_MS,
        ));
      await attempt("remove the cgroup", () =>
        waitFor(
          () => {
            try {
              removeCgroupTree(cgroupDir);
              return true;
            } catch (error) {
              if (error instanceof Deno.errors.Busy) return false;
              throw error;
            }
          },
          `cgroup "${cgroupDir}" to be removed`,
          DEADLINE_MS,
        ));
    }
    await attempt("remove the directory", () => Deno.remove(rootDir));
    await Promise.all(logs.map((each) => each.done));
    if (problems.length > 0) {
      throw new Error(`Cannot tear down the booted systemd ${tag}: ${problems.join("; ")}`);
    }
  };
  const close = (): Promise<void> => closing ??= teardown();

  const run = async (
    argv: readonly string[],
    options: { deadlineMs?: number } = {},
  ): Promise<CliRun> => {
    const deadlineMs = options.deadlineMs ?? DEADLINE_MS;
    const nsenter = new Deno.Command(tool("nsenter"), {
      args: ["--target", String(pid), "--all", "--", ...argv],
      clearEnv: true,
      env: INSIDE_ENV,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      // nsenter forks the program into the PID namespace and waits: kill both, or the
      // program would hold the pipes open after nsenter's death.
      for (const each of [...childrenOf(nsenter.pid), nsenter.pid]) {
        try {
          Deno.kill(each, "SIGKILL");
        } catch { /* gone */ }
      }
    }, deadlineMs);
    try {
      const done = await nsenter.output();
      if (late) {
        throw new Error(`Timed out after ${deadlineMs} ms waiting for ${JSON.stringify(argv)}`);
      }
      return decodeRun(done);
    } finally {
      clearTimeout(timer);
    }
  };
  const systemctl = (...args: string[]) => run(["systemctl", ...args]);
  const property = async (unit: string, property: string): Promise<string> => {
    const shown = await systemctl("show", `--property=${property}`, "--value", "--", unit);
    if (shown.code !== 0) {
      throw new Error(`Cannot read ${property} of "${unit}": ${shown.stderr.trim()}`);
    }
    return shown.stdout.replace(/\n$/, "");
  };
  const hostPid = (insidePid: number): number | undefined =>
    pidsBelow(cgroupDir).find((each) => nsPids(each)?.[1] === insidePid);

  try {
    Deno.mkdirSync(cgroupDir);
    child = new Deno.Command(tool("setpriv"), {
      args: [
        "--pdeathsig",
        "KILL",
        "/bin/sh",
        "-c",
        ENTER_CGROUP_SCRIPT,
        "enter",
        cgroupDir,
        tool("unshare"),
        "--kill-child",
        ...UNSHARE_NAMESPACES,
        "/bin/sh",
        "-c",
        BOOT_SCRIPT,
        "boot",
        rootDir,
        HARNESS_TARGET,
        systemd,
        ...(options.share ?? []),
      ],
      clearEnv: true,
      env: { PATH: INSIDE_ENV.PATH },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const spawned = child;
    spawned.status.then(() => exited = true);
    logs = [collect(spawned.stdout), collect(spawned.stderr)];
    const early = () => {
      if (exited) throw new Error(`The boot ended early: ${log()}`);
    };
    // PID 1 is unshare's only child; unshare is the shell (it execs).
    await waitFor(
      () => {
        early();
        pid = childrenOf(spawned.pid)[0] ?? 0;
        return pid > 0;
      },
      "PID 1 of the booted system",
      DEADLINE_MS,
    );
    if (nsPids(pid)?.[1] !== 1) throw new Error(`Process ${pid} is not PID 1 of its namespace`);
    await waitFor(
      () => {
        early();
        return exists(`/proc/${pid}/root/run/systemd/private`);
      },
      "systemd's private socket",
      DEADLINE_MS,
    );
    const answer = await run(["systemctl", "is-system-running", "--wait"]);
    const state = answer.stdout.trim();
    const bootMs = performance.now() - started;
    if (state !== "running" && state !== "degraded") {
      const failed = await run(["systemctl", "--failed", "--no-legend", "--plain"]);
      throw new Error(
        `The booted systemd is "${state}" (${answer.stderr.trim()}); failed: ${failed.stdout}`,
      );
    }
    const versionText = (await run(["systemctl", "--version"])).stdout;
    const version = Number(/^systemd (\d+)/.exec(versionText)?.[1] ?? NaN);
    return {
      pid,
      tag,
      cgroup,
      cgroupDir,
      dir: rootDir,
      enter: [tool("nsenter"), "--target", String(pid), "--all", "--"],
      state,
      bootMs,
      version,
      run,
      systemctl,
      property,
      async installUnit(unit, text) {
        checkUnitName(unit);
        await Deno.writeTextFile(`/proc/${pid}/root/etc/systemd/system/${unit}`, text);
        const reloaded = await systemctl("daemon-reload");
        if (reloaded.code !== 0) throw new Error(`daemon-reload failed: ${reloaded.stderr}`);
      },
      async unitPids(unit) {
        const path = await property(unit, "ControlGroup");
        if (path === "") return [];
        return pidsBelow(`${cgroupDir}${path}`).sort((a, b) => a - b);
      },
      async mainPid(unit) {
        const inside = Number(await property(unit, "MainPID"));
        return inside > 0 ? hostPid(inside) : undefined;
      },
      hostPid,
      close,
    };
  } catch (error) {
    await close().catch((closeError) => {
      throw new Error(`${(error as Error).message}; then: ${(closeError as Error).message}`, {
        cause: error,
      });
    });
    throw error;
  }
}

/**
 * Boots systemd with the repository, a new temporary directory and Deno
 * shared into it, for a test that runs the CLI inside; runs `fn`, then
 * closes the boot and removes the directory, whatever `fn` did.
 */
export async function withCliBoot<T>(
  prefix: string,
  fn: (booted: BootedSystemd, dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  const deno = Deno.execPath();
  const booted = await bootSystemd({ share: [ROOT, dir, deno.slice(0, deno.lastIndexOf("/"))] });
  try {
    return await fn(booted, dir);
  } finally {
    await booted.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs the CLI inside the booted system (the repository and Deno are shared into it). */
export function cliInside(booted: BootedSystemd, ...args: string[]) {
  return booted.run([
    "env",
    "HOME=/root",
    "LIB_USERS_CONFIG=",
    "NO_COLOR=1",
    Deno.execPath(),
    "run",
    "--quiet",
    "-A",
    `${ROOT}/main.ts`,
    ...args,
  ], { deadlineMs: 90_000 });
}

/** The unit's host PIDs once it has `count` processes; fails the test after 15 s. */
export async function waitForPids(
  booted: BootedSystemd,
  unit: string,
  count: number,
): Promise<number[]> {
  let pids: number[] = [];
  await waitFor(
    async () => (pids = await booted.unitPids(unit)).length >= count,
    `${unit}'s processes`,
  );
  return pids;
}

/**
 * Waits until a process of `unit` maps `path` (a `Type=simple` start returns
 * once forked: the program may not have loaded it yet); fails the test after 15 s.
 */
export async function waitForMapped(
  booted: BootedSystemd,
  unit: string,
  path: string,
): Promise<void> {
  await waitFor(async () => {
    for (const pid of await booted.unitPids(unit)) {
      try {
        if (Deno.readTextFileSync(`/proc/${pid}/maps`).includes(path)) return true;
      } catch { /* gone meanwhile */ }
    }
    return false;
  }, `${unit} to map ${path}`);
}
