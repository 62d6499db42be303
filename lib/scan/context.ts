/**
 * What a scan carries from process to process, and the reads every collector
 * shares: a process's command line, name and unit, and the tally of processes
 * that could not be read.
 *
 * @module
 */

import type { MapsReader } from "../proc/maps_reader.ts";
import {
  classifyReadError,
  type ReadLimit,
  readWholeName,
  type WholeReader,
} from "../proc/procfs.ts";
import { classifyCgroup, parseCgroupFile, type UnitInfo, UNKNOWN_UNIT } from "../proc/cgroup.ts";
import type { IdentityJudge } from "../identity/judge.ts";
import type { TreeBudget, UserShares } from "./budget.ts";
import { MAX_UNREADABLE_LISTED, type NameBudget, type UnreadableProcess } from "./model.ts";

/** One scan's settings and running state, handed to each collector. */
export interface ScanContext {
  /** The proc root (`proc` is the proc root throughout; `root` a file-system root). */
  readonly proc: string;
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
  /** What the names kept of such a tree may cost all told; null on a confirmed procfs. */
  readonly tree: TreeBudget | null;
  /** Each user's share of the names kept (a confirmed procfs). */
  readonly shares: UserShares;
  readonly unreadable: Unreadable;
  scanned: number;
  /** Whether interpreters' scripts are looked at (`ScanOptions.scripts`, on a judged procfs, the boot time known). */
  readonly scripts: boolean;
  /** Whether each finding carries its start time (`ScanOptions.startTimes`, on a procfs). */
  readonly startTimes: boolean;
  /** The boot time, read once for scripts and start times; null when unknown or not needed. */
  readonly boot: number | null;
  readonly scriptsUnknown: { pid: number; reason: string }[];
  readonly budget: NameBudget;
  /** Files the collector of the process being read left out, past `budget.filesPerProcess`. */
  notListed: number;
}

/** The limits of a tree that is not a confirmed procfs, file by file: what the kernel could write. */
export interface TreeLimits {
  readonly maps: ReadLimit;
  readonly cmdline: ReadLimit;
  readonly cgroup: ReadLimit;
  readonly comm: ReadLimit;
  /** Open files of one process (the kernel's `nr_open` default). */
  readonly fds: number;
}

/** The limits every tree that is not a confirmed procfs is read within. */
export const TREE_LIMITS: TreeLimits = Object.freeze({
  // The kernel's lines are a path and five short fields: 60,000 mappings take ≈ 6 MB.
  maps: { maxBytes: 32 << 20 },
  // The argument vector fits in ARG_MAX (a quarter of the stack limit, a few MiB).
  cmdline: { maxBytes: 4 << 20 },
  cgroup: { maxBytes: 64 << 10 },
  comm: { maxBytes: 4 << 10 },
  fds: 1 << 20,
});

/** The processes that could not be read: each counted once, the first few named with why. */
export class Unreadable {
  /** How many, all told. */
  count = 0;
  /** The first {@linkcode MAX_UNREADABLE_LISTED}, with why. */
  readonly listed: UnreadableProcess[] = [];
  /** The PID last counted: a process is counted once, however many of its reads fail. */
  #last = -1;

  /** Counts process `pid` unreadable, once however many of its reads fail. */
  mark(pid: number, reason: string): void {
    if (this.#last === pid) return;
    this.#last = pid;
    this.count++;
    if (this.listed.length < MAX_UNREADABLE_LISTED) this.listed.push({ pid, reason });
  }
}

/** Why a read failed, in a few words: the kernel's, less Deno's decoration. */
export function whyNot(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  const message = error instanceof Error ? error.message : String(error);
  const words = message.replace(/ \(os error [0-9]+\)[^]*$/, "");
  return words.charAt(0).toLowerCase() + words.slice(1);
}

/** The argument vector of process `pid`; undefined when it exited or could not be read (counted). */
export function readArgv(context: ScanContext, pid: number): string[] | undefined {
  let cmdline: string;
  try {
    const path = `${context.proc}/${pid}/cmdline`;
    cmdline = context.limits
      ? readWholeName(path, context.limits.cmdline)
      : context.argvReader.read(path);
  } catch (error) {
    if (classifyReadError(error) === "unreadable") context.unreadable.mark(pid, whyNot(error));
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
export function readComm(context: ScanContext, pid: number): string | undefined {
  try {
    const comm = readWholeName(`${context.proc}/${pid}/comm`, context.limits?.comm);
    return `[${comm.endsWith("\n") ? comm.slice(0, -1) : comm}]`;
  } catch (error) {
    if (classifyReadError(error) === "unreadable") context.unreadable.mark(pid, whyNot(error));
    return undefined;
  }
}

/** The process's unit; unknown when its cgroup file is missing or unreadable. */
export function readUnit(context: ScanContext, pid: number): UnitInfo {
  try {
    const text = readWholeName(`${context.proc}/${pid}/cgroup`, context.limits?.cgroup);
    const path = parseCgroupFile(text);
    return path === null ? UNKNOWN_UNIT : classifyCgroup(path);
  } catch (error) {
    classifyReadError(error);
    return UNKNOWN_UNIT;
  }
}
