/**
 * Scans a proc root for processes that use deleted files: mapped (libs) or
 * held open (fds).
 *
 * @module
 */

import { mapFilesName, type MappedFile, withoutMarker } from "../proc/maps.ts";
import { type CandidateFile, MapsReader } from "../proc/maps_reader.ts";
import { compileIgnore, DEFAULT_IGNORE_RULES, type IgnoreRules } from "./ignore.ts";
import {
  classifyReadError,
  type ReadLimit,
  readLinkName,
  readWholeName,
  WholeReader,
} from "../proc/procfs.ts";
import { classifyCgroup, parseCgroupFile, type UnitInfo, UNKNOWN_UNIT } from "../proc/cgroup.ts";
import {
  createIdentityJudge,
  type IdentityJudge,
  markerOnlyJudge,
  type Verdict,
} from "../identity/judge.ts";
import { deviceName, type Mount, parseMountInfo } from "../proc/mounts.ts";
import { isGranted } from "../proc/permissions.ts";
import { bootTimeMs, interpreterOf, processStart, scriptArgument } from "./scripts.ts";

/** How a process uses a deleted file. */
export type FileKind = "library" | "executable" | "fd" | "script";

/** A deleted file in use by a process. */
export interface DeletedFile {
  /** The file's name, without the kernel's ` (deleted)` marker; lossless (see `decodeName`). */
  readonly path: string;
  /**
   * `library`: mapped (shared libraries, also other mapped files); `executable`:
   * the program itself; `fd`: held open; `script`: the script an interpreter
   * runs, deleted, replaced or changed since the process started (`scripts`).
   */
  readonly kind: FileKind;
  /**
   * Present when the file's identity could not be checked and the kernel's
   * ` (deleted)` marker decided: why (a fixture tree, no privilege, a network
   * or FUSE file system, a name that is not UTF-8).
   */
  readonly unverified?: string;
  /**
   * Why the file is stale where the kernel did not mark it: its file system
   * was unmounted (or swapped for another) under the process, and its path
   * now names another file.
   */
  readonly reason?: string;
  /**
   * Set when the kernel would not return the file's name (longer than a page):
   * `path` is then a placeholder that says so, and this names the file.
   */
  readonly unnamed?: { readonly device: string; readonly inode: number };
}

/** One process that uses deleted files. */
export interface ProcessFinding {
  /** The process ID. */
  readonly pid: number;
  /** The exact argument vector from `/proc/PID/cmdline` (empty, or empty strings, when the process cleared it). */
  readonly argv: readonly string[];
  /**
   * The argument vector joined with spaces, trailing whitespace removed, as the
   * Python tools print it; `[NAME]` from `/proc/PID/comm` when that is empty, as `ps` shows it.
   */
  readonly cmdline: string;
  /** The deleted files, sorted by name, one entry per name and kind. */
  readonly files: readonly DeletedFile[];
  /** The unit, session or container, when the scan was asked for units. */
  readonly unit?: UnitInfo;
  /**
   * Deleted files of the process left out of `files`, past what the scan
   * keeps of one process or of one user's processes (see `ScanOptions.budget`);
   * absent when none were. Counted, not checked.
   */
  readonly notListed?: number;
}

/** What a scan found. */
export interface ScanResult {
  /** Processes using deleted files, by ascending PID. */
  readonly processes: readonly ProcessFinding[];
  /** How many processes could not be read, wholly or in part (permission denied or I/O error). */
  readonly unreadable: number;
  /**
   * The first of the processes that could not be read (at most
   * {@linkcode MAX_UNREADABLE_LISTED}), each with why: `unreadable` counts them all.
   */
  readonly unreadableProcesses: readonly UnreadableProcess[];
  /**
   * Whether the proc root is a procfs by the kernel's own word (its mount, its
   * `self`), rather than a tree of files read as untrusted input, where the
   * kernel's marker decides every file.
   */
  readonly procfs: boolean;
  /** How many processes were read completely (those that exited meanwhile are not counted). */
  readonly scanned: number;
  /**
   * With `scripts`: interpreters whose script is no file the scan could look
   * at (`python -c`, `-m module`, standard input, a file system not asked),
   * and why. They are not reported stale.
   */
  readonly scriptsUnknown?: readonly { readonly pid: number; readonly reason: string }[];
  /**
   * Set when the scan lacked the privilege to see every process, and why: it
   * is not root (no `CAP_SYS_PTRACE`) and could not read other users'
   * processes, or the proc root is mounted with `hidepid=`, which hides them.
   * Processes unreadable even to root (a sandbox's PID 1) do not set it.
   */
  readonly limited?: string;
  /** False when the scan stopped at `ScanOptions.deadline` before reading every process. */
  readonly finished: boolean;
  /** Deleted files left out of the processes' lists, all told (see `ProcessFinding.notListed`). */
  readonly notListed?: number;
}

/** A process the scan could not read, and why. */
export interface UnreadableProcess {
  /** Its PID. */
  readonly pid: number;
  /** Why: the kernel's refusal (`permission denied`), an I/O error, a budget it went past. */
  readonly reason: string;
}

/** The most unreadable processes a scan names (`ScanResult.unreadableProcesses`); it counts all. */
export const MAX_UNREADABLE_LISTED = 100;

/**
 * The proc root cannot be scanned at all: it holds no process (an empty
 * directory, a tree that is not a proc root, a mount point whose procfs is
 * gone), or it is a procfs in which the scan cannot find itself (another PID
 * namespace's). A scan of it would say "nothing found" for want of looking.
 */
export class ProcRootError extends Error {
  /** `ProcRootError`. */
  override name = "ProcRootError";
}

/** Options of {@linkcode scanLibs} and {@linkcode scanFds}. */
export interface ScanOptions {
  /** The proc root: `/proc`, a procfs mounted elsewhere, or a fixture tree. Default `/proc`. */
  readonly proc?: string;
  /** Names to leave out. Default {@linkcode DEFAULT_IGNORE_RULES}. */
  readonly ignore?: IgnoreRules;
  /**
   * Also read `/proc/PID/cgroup` of each process found, to tell its unit,
   * session or container (see {@linkcode classifyCgroup}). Default false: no
   * extra reads.
   */
  readonly units?: boolean;
  /**
   * Tell a deleted executable from a deleted library (one read of
   * `/proc/PID/exe` per stale process). Default true; when false every mapped
   * file has kind `library`, which suits outputs that print no kinds.
   */
  readonly kinds?: boolean;
  /**
   * A time (as `performance.now()` counts) after which the scan stops between
   * two processes and returns what it has, with `finished: false`. Default:
   * none. No single read can block past it for long: file systems that may
   * not answer are never asked.
   */
  readonly deadline?: number;
  /**
   * Also look for interpreted programs (Python, Perl, Ruby, PHP, Node) whose
   * script was deleted, replaced or changed after they started: one `exe`
   * link per process, and for interpreters the script's lookup. Default false.
   * Not on a tree that is not a confirmed procfs (no process root to look in).
   */
  readonly scripts?: boolean;
  /**
   * What the names a scan keeps may cost: the most deleted files kept of one
   * process, and the characters of names kept of one user's processes, past
   * which files are counted in `notListed` instead. Defaults:
   * {@linkcode DEFAULT_NAME_BUDGET}, which keep a scan of processes a user made to
   * fill it within a few hundred megabytes.
   */
  readonly budget?: Partial<NameBudget>;
}

/** See `ScanOptions.budget`. */
export interface NameBudget {
  /** The most deleted files kept of one process. */
  readonly filesPerProcess: number;
  /** The characters of file names kept of one user's processes. */
  readonly charsPerUser: number;
}

/** The budget a scan keeps names within, unless told otherwise. */
export const DEFAULT_NAME_BUDGET: NameBudget = Object.freeze({
  // The kernel's default vm.max_map_count (65,530): every mapping of a process may be a file.
  filesPerProcess: 65_536,
  // 65,530 names of 128 characters; a user who maps longer ones past that is cut, and told.
  charsPerUser: 8 << 20,
});

interface ScanContext {
  readonly root: string;
  readonly units: boolean;
  readonly kinds: boolean;
  readonly identity: IdentityJudge;
  /** Reads each maps file, with what it parsed of the files met so far. */
  readonly maps: MapsReader;
  readonly argvReader: WholeReader;
  /**
   * Whether a device is mounted for a process (see `IdentityJudge.mountedDevice`);
   * null where identities are not judged, and unmarked lines not looked at.
   */
  readonly mounted: ((pid: number, device: string) => boolean) | null;
  readonly ignored: (name: string) => boolean;
  /** What each file may hold when the proc root is not a confirmed procfs; null when it is. */
  readonly limits: TreeLimits | null;
  /** Bytes of names the scan may still keep from such a tree, which may hold any amount. */
  namesLeft: number;
  unreadable: number;
  readonly unreadableProcesses: UnreadableProcess[];
  /** The PID last counted unreadable: a process is counted once, however many of its reads fail. */
  lastUnreadable: number;
  scanned: number;
  /** The boot time for script checks, read once; null when scripts are not looked for. */
  readonly boot: number | null;
  readonly scriptsUnknown: { pid: number; reason: string }[];
  /** The argument vector last read, and whose: the script check and the report share one read. */
  lastArgv: { readonly pid: number; readonly argv: string[] | undefined } | null;
  readonly budget: NameBudget;
  /** Files the collector of the process being read left out, past `budget.filesPerProcess`. */
  notListed: number;
  /** Characters of names kept so far, all told and by the processes' owner. */
  keptChars: number;
  /** The owner last looked up, and of which process. */
  owner: { readonly pid: number; readonly uid: number };
  readonly charsByUser: Map<number, number>;
}

/** The limits of a tree that is not a confirmed procfs, file by file: what the kernel could write. */
interface TreeLimits {
  readonly maps: ReadLimit;
  readonly cmdline: ReadLimit;
  readonly cgroup: ReadLimit;
  readonly comm: ReadLimit;
  /** Open files of one process (the kernel's `nr_open` default). */
  readonly fds: number;
}

const TREE_LIMITS: TreeLimits = Object.freeze({
  // The kernel's lines are a path and five short fields: 60,000 mappings take ≈ 6 MB.
  maps: { maxBytes: 32 << 20 },
  // The argument vector fits in ARG_MAX (a quarter of the stack limit, a few MiB).
  cmdline: { maxBytes: 4 << 20 },
  cgroup: { maxBytes: 64 << 10 },
  comm: { maxBytes: 4 << 10 },
  fds: 1 << 20,
});

/** Bytes of names a scan of a tree that is not a confirmed procfs keeps at most. */
const TREE_NAME_BUDGET = 96 << 20;

/**
 * What of that budget only command lines may use: a tree whose files' names
 * fill the budget still has its processes named, their lists cut.
 */
const ARGV_RESERVE = 8 << 20;

/** Why the marker decides everywhere in a tree that is not a confirmed procfs. */
const NOT_PROCFS = "the proc root is not a procfs the scan could confirm";

/** Why the marker decides on a procfs the scan may read only: the processes' trees are not readable. */
const NOT_ALL_READABLE = "the scan may read only the proc root, not the processes' trees";

/** How one process's candidate files are found. */
type Collector = (context: ScanContext, pid: number) => DeletedFile[];

/**
 * Finds processes that map deleted files (`/proc/PID/maps`), such as shared
 * libraries replaced by a package update.
 *
 * A mapping marked ` (deleted)` counts when the object it maps is not the file
 * now at its path in the process's own root (see `DeletedFile.unverified` for
 * where that cannot be checked and the marker decides). File systems that may
 * not answer (FUSE, NFS, …) are never asked, so a scan cannot hang on them.
 *
 * @throws {Deno.errors.NotCapable} when Deno does not allow reading the proc root
 * @throws {Deno.errors.NotFound} when the proc root does not exist
 * @throws {ProcRootError} when the proc root holds no process, or is a procfs
 *   in which the scan cannot find itself
 *
 * @param options The proc root and the ignore rules.
 * @returns The processes found and how many could not be read.
 *
 * @example Scan a proc tree (`/proc` by default, which needs `-A`)
 * ```ts
 * import { scanLibs } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * // The fixture tree of this repository, readable with --allow-read alone.
 * const { processes } = await scanLibs({ proc: "testdata/proc" });
 * const server = processes.find((p) => p.pid === 1234)!;
 * assertEquals(server.argv, ["/opt/my app/bin/server", "--name", "a b"]);
 * assertEquals(server.files.map((f) => f.kind), ["executable", "library"]);
 * ```
 */
export function scanLibs(options: ScanOptions = {}): Promise<ScanResult> {
  // A rejected promise, never a synchronous throw, whatever goes wrong.
  return Promise.resolve().then(() => scan(options, collectMapped));
}

/**
 * Finds processes holding deleted files open (`/proc/PID/fd/N`), such as rotated
 * logs. The scanning process itself is left out.
 *
 * @throws {Deno.errors.NotCapable} when Deno does not allow reading the proc root
 * @throws {Deno.errors.NotFound} when the proc root does not exist
 * @throws {ProcRootError} when the proc root holds no process, or is a procfs
 *   in which the scan cannot find itself
 *
 * @param options The proc root and the ignore rules.
 * @returns The processes found and how many could not be read.
 *
 * @example Deleted files held open, such as a rotated log
 * ```ts
 * import { scanFds } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const { processes } = await scanFds({ proc: "testdata/proc" });
 * assertEquals(processes.find((p) => p.pid === 99)?.files[0]?.path, "/var/log/cron.log.1");
 * ```
 */
export function scanFds(options: ScanOptions = {}): Promise<ScanResult> {
  // A rejected promise, never a synchronous throw, whatever goes wrong.
  return Promise.resolve().then(() => scan(options, collectOpen));
}

function scan(options: ScanOptions, collect: Collector): ScanResult {
  const root = options.proc ?? "/proc";
  // A tree that is not a procfs is untrusted input: its files may be links out
  // of it, FIFOs, devices or of any size, and it has no identity to check.
  const procMount = confirmedProcfs(root);
  const trusted = procMount !== undefined;
  // Identity is judged by looking in the processes' trees, the scanner's own
  // among them: reads beyond the proc root, which --allow-read=DIR does not give.
  const judged = trusted && isGranted(WHOLE_TREE);
  const pids = listPids(root);
  const self = ownPid(root);
  if (pids.length === 0) {
    throw new ProcRootError(
      `"${root}" holds no process: it is not a proc root (is a procfs mounted there?)`,
    );
  }
  if (trusted && self !== Deno.pid) {
    throw new ProcRootError(
      `"${root}" is a procfs in which the scan cannot find itself (another PID namespace's?): ` +
        "whose processes it shows cannot be told",
    );
  }
  const ignored = compileIgnore(options.ignore ?? DEFAULT_IGNORE_RULES);
  const context: ScanContext = {
    root,
    units: options.units ?? false,
    kinds: options.kinds ?? true,
    identity: judged
      ? createIdentityJudge(
        root,
        options.deadline === undefined ? {} : { deadline: options.deadline },
      )
      : markerOnlyJudge(trusted ? NOT_ALL_READABLE : NOT_PROCFS),
    maps: new MapsReader({
      ignored,
      ...(trusted ? {} : { keep: (text: string) => keepName(context, text) }),
    }),
    argvReader: new WholeReader(),
    mounted: judged ? (pid, device) => context.identity.mountedDevice(pid, device) : null,
    ignored,
    limits: trusted ? null : TREE_LIMITS,
    namesLeft: trusted ? Infinity : TREE_NAME_BUDGET,
    unreadable: 0,
    unreadableProcesses: [],
    lastUnreadable: -1,
    scanned: 0,
    boot: judged && options.scripts ? readBootTime(root) : null,
    scriptsUnknown: [],
    lastArgv: null,
    budget: { ...DEFAULT_NAME_BUDGET, ...options.budget },
    notListed: 0,
    keptChars: 0,
    owner: { pid: -1, uid: -1 },
    charsByUser: new Map(),
  };
  const processes: ProcessFinding[] = [];
  const deadline = options.deadline;
  let finished = true;
  try {
    // The scan's own descriptors are no finding.
    const skipped = collect === collectOpen ? self : undefined;
    finished = scanEach(context, pids, collect, processes, deadline, skipped);
  } finally {
    // The identity checks hold descriptors (roots, mount tables): released whatever happens.
    context.identity.close();
  }
  const limited = procMount && limitedView(context, procMount);
  const notListed = processes.reduce((sum, process) => sum + (process.notListed ?? 0), 0);
  return {
    processes,
    unreadable: context.unreadable,
    unreadableProcesses: context.unreadableProcesses,
    procfs: trusted,
    scanned: context.scanned,
    ...(context.boot !== null ? { scriptsUnknown: context.scriptsUnknown } : {}),
    ...(limited ? { limited } : {}),
    finished,
    ...(notListed > 0 ? { notListed } : {}),
  };
}

/**
 * Charges the names of a process's files to its owner: past the owner's
 * share (`budget.charsPerUser`), the rest are counted in `notListed`, not kept,
 * so one user's processes cannot fill the scan's memory. The owner is looked
 * up only once the scan keeps a quarter of a share in all: most scans never do
 * (what was kept before is charged to no one, so a user may keep up to a
 * quarter share more).
 */
function chargeOwner(context: ScanContext, pid: number, files: DeletedFile[]): DeletedFile[] {
  const chars = files.reduce((sum, file) => sum + file.path.length, 0);
  context.keptChars += chars;
  const share = context.budget.charsPerUser;
  if (context.keptChars <= share / 4) return files;
  const owner = ownerOf(context, pid);
  if (owner === 0) return files;
  let left = share - (context.charsByUser.get(owner) ?? 0);
  const kept: DeletedFile[] = [];
  for (const file of files) {
    if (file.path.length <= left) {
      kept.push(file);
      left -= file.path.length;
    } else context.notListed++;
  }
  context.charsByUser.set(owner, share - left);
  return kept;
}

/**
 * The characters of names process `pid` may keep while it is read: its
 * owner's share less what the owner's processes keep, or a whole share while
 * the scan keeps less than a quarter of one in all (`chargeOwner` then cuts to
 * the owner's). Root's processes are not charged: the budget keeps other users
 * from filling root's scan. A tree has its own budget.
 */
function charsLeft(context: ScanContext, pid: number): number {
  if (context.limits) return Infinity;
  const share = context.budget.charsPerUser;
  if (context.keptChars <= share / 4) return share;
  const owner = ownerOf(context, pid);
  return owner === 0 ? Infinity : share - (context.charsByUser.get(owner) ?? 0);
}

/**
 * The real uid of process `pid` (-1 when unknown), read once per process from
 * its `status`: the files of `/proc/PID` (on some kernels the directory too)
 * are root's for any process that made itself undumpable, which would exempt it.
 */
function ownerOf(context: ScanContext, pid: number): number {
  if (context.owner.pid === pid) return context.owner.uid;
  let uid = -1;
  try {
    const status = readWholeName(`${context.root}/${pid}/status`, context.limits?.comm);
    const real = /^Uid:\s*([0-9]+)/m.exec(status)?.[1];
    if (real !== undefined) uid = Number(real);
  } catch (error) {
    classifyReadError(error);
  }
  context.owner = { pid, uid };
  return uid;
}

/** Reads each process in turn; false when the deadline stopped it first. */
function scanEach(
  context: ScanContext,
  pids: readonly number[],
  collect: Collector,
  processes: ProcessFinding[],
  deadline: number | undefined,
  skipped: number | undefined,
): boolean {
  for (const pid of pids) {
    if (pid === skipped) continue;
    if (deadline !== undefined && performance.now() > deadline) {
      return false;
    }
    const unreadableBefore = context.unreadable;
    let files: DeletedFile[];
    context.notListed = 0;
    try {
      files = collect(context, pid);
    } catch (error) {
      if (classifyReadError(error) === "unreadable") markUnreadable(context, pid, whyNot(error));
      continue;
    }
    if (context.unreadable === unreadableBefore) context.scanned++;
    if (context.boot !== null) files.push(...staleScripts(context, pid, context.boot));
    if (files.length === 0 && context.notListed === 0) continue;
    if (!context.limits) files = chargeOwner(context, pid, files);
    const notListed = context.notListed;
    const argv = argvOf(context, pid);
    if (argv === undefined) continue;
    if (context.limits && !keepArgv(context, pid, argv)) continue;
    // A process that cleared its arguments must not hide: ps shows it as [comm].
    let cmdline: string | undefined = argv.join(" ").trimEnd();
    if (cmdline === "") cmdline = readComm(context, pid);
    if (cmdline === undefined) continue;
    const finding = {
      pid,
      argv,
      cmdline,
      files: sortFiles(files),
      ...(notListed > 0 ? { notListed } : {}),
    };
    processes.push(context.units ? { ...finding, unit: readUnit(context, pid) } : finding);
  }
  return true;
}

/**
 * Why this scan saw only part of the processes for lack of privilege, or
 * undefined. Reading another user's maps or fds takes `CAP_SYS_PTRACE` (root
 * has it): without it, processes the scan could not read are other users',
 * and `hidepid=` hides them without a trace.
 */
function limitedView(context: ScanContext, procMount: Mount): string | undefined {
  const hidepid = /(?:^|,)hidepid=([^,]+)/.exec(procMount.options)?.[1];
  const hides = hidepid !== undefined && hidepid !== "0" && hidepid !== "off";
  const subset = /(?:^|,)subset=pid(?:,|$)/.test(procMount.options);
  // Asked only when something was missed: most scans read everything.
  if (!hides && context.unreadable === 0) return undefined;
  const own = readOwnStatus(context.root);
  if (own.canReadOthers) return undefined;
  const who = own.uid === null ? "not root" : `not root (uid ${own.uid})`;
  // The Python tools' words, which scripts look for.
  const need = "it has to be run as root, or with CAP_SYS_PTRACE " +
    "(and CAP_CHECKPOINT_RESTORE to check identities)";
  if (hides) {
    return `${context.root} is mounted with hidepid=${hidepid}${subset ? ",subset=pid" : ""}: ` +
      `other users' processes are invisible to a scan that is ${who}; ${need}`;
  }
  return `${who}: ${context.unreadable} of ${context.unreadable + context.scanned} ` +
    `processes (other users') could not be read; ${need}`;
}

/** CAP_SYS_PTRACE, which reading other users' maps and fds takes (proc(5), ptrace(2)). */
const CAP_SYS_PTRACE = 19;

/**
 * Who the scan runs as, by its own `status` in the proc root (readable with
 * only `--allow-read` on it): its effective uid, and whether it has
 * `CAP_SYS_PTRACE` in effect; null and false where unknown.
 */
function readOwnStatus(root: string): { uid: number | null; canReadOthers: boolean } {
  try {
    const status = Deno.readTextFileSync(`${root}/self/status`);
    const mask = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    const uid = /^Uid:\s*[0-9]+\s+([0-9]+)/m.exec(status)?.[1];
    return {
      uid: uid === undefined ? null : Number(uid),
      canReadOthers: mask !== undefined &&
        ((BigInt(`0x${mask}`) >> BigInt(CAP_SYS_PTRACE)) & 1n) === 1n,
    };
  } catch (error) {
    classifyReadError(error);
    return { uid: null, canReadOthers: false };
  }
}

/**
 * The proc root's mount when it is a procfs by the kernel's own word: a mount
 * of type `proc` in the scanner's `/proc/self/mountinfo`, or, where only the
 * tree may be read (`--allow-read=DIR`), in the table of the tree's own
 * `self`, once that is this very process and the tree's root is inode 1 as
 * every procfs's is (no tree of files can fake both). Else the tree counts as
 * untrusted.
 */
function confirmedProcfs(root: string): Mount | undefined {
  // Asked first: an ungranted read would make Deno prompt on a terminal.
  const own = isGranted(OWN_MOUNTS);
  try {
    const point = Deno.realPathSync(root);
    let table: string;
    if (own) table = Deno.readTextFileSync(OWN_MOUNTS.path!);
    else {
      if (Deno.statSync(point).ino !== PROC_ROOT_INO) return undefined;
      if (Deno.readLinkSync(`${root}/self`) !== String(Deno.pid)) return undefined;
      table = readWholeName(`${root}/self/mountinfo`, OWN_TABLE_LIMIT);
    }
    const mount = parseMountInfo(table).byPoint.get(point);
    return mount?.type === "proc" ? mount : undefined;
  } catch {
    return undefined;
  }
}

/** The inode of every procfs's root directory (the kernel's `PROC_ROOT_INO`). */
const PROC_ROOT_INO = 1;

/** What the tree's own mount table may hold before it is confirmed to be the kernel's. */
const OWN_TABLE_LIMIT: ReadLimit = Object.freeze({ maxBytes: 16 << 20 });

/** Reads anywhere: what judging identity in the processes' own trees takes. */
const WHOLE_TREE: Deno.ReadPermissionDescriptor = Object.freeze({ name: "read", path: "/" });

/**
 * Counts process `pid` unreadable, once however many of its reads fail, and
 * names the first few with why.
 */
function markUnreadable(context: ScanContext, pid: number, reason: string): void {
  if (context.lastUnreadable === pid) return;
  context.lastUnreadable = pid;
  context.unreadable++;
  if (context.unreadableProcesses.length < MAX_UNREADABLE_LISTED) {
    context.unreadableProcesses.push({ pid, reason });
  }
}

/** Why a read failed, in a few words: the kernel's, less Deno's decoration. */
function whyNot(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  const message = error instanceof Error ? error.message : String(error);
  const words = message.replace(/ \(os error [0-9]+\)[^]*$/, "");
  return words.charAt(0).toLowerCase() + words.slice(1);
}

const OWN_MOUNTS: Deno.ReadPermissionDescriptor = Object.freeze({
  name: "read",
  path: "/proc/self/mountinfo",
});

/**
 * What keeping one more name costs beyond its characters: its objects, map
 * entries and copies in the reader, measured at about this much.
 */
const ENTRY_COST = 1024;

/** Counts a name the scan keeps against the budget of an untrusted tree. */
function keepName(context: ScanContext, name: string, reserve = ARGV_RESERVE): boolean {
  const cost = name.length + ENTRY_COST;
  if (cost + reserve > context.namesLeft) return false;
  context.namesLeft -= cost;
  return true;
}

/** Counts an argument vector against the budget; false (and counted unreadable) past it. */
function keepArgv(context: ScanContext, pid: number, argv: readonly string[]): boolean {
  if (keepName(context, argv.join("\0"), 0)) return true;
  markUnreadable(context, pid, "its command line is past what the scan keeps of this tree");
  return false;
}

/** Throws unless `path` is a directory itself, not a link to one. */
function checkDirectory(path: string): void {
  if (!Deno.lstatSync(path).isDirectory) {
    throw new TypeError(`Cannot read "${path}": not a directory`);
  }
}

/** Numeric directory names of the proc root, ascending. */
function listPids(root: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync(root)) {
    // Number("") is 0 and Number("1e3") 1000: check the digits, without a regex per entry.
    const first = entry.name.charCodeAt(0);
    if (!entry.isDirectory || first < 0x30 || first > 0x39) continue;
    const pid = Number(entry.name);
    if (Number.isInteger(pid) && String(pid) === entry.name) pids.push(pid);
  }
  return pids.sort((a, b) => a - b);
}

/** The PID `root/self` points to on a real procfs; undefined on a fixture tree. */
function ownPid(root: string): number | undefined {
  try {
    const target = Deno.readLinkSync(`${root}/self`);
    return /^[0-9]+$/.test(target) ? Number(target) : undefined;
  } catch (error) {
    classifyReadError(error);
    return undefined;
  }
}

/** `readArgv`, once per process: a failed read is counted once too. */
function argvOf(context: ScanContext, pid: number): string[] | undefined {
  if (context.lastArgv?.pid === pid) return context.lastArgv.argv;
  const argv = readArgv(context, pid);
  context.lastArgv = { pid, argv };
  return argv;
}

function readArgv(context: ScanContext, pid: number): string[] | undefined {
  let cmdline: string;
  try {
    const path = `${context.root}/${pid}/cmdline`;
    cmdline = context.limits
      ? readWholeName(path, context.limits.cmdline)
      : context.argvReader.read(path);
  } catch (error) {
    if (classifyReadError(error) === "unreadable") markUnreadable(context, pid, whyNot(error));
    return undefined;
  }
  if (cmdline === "") return [];
  // A NUL is never part of a longer byte sequence, so splitting the decoded text
  // is splitting the bytes. A trailing NUL ends the last argument; it does not
  // start an empty one.
  const argv = cmdline.split("\0");
  if (cmdline.endsWith("\0")) argv.pop();
  return argv;
}

/** `[NAME]` from `/proc/PID/comm`, as `ps` shows a process without arguments; undefined when it exited. */
function readComm(context: ScanContext, pid: number): string | undefined {
  try {
    const comm = readWholeName(`${context.root}/${pid}/comm`, context.limits?.comm);
    return `[${comm.endsWith("\n") ? comm.slice(0, -1) : comm}]`;
  } catch (error) {
    if (classifyReadError(error) === "unreadable") markUnreadable(context, pid, whyNot(error));
    return undefined;
  }
}

/** The process's unit; unknown when its cgroup file is missing or unreadable. */
function readUnit(context: ScanContext, pid: number): UnitInfo {
  try {
    const text = readWholeName(`${context.root}/${pid}/cgroup`, context.limits?.cgroup);
    const path = parseCgroupFile(text);
    return path === null ? UNKNOWN_UNIT : classifyCgroup(path);
  } catch (error) {
    classifyReadError(error);
    return UNKNOWN_UNIT;
  }
}

function collectMapped(context: ScanContext, pid: number): DeletedFile[] {
  // One entry per file (device, inode, name), never per mapping: a process may
  // map one file 60,000 times.
  const candidates = context.maps.read(
    `${context.root}/${pid}/maps`,
    context.limits?.maps,
    context.budget.filesPerProcess,
    {
      ...(context.mounted === null ? {} : { mounted: (device) => context.mounted!(pid, device) }),
      maxChars: charsLeft(context, pid),
    },
  );
  context.notListed += context.maps.notListed;
  if (candidates.size === 0) return [];
  const found = new FoundFiles();
  let executable: string | undefined;
  for (const [parsed, range] of candidates) {
    const file = parsed.ambiguous ? exactNames(context, pid, parsed, range) : parsed;
    const verdict = parsed.unmounted
      ? context.identity.unmountedMapping(pid, file)
      : context.identity.mapping(pid, file, range);
    if (!verdict.stale) continue;
    if (context.kinds) executable ??= readExecutable(`${context.root}/${pid}`);
    found.add(file.path, file.path === executable ? "executable" : "library", verdict);
  }
  return found.files;
}

/**
 * maps writes a newline in a name as `\012`, so a name holding those four
 * characters reads the same: only then the `map_files` link, whose target is
 * the exact name, is read as well.
 */
function exactNames(
  context: ScanContext,
  pid: number,
  parsed: CandidateFile,
  range: string,
): MappedFile {
  try {
    const target = readLinkName(`${context.root}/${pid}/map_files/${mapFilesName(range)}`);
    const path = withoutMarker(target) ?? target;
    // A new object: its verdict is not shared with the ambiguous name's.
    return { path, printed: target, device: parsed.device, inode: parsed.inode };
  } catch (error) {
    classifyReadError(error);
    return parsed;
  }
}

/**
 * The stale files of one process: one entry per name and kind, in a list (a
 * process uses few), indexed once it grows (a hostile one may map thousands).
 */
class FoundFiles {
  readonly files: DeletedFile[] = [];
  /** Index in `files` by kind, then name; made once the list grows. */
  #index: Map<FileKind, Map<string, number>> | null = null;

  /** Adds a file; a name checked one way and decided by the marker another keeps why. */
  add(path: string, kind: FileKind, verdict: Verdict): void {
    const at = this.#find(path, kind);
    const known = at < 0 ? undefined : this.files[at];
    if (known && (known.unverified !== undefined || verdict.unverified === undefined)) return;
    const file: DeletedFile = verdict.unverified !== undefined
      ? { path, kind, unverified: verdict.unverified }
      : verdict.reason !== undefined
      ? { path, kind, reason: verdict.reason }
      : { path, kind };
    if (at >= 0) {
      this.files[at] = file;
      return;
    }
    this.files.push(file);
    if (this.#index !== null) this.#indexed(kind).set(path, this.files.length - 1);
    else if (this.files.length === 16) {
      this.#index = new Map();
      this.files.forEach((f, i) => this.#indexed(f.kind).set(f.path, i));
    }
  }

  /** Adds a file whose name the kernel would not return, under its placeholder. */
  addUnnamed(file: DeletedFile): void {
    this.files.push(file);
    if (this.#index !== null) this.#indexed(file.kind).set(file.path, this.files.length - 1);
  }

  /** Whether a file of that name and kind is in. */
  has(path: string, kind: FileKind): boolean {
    return this.#find(path, kind) >= 0;
  }

  #find(path: string, kind: FileKind): number {
    if (this.#index !== null) return this.#index.get(kind)?.get(path) ?? -1;
    return this.files.findIndex((file) => file.path === path && file.kind === kind);
  }

  #indexed(kind: FileKind): Map<string, number> {
    let byPath = this.#index!.get(kind);
    if (byPath === undefined) {
      byPath = new Map();
      this.#index!.set(kind, byPath);
    }
    return byPath;
  }
}

/** How far a process's start time may be off: a tick of the start, and of the uptime. */
const START_SLACK_MS = 30;

function readBootTime(root: string): number | null {
  try {
    return bootTimeMs(Deno.readTextFileSync(`${root}/uptime`), Date.now());
  } catch (error) {
    classifyReadError(error);
    return null;
  }
}

/**
 * The script of an interpreter process, when it was deleted, replaced or
 * changed after the process started (its ctime later than the start). Only
 * its argument vector and `/proc` are read: nothing is ever run.
 */
function staleScripts(context: ScanContext, pid: number, boot: number): DeletedFile[] {
  const dir = `${context.root}/${pid}`;
  let exe: string;
  try {
    exe = readLinkName(`${dir}/exe`);
  } catch (error) {
    classifyReadError(error);
    return [];
  }
  const kind = interpreterOf(withoutMarker(exe) ?? exe);
  if (kind === undefined) return [];
  const argv = argvOf(context, pid);
  if (argv === undefined) return [];
  const script = scriptArgument(kind, argv);
  const unknown = (reason: string) => {
    context.scriptsUnknown.push({ pid, reason });
    return [];
  };
  if ("unknown" in script) return unknown(script.unknown);
  let path = script.path;
  let started: number | null;
  try {
    if (!path.startsWith("/")) path = `${readLinkName(`${dir}/cwd`).replace(/\/$/, "")}/${path}`;
    started = processStart(readWholeName(`${dir}/stat`), boot);
  } catch (error) {
    classifyReadError(error);
    return [];
  }
  if (started === null) return unknown("its start time cannot be read");
  const found = context.identity.fileAt(pid, path);
  if (!found.found) {
    if (found.unresolvable !== undefined) return unknown(`${path}: ${found.unresolvable}`);
    return [{ path, kind: "script" }];
  }
  // Start times are in 10 ms ticks, and the boot time is read to 10 ms: a change
  // within that of the start cannot be told from one before it.
  if (found.changedMs !== null && found.changedMs > started + START_SLACK_MS) {
    return [{ path, kind: "script" }];
  }
  return [];
}

/** The deleted executable's name, or "" when the program file is not deleted or unknown. */
function readExecutable(dir: string): string {
  try {
    const target = readLinkName(`${dir}/exe`);
    return withoutMarker(target) ?? "";
  } catch (error) {
    classifyReadError(error);
    return "";
  }
}

function collectOpen(context: ScanContext, pid: number): DeletedFile[] {
  const dir = `${context.root}/${pid}/fd`;
  const found = new FoundFiles();
  let unreadable: string | undefined;
  if (context.limits) checkDirectory(dir);
  let entries = 0;
  // Past the most kept of one process: each further deleted name counted once, by a 53-bit hash.
  const pastMax = new Set<number>();
  const maxChars = charsLeft(context, pid);
  let chars = 0;
  for (const entry of Deno.readDirSync(dir)) {
    if (context.limits && ++entries > context.limits.fds) {
      throw new RangeError(`Cannot read "${dir}": more entries than a process may open`);
    }
    let target: string;
    try {
      target = readLinkName(`${dir}/${entry.name}`);
    } catch (error) {
      if (classifyReadError(error) !== "unreadable") continue;
      if ((error as { code?: unknown }).code === "ENAMETOOLONG") {
        const unnamed = unnamedFile(context, pid, entry.name);
        if (typeof unnamed === "string") unreadable ??= unnamed;
        else if (unnamed !== null && !found.has(unnamed.path, "fd")) found.addUnnamed(unnamed);
        continue;
      }
      // Counted once per process: a refused process refuses every fd alike.
      unreadable ??= `fd ${entry.name}: ${whyNot(error)}`;
      continue;
    }
    const path = withoutMarker(target);
    if (path === undefined) continue;
    // Each fd is judged on its own: a live decoy named `x (deleted)` must not speak for x.
    if (found.has(path, "fd") || context.ignored(path)) continue;
    if (found.files.length >= context.budget.filesPerProcess || chars >= maxChars) {
      const hash = hashText(path);
      if (!pastMax.has(hash)) {
        pastMax.add(hash);
        context.notListed++;
      }
      continue;
    }
    const verdict = context.identity.openFile(pid, { path, printed: target }, entry.name);
    if (!verdict.stale) continue;
    if (context.limits && !keepName(context, path)) {
      context.notListed++;
      continue;
    }
    found.add(path, "fd", verdict);
    chars += path.length;
  }
  if (unreadable !== undefined) markUnreadable(context, pid, unreadable);
  return found.files;
}

/**
 * An open file whose name the kernel will not return (longer than a page, as
 * `readlink` and `d_path` allow): its object, asked like any other's, tells
 * whether it was deleted (no links left), and which it is. It is reported by
 * a placeholder name; null when it is still linked (no finding); a reason
 * when it could not be asked.
 */
function unnamedFile(
  context: ScanContext,
  pid: number,
  fd: string,
): DeletedFile | string | null {
  const object = context.identity.unnamedOpenFile(pid, fd);
  if (typeof object === "string") return `fd ${fd}: its name is too long to read, and ${object}`;
  if (object.nlink > 0) return null;
  const device = deviceName(object.dev);
  return {
    path: `(name too long: device ${device} inode ${object.ino})`,
    kind: "fd",
    unnamed: { device, inode: object.ino },
  };
}

/** A 53-bit hash of a string's UTF-16 units: FNV-1a and a multiplicative hash, side by side. */
function hashText(text: string): number {
  let fnv = 0x811c9dc5;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    fnv = Math.imul(fnv ^ unit, 0x01000193);
    other = Math.imul(other, 0x2f0b3a49) + unit | 0;
  }
  return (fnv >>> 0) * 0x200000 + ((other ^ (other >>> 11)) & 0x1fffff);
}

function sortFiles(files: DeletedFile[]): DeletedFile[] {
  return files.sort(compareFiles);
}

/** Orders files by name, then kind, in code-unit order: locale-free and stable across hosts. */
export function compareFiles(a: DeletedFile, b: DeletedFile): number {
  return compareText(a.path, b.path) || compareText(a.kind, b.kind);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
