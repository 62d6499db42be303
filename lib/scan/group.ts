/**
 * Grouping of findings by program: processes with the same argument vector form
 * one row.
 *
 * @module
 */

import { compareFiles, type DeletedFile, FileSet, type ProcessFinding } from "./model.ts";
import type { UnitInfo } from "../proc/cgroup.ts";

/** Processes with the identical argument vector, and the deleted files they use. */
export interface Group {
  /** Process IDs, ascending numerically. */
  readonly pids: readonly number[];
  /** The shared argument vector. */
  readonly argv: readonly string[];
  /** The command line as printed (argv joined with spaces, trailing whitespace removed). */
  readonly cmdline: string;
  /** The deleted files of all these processes, sorted by name, without duplicates. */
  readonly files: readonly DeletedFile[];
  /** The unit all these processes belong to, when the scan read units. */
  readonly unit?: UnitInfo;
  /** Deleted files the scan left out of these processes' lists (see `ProcessFinding.notListed`). */
  readonly notListed?: number;
  /**
   * When each process of `pids` started (ms since the epoch, null when
   * unknown), in the order of `pids`; absent when no start time is known.
   */
  readonly startedAt?: readonly (number | null)[];
}

/**
 * Groups findings by their exact argument vector, so `["a b", "c"]` and
 * `["a", "b c"]` stay apart although they print alike, and, when the findings
 * carry units, by unit too: one program in two services is two things to
 * restart. Groups come in order of their lowest PID.

 *
 * @param processes Findings of {@linkcode scanLibs} or {@linkcode scanFds}.
 * @returns The groups.
 *
 * @example One row per command line, PIDs in numeric order
 * ```ts
 * import { groupByArgv } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const files = [{ path: "/lib/libc.so.6", kind: "library" as const }];
 * const groups = groupByArgv([
 *   { pid: 1000, argv: ["cron", "-f"], cmdline: "cron -f", files },
 *   { pid: 99, argv: ["cron", "-f"], cmdline: "cron -f", files },
 * ]);
 * assertEquals(groups.map((g) => g.pids), [[99, 1000]]);
 * ```
 */
export function groupByArgv(processes: readonly ProcessFinding[]): Group[] {
  interface Building {
    pids: number[];
    argv: readonly string[];
    cmdline: string;
    /** One entry per name and kind: a file used two ways is two entries. */
    files: FileSet;
    unit: UnitInfo | undefined;
    notListed: number;
    started: Map<number, number> | undefined;
  }
  const byKey = new Map<string, Building>();
  for (const process of processes) {
    // NUL cannot occur inside an argument, so it separates them unambiguously.
    // The command line tells apart programs that cleared their arguments (`[comm]`).
    const key = `${process.argv.join("\0")}\0\0${process.cmdline}\0\0` +
      JSON.stringify(process.unit ?? null);
    let group = byKey.get(key);
    if (!group) {
      group = {
        pids: [],
        argv: process.argv,
        cmdline: process.cmdline,
        files: new FileSet(),
        unit: process.unit,
        notListed: 0,
        started: undefined,
      };
      byKey.set(key, group);
    }
    group.pids.push(process.pid);
    group.notListed += process.notListed ?? 0;
    if (process.startedAt !== undefined) {
      (group.started ??= new Map()).set(process.pid, process.startedAt);
    }
    // Where one process's use was checked and another's only marked, the latter is said.
    for (const file of process.files) group.files.add(file);
  }
  return [...byKey.values()]
    .map((group) => {
      const pids = group.pids.sort((a, b) => a - b);
      const started = group.started;
      return {
        pids,
        argv: group.argv,
        cmdline: group.cmdline,
        files: group.files.files.sort(compareFiles),
        ...(group.unit ? { unit: group.unit } : {}),
        ...(group.notListed > 0 ? { notListed: group.notListed } : {}),
        ...(started ? { startedAt: pids.map((pid) => started.get(pid) ?? null) } : {}),
      };
    })
    .sort((a, b) => a.pids[0]! - b.pids[0]!);
}

/** The distinct file names of a group, in order (a name used two ways counts once). */
export function fileNames(group: Group): string[] {
  const names: string[] = [];
  for (const file of group.files) {
    if (names[names.length - 1] !== file.path) names.push(file.path);
  }
  return names;
}

/** How many distinct file names all the groups use together. */
export function countDistinctFiles(groups: readonly Group[]): number {
  const names = new Set<string>();
  for (const group of groups) for (const file of group.files) names.add(file.path);
  return names.size;
}
