/**
 * What a scan can see of the proc root it was given: whether it is a procfs by
 * the kernel's own word, whether it holds processes at all, and, when the
 * scan saw only part of them for want of privilege, why.
 *
 * @module
 */

import { classifyReadError, type ReadLimit, readWholeName } from "../proc/procfs.ts";
import { type Mount, parseMountInfo } from "../proc/mounts.ts";
import { isGranted } from "../proc/permissions.ts";
import { ProcRootError } from "./model.ts";

/** The processes of a proc root, and which is the scan's own. */
export interface ProcRootListing {
  /** Numeric directory names, ascending. */
  readonly pids: number[];
  /** The PID the root's `self` names on a real procfs; undefined on a tree of files. */
  readonly self: number | undefined;
}

/**
 * Lists the proc root's processes, or throws when it cannot be scanned: it
 * holds none, or it is a procfs in which the scan cannot find itself.
 *
 * @throws {ProcRootError}
 */
export function listProcRoot(proc: string, trusted: boolean): ProcRootListing {
  const pids = listPids(proc);
  const self = ownPid(proc);
  if (pids.length === 0) {
    throw new ProcRootError(
      `"${proc}" holds no process: it is not a proc root (is a procfs mounted there?)`,
    );
  }
  if (trusted && self !== Deno.pid) {
    throw new ProcRootError(
      `"${proc}" is a procfs in which the scan cannot find itself (another PID namespace's?): ` +
        "whose processes it shows cannot be told",
    );
  }
  return { pids, self };
}

/** Numeric directory names of the proc root, ascending. */
function listPids(proc: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync(proc)) {
    // Number("") is 0 and Number("1e3") 1000: check the digits, without a regex per entry.
    const first = entry.name.charCodeAt(0);
    if (!entry.isDirectory || first < 0x30 || first > 0x39) continue;
    const pid = Number(entry.name);
    if (Number.isInteger(pid) && String(pid) === entry.name) pids.push(pid);
  }
  return pids.sort((a, b) => a - b);
}

/** The PID `root/self` points to on a real procfs; undefined on a fixture tree. */
function ownPid(proc: string): number | undefined {
  try {
    const target = Deno.readLinkSync(`${proc}/self`);
    return /^[0-9]+$/.test(target) ? Number(target) : undefined;
  } catch (error) {
    classifyReadError(error);
    return undefined;
  }
}

/** Reads anywhere: what judging identity in the processes' own trees takes. */
export const WHOLE_TREE: Deno.ReadPermissionDescriptor = Object.freeze({
  name: "read",
  path: "/",
});

const OWN_MOUNTS: Deno.ReadPermissionDescriptor = Object.freeze({
  name: "read",
  path: "/proc/self/mountinfo",
});

/** The inode of every procfs's root directory (the kernel's `PROC_ROOT_INO`). */
const PROC_ROOT_INO = 1;

/** What the tree's own mount table may hold before it is confirmed to be the kernel's. */
const OWN_TABLE_LIMIT: ReadLimit = Object.freeze({ maxBytes: 16 << 20 });

/**
 * The proc root's mount when it is a procfs by the kernel's own word: a mount
 * of type `proc` in the scanner's `/proc/self/mountinfo`, or, where only the
 * tree may be read (`--allow-read=DIR`), in the table of the tree's own
 * `self`, once that is this very process and the tree's root is inode 1 as
 * every procfs's is (no tree of files can fake both). Else the tree counts as
 * untrusted.
 */
export function confirmedProcfs(proc: string): Mount | undefined {
  // Asked first: an ungranted read would make Deno prompt on a terminal.
  const own = isGranted(OWN_MOUNTS);
  try {
    const point = Deno.realPathSync(proc);
    let table: string;
    if (own) table = Deno.readTextFileSync(OWN_MOUNTS.path!);
    else {
      if (Deno.statSync(point).ino !== PROC_ROOT_INO) return undefined;
      if (Deno.readLinkSync(`${proc}/self`) !== String(Deno.pid)) return undefined;
      table = readWholeName(`${proc}/self/mountinfo`, OWN_TABLE_LIMIT);
    }
    const mount = parseMountInfo(table).byPoint.get(point);
    return mount?.type === "proc" ? mount : undefined;
  } catch {
    return undefined;
  }
}

/** How many processes a scan read and could not read, for {@linkcode limitedView}. */
export interface ScanTally {
  readonly unreadable: number;
  readonly scanned: number;
}

/**
 * Why this scan saw only part of the processes for lack of privilege, or
 * undefined. Reading another user's maps or fds takes `CAP_SYS_PTRACE` (root
 * has it): without it, processes the scan could not read are other users',
 * and `hidepid=` hides them without a trace.
 */
export function limitedView(proc: string, procMount: Mount, tally: ScanTally): string | undefined {
  const hidepid = /(?:^|,)hidepid=([^,]+)/.exec(procMount.options)?.[1];
  const hides = hidepid !== undefined && hidepid !== "0" && hidepid !== "off";
  const subset = /(?:^|,)subset=pid(?:,|$)/.test(procMount.options);
  // Asked only when something was missed: most scans read everything.
  if (!hides && tally.unreadable === 0) return undefined;
  const own = readOwnStatus(proc);
  if (own.canReadOthers) return undefined;
  const who = own.uid === null ? "not root" : `not root (uid ${own.uid})`;
  // The Python tools' words, which scripts look for.
  const need = "it has to be run as root, or with CAP_SYS_PTRACE " +
    "(and CAP_CHECKPOINT_RESTORE to check identities)";
  if (hides) {
    return `${proc} is mounted with hidepid=${hidepid}${subset ? ",subset=pid" : ""}: ` +
      `other users' processes are invisible to a scan that is ${who}; ${need}`;
  }
  return `${who}: ${tally.unreadable} of ${tally.unreadable + tally.scanned} ` +
    `processes (other users') could not be read; ${need}`;
}

/** CAP_SYS_PTRACE, which reading other users' maps and fds takes (proc(5), ptrace(2)). */
const CAP_SYS_PTRACE = 19;

/**
 * Who the scan runs as, by its own `status` in the proc root (readable with
 * only `--allow-read` on it): its effective uid, and whether it has
 * `CAP_SYS_PTRACE` in effect; null and false where unknown.
 */
function readOwnStatus(proc: string): { uid: number | null; canReadOthers: boolean } {
  try {
    const status = Deno.readTextFileSync(`${proc}/self/status`);
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
