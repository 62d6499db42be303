/**
 * Narrowing a scan's findings to what an admin asked to see: files replaced
 * long enough ago (`--min-age`, the debounce for an update still running),
 * and files something else now stands in for (`--replaced-only`, the update
 * signal without programs' own deleted temporary files). What is left out is
 * counted, never dropped unsaid.
 *
 * @module
 */

import type { ProcessFinding } from "./model.ts";

/** What to leave out of a scan's findings. */
export interface Narrowing {
  /** Leave out files replaced less than this many ms before `now`; those of unknown time stay. */
  readonly minAgeMs?: number;
  /** Leave out files known to be `deleted` (nothing at their path); those of unknown state stay. */
  readonly replacedOnly?: boolean;
  /** The time ages count to, in ms since the epoch (the scan's). */
  readonly now: number;
}

/** What a narrowing left out. */
export interface LeftOut {
  /** Distinct file names left out as replaced less than `minAgeMs` ago. */
  readonly young: number;
  /** Distinct file names left out as deleted (`replacedOnly`). */
  readonly deleted: number;
  /** Processes that had nothing else stale, left out whole. */
  readonly processes: number;
}

/** How far past the scan a replacement may be dated and still count: a clock's jitter. */
const FUTURE_SLACK_MS = 60_000;

/**
 * The findings less what `narrowing` leaves out, and the tally of it. A
 * process with no file left (and none past the scan's budget) is left out.
 *
 * @example A file replaced a minute ago waits; one of unknown time stays
 * ```ts
 * import { narrowFindings } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const now = Date.parse("2026-12-06T12:00:00Z");
 * const files = [
 *   { path: "/usr/lib/libssl.so.3", kind: "library" as const, state: "replaced" as const, replacedAt: now - 60_000 },
 *   { path: "/usr/lib/libz.so.1", kind: "library" as const },
 * ];
 * const { processes, leftOut } = narrowFindings(
 *   [{ pid: 7, argv: ["a"], cmdline: "a", files }],
 *   { minAgeMs: 3_600_000, now },
 * );
 * assertEquals(processes[0]!.files.map((f) => f.path), ["/usr/lib/libz.so.1"]);
 * assertEquals(leftOut, { young: 1, deleted: 0, processes: 0 });
 * ```
 */
export function narrowFindings(
  processes: readonly ProcessFinding[],
  narrowing: Narrowing,
): { processes: ProcessFinding[]; leftOut: LeftOut } {
  const young = new Set<string>();
  const deleted = new Set<string>();
  let gone = 0;
  // Replaced after the cutoff is too young; with no --min-age, nothing is.
  const cutoff = narrowing.minAgeMs === undefined ? Infinity : narrowing.now - narrowing.minAgeMs;
  const kept: ProcessFinding[] = [];
  for (const process of processes) {
    const files = process.files.filter((file) => {
      if (narrowing.replacedOnly && file.state === "deleted") {
        deleted.add(file.path);
        return false;
      }
      // A time after the scan (a clock set back since) is no age: it stays, as an unknown one.
      const at = file.replacedAt;
      if (at !== undefined && at > cutoff && at <= narrowing.now + FUTURE_SLACK_MS) {
        young.add(file.path);
        return false;
      }
      return true;
    });
    if (files.length === process.files.length) kept.push(process);
    else if (files.length > 0 || process.notListed) kept.push({ ...process, files });
    else gone++;
  }
  return {
    processes: kept,
    leftOut: { young: young.size, deleted: deleted.size, processes: gone },
  };
}

/** What a narrowing asked for and left out, as every format says it. */
export interface Narrowed {
  /** `--min-age`, in ms, when given. */
  readonly minAgeMs?: number;
  /** `--replaced-only`, when given. */
  readonly replacedOnly?: boolean;
  /** What it left out. */
  readonly leftOut: LeftOut;
}
