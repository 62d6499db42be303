/**
 * Threshold ranges of the monitoring-plugins guidelines, for `--warning` and
 * `--critical`. A module of its own: the CLI checks them while parsing flags,
 * without loading the Nagios format.
 *
 * @module
 */

/**
 * A threshold in the monitoring-plugins range syntax: `10` (alert outside
 * 0..10), `10:` (below 10), `~:10` (above 10), `10:20` (outside 10..20),
 * `@10:20` (inside 10..20).
 */
export interface NagiosRange {
  /** The lower end; `-Infinity` for `~`. */
  readonly start: number;
  /** The upper end; `Infinity` when open. */
  readonly end: number;
  /** `@`: alert inside the range instead of outside. */
  readonly inside: boolean;
  /** The range as written, for the performance data. */
  readonly text: string;
}

const RANGE = /^(@)?(?:(~|-?[0-9]+(?:\.[0-9]+)?):)?(-?[0-9]+(?:\.[0-9]+)?)?$/;

/**
 * Parses a threshold range (see {@linkcode NagiosRange}); null when it is not one.
 *
 * @example The guidelines' forms
 * ```ts
 * import { parseNagiosRange } from "@lib-users/lib-users";
 * import { nagiosRangeAlerts } from "./nagios_range.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const above10 = parseNagiosRange("10")!;
 * assertEquals([nagiosRangeAlerts(above10, 10), nagiosRangeAlerts(above10, 11)], [false, true]);
 * assertEquals(nagiosRangeAlerts(parseNagiosRange("@10:20")!, 15), true);
 * assertEquals(parseNagiosRange("ten"), null);
 * ```
 */
export function parseNagiosRange(text: string): NagiosRange | null {
  const match = RANGE.exec(text);
  if (match === null || text === "" || text === "@") return null;
  const [, at, low, high] = match;
  if (high === undefined && low === undefined) return null;
  const start = low === undefined ? 0 : low === "~" ? -Infinity : Number(low);
  const end = high === undefined ? Infinity : Number(high);
  if (start > end) return null;
  return { start, end, inside: at !== undefined, text };
}

/** Whether `value` raises the state a range guards. */
export function nagiosRangeAlerts(range: NagiosRange, value: number): boolean {
  const within = value >= range.start && value <= range.end;
  return range.inside ? within : !within;
}
