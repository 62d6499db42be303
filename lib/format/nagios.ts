/**
 * The Nagios/Icinga plugin format (`--format=nagios`): one status line with
 * performance data, and the plugin API's exit codes.
 *
 * @module
 */

import { NAGIOS_STATUS } from "./nagios_status.ts";
import { escapeForTerminal } from "./escape.ts";
import { countDistinctFiles, type Group } from "../group.ts";

export { NAGIOS_STATUS } from "./nagios_status.ts";

/** Options of {@linkcode formatNagios}. */
export interface NagiosOptions {
  /** Which scan produced the groups (named in the message). */
  readonly scan: "libs" | "fds";
  /** WARNING when more than this many processes are stale. Default 0: any. */
  readonly warning?: number;
  /** CRITICAL when more than this many processes are stale. Default: never. */
  readonly critical?: number;
  /** How many processes could not be read. Default 0. */
  readonly unreadable?: number;
}

/** A plugin result: the line to print and the exit code. */
export interface NagiosResult {
  /** The status line, ending in a newline. */
  readonly text: string;
  /** 0 OK, 1 WARNING, 2 CRITICAL. */
  readonly exitCode: number;
}

const MAX_NAMED = 5;

/**
 * Builds the plugin's status line: `STATE - summary | perfdata`. Thresholds
 * follow the plugin guidelines: a state is raised when the count of stale
 * processes is above it.
 *
 * @param groups From {@linkcode groupByArgv} (with units, to name them).
 * @param options Thresholds and the unreadable count.
 * @returns The line and the exit code.
 *
 * @example A status line and its exit code
 * ```ts
 * import { formatNagios } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const result = formatNagios([], { scan: "libs" });
 * assertEquals(result.exitCode, 0);
 * assertEquals(result.text.startsWith("OK - "), true);
 * ```
 */
export function formatNagios(groups: readonly Group[], options: NagiosOptions): NagiosResult {
  const warning = options.warning ?? 0;
  const critical = options.critical;
  const unreadable = options.unreadable ?? 0;
  const processes = groups.reduce((sum, group) => sum + group.pids.length, 0);
  const files = countDistinctFiles(groups);
  const names = [...new Set(groups.map((group) => group.unit?.name ?? group.cmdline))];
  const what = options.scan === "fds" ? "deleted open files" : "deleted libraries";
  const state = critical !== undefined && processes > critical
    ? "CRITICAL"
    : processes > warning
    ? "WARNING"
    : "OK";
  let summary: string;
  if (processes === 0) {
    summary = `no process uses ${what}`;
  } else {
    const shown = names.slice(0, MAX_NAMED).map(escapeForTerminal).join(", ");
    const more = names.length > MAX_NAMED ? ` and ${names.length - MAX_NAMED} more` : "";
    summary = `${processes} process${processes === 1 ? "" : "es"} use${
      processes === 1 ? "s" : ""
    } ${what}: ${shown}${more}`;
  }
  if (unreadable > 0) summary += ` (${unreadable} unreadable)`;
  // Summaries are escaped, and a "|" would start the performance data.
  summary = summary.replaceAll("|", "\\x7c");
  const perfdata = [
    `stale_processes=${processes};${warning};${critical ?? ""};0;`,
    `stale_groups=${groups.length};;;0;`,
    `stale_files=${files};;;0;`,
    `unreadable_processes=${unreadable};;;0;`,
  ].join(" ");
  return { text: `${state} - ${summary} | ${perfdata}\n`, exitCode: NAGIOS_STATUS[state] };
}
