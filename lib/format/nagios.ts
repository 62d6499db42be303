/**
 * The Nagios/Icinga plugin format (`--format=nagios`): one status line with
 * performance data, and the plugin API's exit codes.
 *
 * @module
 */

import { NAGIOS_STATUS } from "./nagios_status.ts";
import { type NagiosRange, nagiosRangeAlerts } from "./nagios_range.ts";
import { escapeForTerminal } from "./escape.ts";
import { countDistinctFiles, type Group } from "../scan/group.ts";
import { type RebootCheck, rebootKnown } from "../answers/reboot.ts";
import { formatPackages, type PackageOwners } from "./packages.ts";
import type { ScanKind } from "../scan/model.ts";
import { stepName } from "../act/steps.ts";
import type { StepOutcome } from "../act/verify.ts";
import type { Narrowed } from "../scan/narrow.ts";
import { leftOutText } from "./age.ts";

export { NAGIOS_STATUS } from "./nagios_status.ts";
export { type NagiosRange, nagiosRangeAlerts, parseNagiosRange } from "./nagios_range.ts";

/** A count as the range that alerts above it (`N` is `0:N`). */
function asRange(threshold: number | NagiosRange): NagiosRange {
  if (typeof threshold !== "number") return threshold;
  return { start: 0, end: threshold, inside: false, text: String(threshold) };
}

/** Options of {@linkcode formatNagios}. */
export interface NagiosOptions {
  /** Which scan produced the groups (named in the message). */
  readonly scan: ScanKind;
  /** WARNING when the count of stale processes is outside it (a number N: above N). Default 0: any. */
  readonly warning?: number | NagiosRange;
  /** CRITICAL likewise. Default: never. */
  readonly critical?: number | NagiosRange;
  /** How many processes could not be read. Default 0. */
  readonly unreadable?: number;
  /** How many processes were read completely, for the performance data. */
  readonly scanned?: number;
  /** Deleted files left out of the lists, past the scan's budget of names. Default 0. */
  readonly notListed?: number;
  /**
   * Why the answer is not the whole truth (the scan could not see every
   * process, or did not finish): the state is then UNKNOWN, with what is known.
   */
  readonly incomplete?: string;
  /** The reboot check: a needed reboot is WARNING (CRITICAL with `rebootCritical`), named first. */
  readonly reboot?: RebootCheck;
  /** A needed reboot is CRITICAL. Default false. */
  readonly rebootCritical?: boolean;
  /**
   * A reboot question without an answer (the running kernel's state is
   * unknown) is OK rather than UNKNOWN. Default false.
   */
  readonly rebootUnknownOk?: boolean;
  /** The packages of the stale files (`--packages`): one long-output line each. */
  readonly packages?: PackageOwners;
  /**
   * What each step of a `--restart` run did (the groups are then what is left
   * after it): a step not clean is WARNING at least, named first.
   */
  readonly restarted?: readonly StepOutcome[];
  /** What `--min-age` and `--replaced-only` left out: said after the summary, and in perfdata. */
  readonly narrowed?: Narrowed;
}

/** A plugin result: the text to print and the exit code. */
export interface NagiosResult {
  /**
   * The status line (`STATE - summary | perfdata`), then the long output: one
   * line per group of stale processes. Ends in a newline.
   */
  readonly text: string;
  /** 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
  readonly exitCode: number;
}

/** The most units or command names the status line names, and its most characters of names. */
const MAX_NAMED = 5;
const MAX_NAMES_LENGTH = 200;

/**
 * Builds the plugin's output, by the monitoring-plugins guidelines: a short
 * first line `STATE - summary | perfdata` (older NRPE and Nagios cut long
 * output, and the first line must survive), then one line per group.
 *
 * @param groups From {@linkcode groupByArgv} (with units, to name them).
 * @param options Thresholds, the counts and whether the answer is complete.
 * @returns The text and the exit code.
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
  const warning = asRange(options.warning ?? 0);
  const critical = options.critical === undefined ? undefined : asRange(options.critical);
  const unreadable = options.unreadable ?? 0;
  const processes = groups.reduce((sum, group) => sum + group.pids.length, 0);
  const files = countDistinctFiles(groups);
  const what = options.scan === "fds" ? "deleted open files" : "deleted libraries";
  const reboot = options.reboot;
  const rebootState = reboot?.required ? (options.rebootCritical ? "CRITICAL" : "WARNING") : "OK";
  const staleState = critical !== undefined && nagiosRangeAlerts(critical, processes)
    ? "CRITICAL"
    : nagiosRangeAlerts(warning, processes)
    ? "WARNING"
    : "OK";
  const rebootUnknown = reboot !== undefined && !rebootKnown(reboot);
  const restarted = options.restarted ?? [];
  const notClean = restarted.filter((o) => o.state !== "clean" && o.state !== "marked");
  const restartState = notClean.length > 0 ? "WARNING" : "OK";
  const state = options.incomplete !== undefined || (rebootUnknown && !options.rebootUnknownOk)
    ? "UNKNOWN"
    : [staleState, rebootState].includes("CRITICAL")
    ? "CRITICAL"
    : [staleState, rebootState, restartState].includes("WARNING")
    ? "WARNING"
    : "OK";
  let summary = processes === 0
    ? `no process uses ${what}`
    : `${processes} process${processes === 1 ? "" : "es"} use${
      processes === 1 ? "s" : ""
    } ${what}: ${namesLine(groups)}`;
  if (options.incomplete !== undefined) {
    summary = `${options.incomplete}; of the processes read, ${
      processes === 0 ? `none uses ${what}` : summary
    }`;
  }
  if (rebootUnknown) {
    summary = `whether a reboot is needed is unknown (${
      escapeForTerminal(reboot.kernel.reason)
    }); ${summary}`;
  }
  if (unreadable > 0) summary += ` (${unreadable} unreadable)`;
  const notListed = options.notListed ?? 0;
  if (notListed > 0) summary += ` (${notListed} more files not listed)`;
  const narrowed = options.narrowed;
  if (narrowed !== undefined) summary += ` (${leftOutText(narrowed)})`;
  if (restarted.length > 0) summary = `${restartSummary(restarted, notClean)}; ${summary}`;
  if (reboot?.required) summary = `${rebootSummary(reboot)}; ${summary}`;
  const perfdata = [
    `stale_processes=${processes};${warning.text};${critical?.text ?? ""};0;`,
    `stale_groups=${groups.length};;;0;`,
    `stale_files=${files};;;0;`,
    `unreadable_processes=${unreadable};;;0;`,
    ...(notListed > 0 ? [`files_not_listed=${notListed};;;0;`] : []),
    ...(options.scanned === undefined ? [] : [`scanned_processes=${options.scanned};;;0;`]),
    // Unknown is no 0: the value is left out, as the plugin guidelines do for what was not measured.
    ...(reboot === undefined || rebootUnknown
      ? []
      : [`reboot_required=${reboot.required ? 1 : 0};;;0;1`]),
    ...(narrowed?.minAgeMs === undefined ? [] : [`left_out_young=${narrowed.leftOut.young};;;0;`]),
    ...(narrowed?.replacedOnly ? [`left_out_deleted=${narrowed.leftOut.deleted};;;0;`] : []),
    ...(restarted.length === 0
      ? []
      : [`restart_steps=${restarted.length};;;0;`, `restart_not_clean=${notClean.length};;;0;`]),
  ].join(" ");
  const details = longOutput(groups, options);
  const text = [`${state} - ${noPipe(summary)} | ${perfdata}`, ...details].join("\n") + "\n";
  return { text, exitCode: NAGIOS_STATUS[state] };
}

/** The lines after the status line: each group, then the packages and the reboot reasons. */
function longOutput(groups: readonly Group[], options: NagiosOptions): string[] {
  const details = groups.map((group) =>
    noPipe(
      `${group.unit?.name ? `${escapeForTerminal(group.unit.name)}: ` : ""}PIDs ${
        group.pids.join(",")
      } ${escapeForTerminal(group.cmdline)}`,
    )
  );
  if (options.packages !== undefined) {
    const section = formatPackages(groups, options.packages).split("\n").slice(1, -1);
    details.push(...section.map((line) => noPipe(`package: ${line.trimStart()}`)));
  }
  if (options.reboot !== undefined) details.push(...rebootLines(options.reboot));
  for (const outcome of options.restarted ?? []) {
    const next = outcome.next === undefined ? "" : `: ${outcome.next}`;
    details.push(
      noPipe(escapeForTerminal(`restart: ${stepName(outcome.step)}: ${outcome.state}${next}`)),
    );
  }
  return details;
}

/** A needed reboot's first reason, cut to a bounded length, and how many more. */
function rebootSummary(reboot: RebootCheck): string {
  const first = escapeForTerminal(reboot.reasons[0]!.text);
  const cut = first.length > MAX_NAMES_LENGTH
    ? `${first.slice(0, MAX_NAMES_LENGTH - 3)}...`
    : first;
  const more = reboot.reasons.length > 1 ? ` and ${reboot.reasons.length - 1} more` : "";
  return `reboot needed: ${cut}${more}`;
}

/** What a `--restart` run did, in the status line: done, or which steps are not clean. */
function restartSummary(
  restarted: readonly StepOutcome[],
  notClean: readonly StepOutcome[],
): string {
  if (notClean.length === 0) {
    return restarted.some((o) => o.state === "marked")
      ? `after --restart --mark: ${restarted.length} marked needs-restart`
      : `after --restart: ${restarted.length} restarted, all clean`;
  }
  const names = notClean.slice(0, MAX_NAMED).map((o) =>
    `${escapeForTerminal(stepName(o.step))} ${o.state}`
  );
  const more = notClean.length > MAX_NAMED ? ` and ${notClean.length - MAX_NAMED} more` : "";
  return `after --restart: ${notClean.length} of ${restarted.length} not clean: ${
    names.join(", ")
  }${more}`;
}

/** The reboot reasons, then how the kernel and the microcode stand where no reason says it. */
function rebootLines(reboot: RebootCheck): string[] {
  const lines = reboot.reasons.map((reason) =>
    `reboot: ${reason.text}${reason.packages ? ` (${reason.packages.join(", ")})` : ""}`
  );
  if (!reboot.reasons.some((reason) => reason.kind === "kernel")) {
    lines.push(`kernel: ${reboot.kernel.state}: ${reboot.kernel.reason}`);
  }
  if (!reboot.reasons.some((reason) => reason.kind === "microcode")) {
    lines.push(`microcode: ${reboot.microcode.state}: ${reboot.microcode.reason}`);
  }
  return lines.map((line) => noPipe(escapeForTerminal(line)));
}

/** Units, or command names, escaped, at most a few and a bounded length, then "and N more". */
function namesLine(groups: readonly Group[]): string {
  const names = [
    ...new Set(groups.map((group) => escapeForTerminal(group.unit?.name ?? group.cmdline))),
  ];
  const shown: string[] = [];
  let length = 0;
  for (const name of names) {
    if (shown.length === MAX_NAMED) break;
    const cut = name.length > MAX_NAMES_LENGTH ? `${name.slice(0, MAX_NAMES_LENGTH - 3)}...` : name;
    if (shown.length > 0 && length + cut.length > MAX_NAMES_LENGTH) break;
    shown.push(cut);
    length += cut.length + 2;
  }
  const more = names.length - shown.length;
  return shown.join(", ") + (more > 0 ? ` and ${more} more` : "");
}

/** A "|" would start the performance data: the plugin API has no escape for it. */
function noPipe(text: string): string {
  return text.replaceAll("|", "\\x7c");
}
