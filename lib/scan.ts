/**
 * Scans a proc root for processes that use deleted files: mapped (libs) or
 * held open (fds).
 *
 * @module
 */

import {
  DELETED_SUFFIX,
  type DeletedMapping,
  mapFilesName,
  parseMapsLine,
  splitAddressRange,
} from "./maps.ts";
import { compileIgnore, DEFAULT_IGNORE_RULES, type IgnoreRules } from "./ignore.ts";
import { classifyReadError, readCandidateLines, readLinkName, readWholeName } from "./procfs.ts";
import { classifyCgroup, parseCgroupFile, type UnitInfo, UNKNOWN_UNIT } from "./cgroup.ts";

/** How a process uses a deleted file. */
export type FileKind = "library" | "executable" | "fd";

/** A deleted file in use by a process. */
export interface DeletedFile {
  /** The file's name, without the kernel's ` (deleted)` marker; lossless (see `decodeName`). */
  readonly path: string;
  /** `library`: mapped (shared libraries, also other mapped files); `executable`: the program itself; `fd`: held open. */
  readonly kind: FileKind;
}

/** One process that uses deleted files. */
export interface ProcessFinding {
  /** The process ID. */
  readonly pid: number;
  /** The exact argument vector from `/proc/PID/cmdline`. */
  readonly argv: readonly string[];
  /** The argument vector joined with spaces, trailing whitespace removed, as the Python tools print it. */
  readonly cmdline: string;
  /** The deleted files, sorted by name, one entry per name and kind. */
  readonly files: readonly DeletedFile[];
  /** The unit, session or container, when the scan was asked for units. */
  readonly unit?: UnitInfo;
}

/** What a scan found. */
export interface ScanResult {
  /** Processes using deleted files, by ascending PID. */
  readonly processes: readonly ProcessFinding[];
  /** How many processes could not be read, wholly or in part (permission denied or I/O error). */
  readonly unreadable: number;
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
}

interface ScanContext {
  readonly root: string;
  readonly units: boolean;
  /**
   * Link-count verdicts by the device and inode maps prints: after an update,
   * hundreds of processes map the same deleted file, and one stat tells for all.
   */
  readonly deletedByFile: Map<string, boolean>;
  /**
   * Candidate lines parsed so far, by everything after their address range (the
   * same in every process that maps the file), with ignored names as null.
   */
  readonly parsedLines: Map<string, DeletedMapping | null>;
  readonly ignored: (name: string) => boolean;
  unreadable: number;
}

/** How one process's candidate files are found. */
type Collector = (context: ScanContext, pid: number) => DeletedFile[];

/**
 * Finds processes that map deleted files (`/proc/PID/maps`), such as shared
 * libraries replaced by a package update.
 *
 * Where `/proc/PID/map_files` can be read (root on a live procfs), a file only
 * counts when its link count is 0, so a live file merely named `x (deleted)`
 * is not reported; elsewhere the kernel's text marker decides.
 *
 * @throws {Deno.errors.NotCapable} when Deno does not allow reading the proc root
 * @throws {Deno.errors.NotFound} when the proc root does not exist
 *
 * @param options The proc root and the ignore rules.
 * @returns The processes found and how many could not be read.
 *
 * @example Scan a procfs (needs `-A` for /proc)
 * ```ts no-assert
 * import { scanLibs } from "@lib-users/lib-users";
 *
 * const { processes, unreadable } = await scanLibs({ proc: "/proc" });
 * for (const p of processes) console.log(p.pid, p.cmdline, p.files.map((f) => f.path));
 * if (unreadable) console.error(`${unreadable} processes could not be read`);
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
 *
 * @param options The proc root and the ignore rules.
 * @returns The processes found and how many could not be read.
 *
 * @example
 * ```ts no-assert
 * import { scanFds } from "@lib-users/lib-users";
 *
 * const { processes } = await scanFds();
 * console.log(processes.map((p) => p.pid));
 * ```
 */
export function scanFds(options: ScanOptions = {}): Promise<ScanResult> {
  // A rejected promise, never a synchronous throw, whatever goes wrong.
  return Promise.resolve().then(() => scan(options, collectOpen));
}

function scan(options: ScanOptions, collect: Collector): ScanResult {
  const context: ScanContext = {
    root: options.proc ?? "/proc",
    units: options.units ?? false,
    deletedByFile: new Map(),
    parsedLines: new Map(),
    ignored: compileIgnore(options.ignore ?? DEFAULT_IGNORE_RULES),
    unreadable: 0,
  };
  const self = collect === collectOpen ? ownPid(context.root) : undefined;
  const processes: ProcessFinding[] = [];
  for (const pid of listPids(context.root)) {
    if (pid === self) continue;
    let files: DeletedFile[];
    try {
      files = collect(context, pid);
    } catch (error) {
      if (classifyReadError(error) === "unreadable") context.unreadable++;
      continue;
    }
    if (files.length === 0) continue;
    const argv = readArgv(context, pid);
    if (argv === undefined || argv.length === 0) continue;
    const finding = { pid, argv, cmdline: argv.join(" ").trimEnd(), files: sortFiles(files) };
    processes.push(context.units ? { ...finding, unit: readUnit(context, pid) } : finding);
  }
  return { processes, unreadable: context.unreadable };
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

function readArgv(context: ScanContext, pid: number): string[] | undefined {
  let cmdline: string;
  try {
    cmdline = readWholeName(`${context.root}/${pid}/cmdline`);
  } catch (error) {
    if (classifyReadError(error) === "unreadable") context.unreadable++;
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

/** The process's unit; unknown when its cgroup file is missing or unreadable. */
function readUnit(context: ScanContext, pid: number): UnitInfo {
  try {
    const path = parseCgroupFile(readWholeName(`${context.root}/${pid}/cgroup`));
    return path === null ? UNKNOWN_UNIT : classifyCgroup(path);
  } catch (error) {
    classifyReadError(error);
    return UNKNOWN_UNIT;
  }
}

/**
 * Confirms a marked file by its link count: 0 means deleted. Returns undefined
 * when the entry cannot be stat'ed (fixture trees, OpenVZ, no privilege), and the
 * caller trusts the marker.
 */
function linkCountSaysDeleted(path: string): boolean | undefined {
  try {
    return Deno.statSync(path).nlink === 0;
  } catch (error) {
    classifyReadError(error);
    return undefined;
  }
}

/**
 * `parseMapsLine`, less the ignored names, parsed once per scan for each file:
 * after an update hundreds of processes map the same deleted library, and their
 * lines differ only in the address range.
 */
function parseCandidate(context: ScanContext, line: string): DeletedMapping | null {
  const split = splitAddressRange(line);
  if (split === null) return null;
  const [range, rest] = split;
  let parsed = context.parsedLines.get(rest);
  if (parsed === undefined) {
    // Parsed with a placeholder range, so the verdict holds for any range.
    const mapping = parseMapsLine(`0-0${rest}`);
    parsed = mapping && !context.ignored(mapping.path) ? mapping : null;
    context.parsedLines.set(rest, parsed);
  }
  return parsed && { range, file: parsed.file, path: parsed.path };
}

function collectMapped(context: ScanContext, pid: number): DeletedFile[] {
  const lines = readCandidateLines(`${context.root}/${pid}/maps`);
  if (lines.length === 0) return [];
  const dir = `${context.root}/${pid}`;
  const mappings = new Map<string, DeletedMapping>();
  for (const line of lines) {
    const mapping = parseCandidate(context, line);
    if (mapping && !mappings.has(mapping.path)) mappings.set(mapping.path, mapping);
  }
  if (mappings.size === 0) return [];
  const files: DeletedFile[] = [];
  let executable: string | undefined;
  for (const { path, range, file } of mappings.values()) {
    // Inode 0 names no file (pseudo mappings): never share a verdict through it.
    const key = file.endsWith(" 0") ? undefined : file;
    let deleted = key === undefined ? undefined : context.deletedByFile.get(key);
    if (deleted === undefined) {
      deleted = linkCountSaysDeleted(`${dir}/map_files/${mapFilesName(range)}`);
      if (deleted !== undefined && key !== undefined) context.deletedByFile.set(key, deleted);
    }
    if (deleted === false) continue;
    executable ??= readExecutable(dir);
    files.push({ path, kind: path === executable ? "executable" : "library" });
  }
  return files;
}

/** The deleted executable's name, or "" when the program file is not deleted or unknown. */
function readExecutable(dir: string): string {
  try {
    const target = readLinkName(`${dir}/exe`);
    return target.endsWith(DELETED_SUFFIX) ? target.slice(0, -DELETED_SUFFIX.length) : "";
  } catch (error) {
    classifyReadError(error);
    return "";
  }
}

function collectOpen(context: ScanContext, pid: number): DeletedFile[] {
  const dir = `${context.root}/${pid}/fd`;
  const seen = new Set<string>();
  const files: DeletedFile[] = [];
  let unreadable = false;
  for (const entry of Deno.readDirSync(dir)) {
    const link = `${dir}/${entry.name}`;
    let target: string;
    try {
      target = readLinkName(link);
    } catch (error) {
      // Counted once per process: a refused process refuses every fd alike.
      if (classifyReadError(error) === "unreadable") unreadable = true;
      continue;
    }
    if (!target.endsWith(DELETED_SUFFIX)) continue;
    const path = target.slice(0, -DELETED_SUFFIX.length);
    if (seen.has(path) || context.ignored(path)) continue;
    if (linkCountSaysDeleted(link) === false) continue;
    seen.add(path);
    files.push({ path, kind: "fd" });
  }
  if (unreadable) context.unreadable++;
  return files;
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
