/**
 * The Prometheus text format for node_exporter's textfile collector
 * (`--format=prometheus`).
 *
 * @module
 */

import { escapeUnsafe } from "./escape.ts";
import { countDistinctFiles, type Group } from "../group.ts";

/** Options of {@linkcode formatPrometheus}. */
export interface PrometheusOptions {
  /** Which scan produced the groups: the `scan` label. */
  readonly scan: "libs" | "fds";
  /** How many processes could not be read. Default 0. */
  readonly unreadable?: number;
  /** False when the scan could not run at all (then groups is empty). Default true. */
  readonly success?: boolean;
}

/** Escapes a label value as the exposition format requires. */
function labelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs).map(([k, v]) => `${k}="${labelValue(v)}"`).join(",")}}`;
}

/**
 * Formats the metrics:
 * - `lib_users_stale_processes{scan,class,unit}`: processes using deleted files, per class and unit;
 * - `lib_users_stale_files{scan}`: distinct deleted files in use;
 * - `lib_users_unreadable_processes{scan}`: processes that could not be read;
 * - `lib_users_scan_success{scan}`: 1 when the scan completed, 0 when it could not run.
 *
 * @param groups From {@linkcode groupByArgv} (with units).
 * @param options The scan kind, unreadable count and success.
 * @returns The exposition text, ending in a newline.
 *
 * @example Metrics for node_exporter's textfile collector
 * ```ts
 * import { formatPrometheus } from "@lib-users/lib-users";
 * import { assertStringIncludes } from "@std/assert";
 *
 * assertStringIncludes(formatPrometheus([], { scan: "libs" }), 'lib_users_scan_success{scan="libs"} 1\n');
 * ```
 */
export function formatPrometheus(groups: readonly Group[], options: PrometheusOptions): string {
  const scan = options.scan;
  const byUnit = new Map<string, { cls: string; unit: string; count: number }>();
  for (const group of groups) {
    const cls = group.unit?.class ?? "unknown";
    // Read on dashboards and with cat: no control or format character raw. Two
    // names that escape alike are one series (a label set may appear once).
    const unit = escapeUnsafe(group.unit?.name ?? "");
    const key = `${cls}\0${unit}`;
    const entry = byUnit.get(key) ?? { cls, unit, count: 0 };
    entry.count += group.pids.length;
    byUnit.set(key, entry);
  }
  const files = countDistinctFiles(groups);
  const lines = [
    "# HELP lib_users_stale_processes Processes using deleted files, by class and unit.",
    "# TYPE lib_users_stale_processes gauge",
    ...[...byUnit.values()].sort((a, b) => (a.cls + a.unit < b.cls + b.unit ? -1 : 1)).map((e) =>
      `lib_users_stale_processes${labels({ scan, class: e.cls, unit: e.unit })} ${e.count}`
    ),
    "# HELP lib_users_stale_files Distinct deleted files in use.",
    "# TYPE lib_users_stale_files gauge",
    `lib_users_stale_files${labels({ scan })} ${files}`,
    "# HELP lib_users_unreadable_processes Processes that could not be read.",
    "# TYPE lib_users_unreadable_processes gauge",
    `lib_users_unreadable_processes${labels({ scan })} ${options.unreadable ?? 0}`,
    "# HELP lib_users_scan_success 1 when the scan completed, 0 when it could not run.",
    "# TYPE lib_users_scan_success gauge",
    `lib_users_scan_success${labels({ scan })} ${options.success === false ? 0 : 1}`,
  ];
  return lines.join("\n") + "\n";
}
