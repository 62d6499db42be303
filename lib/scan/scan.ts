/**
 * Scans a proc root for processes that use deleted files: mapped (libs) or
 * held open (fds). The loop: list the processes, collect each one's stale
 * files (`collect_*.ts`), name it by its command line, and tally what could
 * not be read.
 *
 * @module
 */

import { MapsReader } from "../proc/maps_reader.ts";
import { classifyReadError, readWholeName, WholeReader } from "../proc/procfs.ts";
import { createIdentityJudge, markerOnlyJudge } from "../identity/judge.ts";
import { isGranted } from "../proc/permissions.ts";
import { compileIgnore, DEFAULT_IGNORE_RULES, type IgnoreRules } from "./ignore.ts";
import {
  compareFiles,
  DEFAULT_NAME_BUDGET,
  type DeletedFile,
  type NameBudget,
  type ProcessFinding,
  type ScanResult,
} from "./model.ts";
import {
  readArgv,
  readComm,
  readUnit,
  type ScanContext,
  TREE_LIMITS,
  Unreadable,
  whyNot,
} from "./context.ts";
import { TreeBudget, UserShares } from "./budget.ts";
import { confirmedProcfs, limitedView, listProcRoot, WHOLE_TREE } from "./coverage.ts";
import { collectMapped } from "./collect_maps.ts";
import { collectOpen } from "./collect_fds.ts";
import { readBootTime, staleScripts } from "./collect_scripts.ts";
import { processStart } from "./scripts.ts";

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
  /**
   * Read only these processes (those of them that exist), as a check after a
   * restart does; default every process of the proc root.
   */
  readonly pids?: readonly number[];
  /**
   * Give each finding its start time (`ProcessFinding.startedAt`): one read
   * of `/proc/PID/stat` per stale process. Default false. Not on a tree that
   * is not a confirmed procfs.
   */
  readonly startTimes?: boolean;
  /**
   * Tell what stands at each stale file's path now, and since when
   * (`DeletedFile.state`, `replacedAt`), for files with no link left too:
   * one lookup per file and tree, and each stale process's tree read. Default
   * false: said only of files whose path the identity rule looked up anyway.
   */
  readonly states?: boolean;
}

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
  const proc = options.proc ?? "/proc";
  // A tree that is not a procfs is untrusted input: its files may be links out
  // of it, FIFOs, devices or of any size, and it has no identity to check.
  const procMount = confirmedProcfs(proc);
  const trusted = procMount !== undefined;
  // Identity is judged by looking in the processes' trees, the scanner's own
  // among them: reads beyond the proc root, which --allow-read=DIR does not give.
  const judged = trusted && isGranted(WHOLE_TREE);
  const listing = listProcRoot(proc, trusted);
  const self = listing.self;
  const only = options.pids === undefined ? undefined : new Set(options.pids);
  const pids = only === undefined ? listing.pids : listing.pids.filter((pid) => only.has(pid));
  const context = createContext(options, proc, trusted, judged);
  const processes: ProcessFinding[] = [];
  let finished = true;
  try {
    // The scan's own descriptors are no finding.
    const skipped = collect === collectOpen ? self : undefined;
    for (const pid of pids) {
      if (pid === skipped) continue;
      if (options.deadline !== undefined && performance.now() > options.deadline) {
        finished = false;
        break;
      }
      const finding = readProcess(context, pid, collect);
      if (finding !== undefined) processes.push(finding);
    }
  } finally {
    // The identity checks hold descriptors (roots, mount tables): released whatever happens.
    context.identity.close();
  }
  const tally = { unreadable: context.unreadable.count, scanned: context.scanned };
  const limited = procMount && limitedView(proc, procMount, tally);
  const notListed = processes.reduce((sum, process) => sum + (process.notListed ?? 0), 0);
  return {
    processes,
    unreadable: context.unreadable.count,
    unreadableProcesses: context.unreadable.listed,
    procfs: trusted,
    scanned: context.scanned,
    ...(context.scripts ? { scriptsUnknown: context.scriptsUnknown } : {}),
    ...(limited ? { limited } : {}),
    finished,
    ...(notListed > 0 ? { notListed } : {}),
  };
}

/** The scan's settings and running state, for a proc root `trusted` (a confirmed procfs) or not. */
function createContext(
  options: ScanOptions,
  proc: string,
  trusted: boolean,
  judged: boolean,
): ScanContext {
  const ignored = compileIgnore(options.ignore ?? DEFAULT_IGNORE_RULES);
  const tree = trusted ? null : new TreeBudget();
  const budget = { ...DEFAULT_NAME_BUDGET, ...options.budget };
  // Scripts are judged by their change against the start: without the boot time, not at all.
  const boot = (judged && options.scripts) || (trusted && options.startTimes)
    ? readBootTime(proc)
    : null;
  const identity = judged
    ? createIdentityJudge(proc, {
      ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
      states: options.states ?? false,
    })
    : markerOnlyJudge(trusted ? NOT_ALL_READABLE : NOT_PROCFS);
  return {
    proc,
    units: options.units ?? false,
    kinds: options.kinds ?? true,
    identity,
    maps: new MapsReader({
      ignored,
      ...(tree ? { keep: (text: string) => tree.keepName(text) } : {}),
    }),
    argvReader: new WholeReader(),
    mounted: judged ? (pid, device) => identity.mountedDevice(pid, device) : null,
    ignored,
    limits: trusted ? null : TREE_LIMITS,
    tree,
    shares: new UserShares(budget.charsPerUser, (pid) => readOwner(proc, pid)),
    unreadable: new Unreadable(),
    scanned: 0,
    scripts: judged && (options.scripts ?? false) && boot !== null,
    startTimes: trusted && (options.startTimes ?? false),
    boot,
    scriptsUnknown: [],
    budget,
    notListed: 0,
  };
}

/** Reads one process: its finding, or undefined when it uses no stale file, exited or could not be read. */
function readProcess(
  context: ScanContext,
  pid: number,
  collect: Collector,
): ProcessFinding | undefined {
  const unreadableBefore = context.unreadable.count;
  let files: DeletedFile[];
  context.notListed = 0;
  try {
    files = collect(context, pid);
  } catch (error) {
    if (classifyReadError(error) === "unreadable") context.unreadable.mark(pid, whyNot(error));
    return undefined;
  }
  if (context.unreadable.count === unreadableBefore) context.scanned++;
  // One read of the argument vector serves the script check and the finding.
  let argv: string[] | undefined | null = null;
  const argvOf = () => argv === null ? (argv = readArgv(context, pid)) : argv;
  // Likewise its start, for the script check and the finding's start time.
  let start: number | null | undefined | false = false;
  const startOf = () => start === false ? (start = readStart(context, pid)) : start;
  if (context.scripts) files.push(...staleScripts(context, pid, argvOf, startOf));
  if (files.length === 0 && context.notListed === 0) return undefined;
  if (!context.limits) {
    const kept = context.shares.charge(pid, files);
    context.notListed += files.length - kept.length;
    files = kept;
  }
  const notListed = context.notListed;
  const args = argvOf();
  if (args === undefined) return undefined;
  if (context.tree && !context.tree.keepArgv(args)) {
    context.unreadable.mark(pid, "its command line is past what the scan keeps of this tree");
    return undefined;
  }
  // A process that cleared its arguments must not hide: ps shows it as [comm].
  let cmdline: string | undefined = args.join(" ").trimEnd();
  if (cmdline === "") cmdline = readComm(context, pid);
  if (cmdline === undefined) return undefined;
  const startedAt = context.startTimes ? startOf() ?? null : null;
  const finding = {
    pid,
    argv: args,
    cmdline,
    files: files.sort(compareFiles),
    ...(notListed > 0 ? { notListed } : {}),
    ...(startedAt === null ? {} : { startedAt }),
  };
  return context.units ? { ...finding, unit: readUnit(context, pid) } : finding;
}

/**
 * When process `pid` started (ms since the epoch): null when that cannot be
 * told (no boot time, no start in its `stat`), undefined when its `stat`
 * cannot be read (it exited).
 */
function readStart(context: ScanContext, pid: number): number | null | undefined {
  if (context.boot === null) return null;
  try {
    return processStart(readWholeName(`${context.proc}/${pid}/stat`), context.boot);
  } catch (error) {
    classifyReadError(error);
    return undefined;
  }
}

/**
 * The real uid of process `pid` (-1 when unknown), from its `status`: the
 * files of `/proc/PID` (on some kernels the directory too) are root's for any
 * process that made itself undumpable, which would exempt it.
 */
function readOwner(proc: string, pid: number): number {
  try {
    const status = readWholeName(`${proc}/${pid}/status`);
    const real = /^Uid:\s*([0-9]+)/m.exec(status)?.[1];
    if (real !== undefined) return Number(real);
  } catch (error) {
    classifyReadError(error);
  }
  return -1;
}
