/**
 * Times as people read them: how long ago a file was replaced ("3 days"),
 * and what `--min-age` and `--replaced-only` left out, in one phrase every
 * text format shares.
 *
 * @module
 */

import type { Narrowed } from "../scan/narrow.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * A span in words, rounded down to its largest unit: `less than a minute`,
 * `1 minute`, `5 hours`, `3 days`.
 *
 * @example
 * ```ts
 * import { formatAge } from "./age.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals([formatAge(59_000), formatAge(90 * 60_000), formatAge(3 * 86_400_000)], [
 *   "less than a minute",
 *   "1 hour",
 *   "3 days",
 * ]);
 * ```
 */
export function formatAge(ms: number): string {
  const [count, unit] = ms >= DAY
    ? [ms / DAY, "day"]
    : ms >= HOUR
    ? [ms / HOUR, "hour"]
    : [ms / MINUTE, "minute"];
  const whole = Math.floor(count);
  if (whole < 1) return "less than a minute";
  return `${whole} ${unit}${whole === 1 ? "" : "s"}`;
}

/** "1 file", "3 files". */
function counted(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * What a narrowing left out, in one phrase: `--min-age 6 hours left out 2
 * files replaced since; --replaced-only left out 3 deleted files`, with the
 * processes that had nothing else.
 *
 * @example
 * ```ts
 * import { leftOutText } from "./age.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(
 *   leftOutText({ minAgeMs: 6 * 3_600_000, leftOut: { young: 2, deleted: 0, processes: 1 } }),
 *   "--min-age 6 hours left out 2 files replaced less long ago (1 process had nothing else)",
 * );
 * ```
 */
export function leftOutText(narrowed: Narrowed): string {
  const { minAgeMs, replacedOnly, leftOut } = narrowed;
  const parts: string[] = [];
  if (minAgeMs !== undefined) {
    parts.push(
      `--min-age ${formatAge(minAgeMs)} left out ${
        counted(leftOut.young, "file")
      } replaced less long ago`,
    );
  }
  if (replacedOnly) {
    parts.push(`--replaced-only left out ${counted(leftOut.deleted, "deleted file")}`);
  }
  const gone = leftOut.processes;
  const whole = gone > 0 ? ` (${counted(gone, "process", "processes")} had nothing else)` : "";
  return parts.join("; ") + whole;
}
