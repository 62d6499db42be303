/**
 * What a scan finds, and the one rule by which two entries for one file merge.
 *
 * @module
 */

import type { UnitInfo } from "../proc/cgroup.ts";
import type { FileState, IdentityVerdict } from "../identity/judge.ts";

export type { FileState };

/** Which scan: files mapped (`/proc/PID/maps`, lib_users) or held open (`/proc/PID/fd`, fd_users). */
export type ScanKind = "libs" | "fds";

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
  /**
   * What stands at its path now in the process's root: another file
   * (`replaced`, what an update does) or nothing (`deleted`); absent when
   * that is not known (the kernel's marker decided, or the lookup could not tell).
   */
  readonly state?: FileState;
  /**
   * When it was replaced, in ms since the epoch (see `IdentityVerdict.replacedAt`;
   * with `--packages`, else its package's change time); absent when unknown.
   */
  readonly replacedAt?: number;
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
  /** When the process started, in ms since the epoch (with `ScanOptions.startTimes`); absent when unknown. */
  readonly startedAt?: number;
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

/** Orders files by name, then kind, in code-unit order: locale-free and stable across hosts. */
export function compareFiles(a: DeletedFile, b: DeletedFile): number {
  return compareText(a.path, b.path) || compareText(a.kind, b.kind);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The entry for a stale file, carrying why its verdict was reached where that is said. */
export function staleEntry(path: string, kind: FileKind, verdict: IdentityVerdict): DeletedFile {
  if (verdict.unverified !== undefined) return { path, kind, unverified: verdict.unverified };
  const { reason, state, replacedAt } = verdict;
  if (reason === undefined && state === undefined && replacedAt === undefined) {
    return { path, kind };
  }
  return {
    path,
    kind,
    ...(reason === undefined ? {} : { reason }),
    ...(state === undefined ? {} : { state }),
    ...(replacedAt === undefined ? {} : { replacedAt }),
  };
}

/** `kept` with what two checked entries of one file agree on: their state, and the earlier time. */
function mergeStates(kept: DeletedFile, other: DeletedFile): DeletedFile {
  const earlier = other.replacedAt !== undefined &&
    (kept.replacedAt === undefined || other.replacedAt < kept.replacedAt);
  if (kept.state === other.state && !earlier) return kept;
  const { state, replacedAt, ...rest } = kept;
  const since = earlier ? other.replacedAt : replacedAt;
  return {
    ...rest,
    ...(state === other.state && state !== undefined ? { state } : {}),
    ...(since === undefined ? {} : { replacedAt: since }),
  };
}

/**
 * Files in use, one entry per name and kind, merged by one rule wherever
 * entries meet (one process's mappings, a group's processes): of two entries
 * for one file, the one the kernel's marker decided wins, for it says why a
 * use could not be checked; else the first stays. A list (most sets are
 * small), indexed once it grows (a hostile process may map thousands).
 */
export class FileSet {
  /** The entries, in the order they came. */
  readonly files: DeletedFile[] = [];
  /** Index in `files` by kind, then name; made once the list grows. */
  #index: Map<FileKind, Map<string, number>> | null = null;

  /**
   * Adds an entry, or merges it with the one of its name and kind: where two
   * checked entries disagree on what stands at the path (two trees), neither
   * is said; the earlier time is kept.
   */
  add(file: DeletedFile): void {
    const at = this.#find(file.path, file.kind);
    if (at >= 0) {
      const kept = this.files[at]!;
      if (kept.unverified === undefined && file.unverified !== undefined) this.files[at] = file;
      else if (kept.unverified === undefined) this.files[at] = mergeStates(kept, file);
      return;
    }
    this.files.push(file);
    if (this.#index !== null) this.#indexed(file.kind).set(file.path, this.files.length - 1);
    else if (this.files.length === 16) {
      this.#index = new Map();
      this.files.forEach((f, i) => this.#indexed(f.kind).set(f.path, i));
    }
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
