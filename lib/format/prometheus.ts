/**
 * The Prometheus text format for node_exporter's textfile collector
 * (`--format=prometheus`).
 *
 * @module
 */

import { escapeUnsafe } from "./escape.ts";
import { countDistinctFiles, type Group } from "../scan/group.ts";
import { type RebootCheck, rebootKnown } from "../answers/reboot.ts";
import { type PackageOwners, packageUses } from "./packages.ts";
import type { DeletedFile, ScanKind } from "../scan/model.ts";
import type { Narrowed } from "../scan/narrow.ts";

/** Options of {@linkcode formatPrometheus}. */
export interface PrometheusOptions {
  /** Which scan produced the groups: the `scan` label. */
  readonly scan: ScanKind;
  /** How many processes could not be read. Default 0. */
  readonly unreadable?: number;
  /** How many processes were read completely. Default: not reported. */
  readonly scanned?: number;
  /** Deleted files left out of the lists, past the scan's budget of names. Default 0. */
  readonly notListed?: number;
  /** False when the scan could not run at all: then only `scan_success 0` is printed. Default true. */
  readonly success?: boolean;
  /**
   * Why the scan's answer is not the whole truth (it could not see every
   * process): then `scan_success 0` with the coverage gauges, and no stale
   * counts, which would read as "clean".
   */
  readonly incomplete?: string;
  /** The tool's version, for `lib_users_info{version}`. Default: no info metric. */
  readonly version?: string;
  /** The reboot check: `lib_users_reboot_required` and `lib_users_kernel_info`. Default: none. */
  readonly reboot?: RebootCheck;
  /** The packages of the stale files (`--packages`): `lib_users_stale_package_processes`. */
  readonly packages?: PackageOwners;
  /** When the run that scanned began: `lib_users_last_scan_timestamp_seconds`, also on a failed scan. */
  readonly scannedAt?: Date;
  /** What `--min-age` and `--replaced-only` left out: `lib_users_left_out_files`. */
  readonly narrowed?: Narrowed;
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
 * - `lib_users_stale_processes{scan,class,unit}`: processes using deleted files, per class and unit
 *   (present only for units that have some);
 * - `lib_users_stale_processes_all{scan}`: all of them, present with 0 too (alert on this one);
 * - `lib_users_stale_files{scan}`: distinct deleted files in use;
 * - `lib_users_stale_processes_by_state{scan,state}`: processes using a stale file that another
 *   file replaced at its path (`replaced`), that has nothing at its path (`deleted`), or whose
 *   state is not known (`unknown`), present with 0 too (a process may count under two);
 * - `lib_users_stale_since_seconds{scan,state}`: the earliest time (Unix seconds) a stale file in
 *   use of that state was replaced; absent when none is known;
 * - `lib_users_left_out_files{scan,by}`: files `--min-age` (`by="min_age"`) or `--replaced-only`
 *   (`by="replaced_only"`) left out, when given;
 * - `lib_users_last_scan_timestamp_seconds{scan}`: when the run began (Unix seconds), when given,
 *   also on a failed scan: the alert on a textfile gone stale;
 * - `lib_users_unreadable_processes{scan}`, `lib_users_scanned_processes{scan}`: coverage;
 * - `lib_users_scan_success{scan}`: 1 when the scan completed and saw every process it should, 0
 *   when it could not run (then nothing else but `lib_users_info`), saw only part of them, or
 *   listed only part of what it found (`lib_users_files_not_listed` above 0);
 * - `lib_users_info{version}` 1, when the version is given;
 * - `lib_users_reboot_required{reason}` (0 or 1), `lib_users_reboot_known` (0 or 1),
 *   `lib_users_kernel_info{running,newest,boots,state}` 1 and
 *   `lib_users_microcode_info{running,installed,state}` 1, when the reboot check is given (the
 *   info metrics also on a failed scan); `lib_users_reboot_required` is absent when the answer is
 *   unknown (the running kernel's state is unknown and nothing else asks for a reboot).
 *
 * @param groups From {@linkcode groupByArgv} (with units).
 * @param options The scan kind, the counts and whether the scan succeeded.
 * @returns The exposition text, ending in a newline.
 *
 * @example Metrics for node_exporter's textfile collector
 * ```ts
 * import { formatPrometheus } from "@lib-users/lib-users";
 * import { assertStringIncludes } from "@std/assert";
 *
 * const text = formatPrometheus([], { scan: "libs", scanned: 12 });
 * assertStringIncludes(text, 'lib_users_stale_processes_all{scan="libs"} 0\n');
 * assertStringIncludes(text, 'lib_users_scan_success{scan="libs"} 1\n');
 * ```
 */
export function formatPrometheus(groups: readonly Group[], options: PrometheusOptions): string {
  const scan = options.scan;
  const lines: string[] = [];
  const gauge: Gauge = (name, help, samples) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples);
  };
  if (options.version !== undefined) {
    gauge("lib_users_info", "The lib_users version that wrote these metrics.", [
      `lib_users_info${labels({ version: escapeUnsafe(options.version) })} 1`,
    ]);
  }
  const failed = options.success === false;
  if (options.scannedAt !== undefined) {
    gauge("lib_users_last_scan_timestamp_seconds", "When the last scan ran, in Unix seconds.", [
      `lib_users_last_scan_timestamp_seconds${labels({ scan })} ${
        Math.floor(options.scannedAt.getTime() / 1000)
      }`,
    ]);
  }
  if (options.reboot !== undefined) rebootGauges(options.reboot, failed, gauge);
  if (!failed && options.incomplete === undefined) {
    staleGauges(groups, scan, gauge);
    stateGauges(groups, scan, gauge);
    if (options.packages !== undefined) packageGauge(groups, options.packages, scan, gauge);
  }
  if (!failed && options.narrowed !== undefined) leftOutGauge(options.narrowed, scan, gauge);
  if (!failed) {
    gauge("lib_users_unreadable_processes", "Processes that could not be read.", [
      `lib_users_unreadable_processes${labels({ scan })} ${options.unreadable ?? 0}`,
    ]);
    gauge(
      "lib_users_files_not_listed",
      "Deleted files left out, past the scan's budget of names per process and per user.",
      [`lib_users_files_not_listed${labels({ scan })} ${options.notListed ?? 0}`],
    );
    if (options.scanned !== undefined) {
      gauge("lib_users_scanned_processes", "Processes read completely.", [
        `lib_users_scanned_processes${labels({ scan })} ${options.scanned}`,
      ]);
    }
  }
  const success = failed || options.incomplete !== undefined ? 0 : 1;
  gauge(
    "lib_users_scan_success",
    "1 when the scan completed and saw every process; 0 when it could not run or saw only part.",
    [`lib_users_scan_success${labels({ scan })} ${success}`],
  );
  return lines.join("\n") + "\n";
}

/** Writes one gauge: its help, its type and its samples. */
type Gauge = (name: string, help: string, samples: readonly string[]) => void;

/** The kernel's and microcode's state, and (unless the scan failed) whether a reboot is known and needed. */
function rebootGauges(reboot: RebootCheck, failed: boolean, gauge: Gauge): void {
  const { kernel, microcode } = reboot;
  gauge(
    "lib_users_kernel_info",
    "The running, the newest installed, and the boot loader's default kernel (boots empty: " +
      "not known; state: current, rebuilt, newer, unknown).",
    [
      `lib_users_kernel_info${
        labels({
          running: escapeUnsafe(kernel.running.release ?? ""),
          newest: escapeUnsafe(kernel.newest?.release ?? ""),
          boots: escapeUnsafe(kernel.boots?.release ?? ""),
          state: kernel.state,
        })
      } 1`,
    ],
  );
  const hex = (value: number | null) => value === null ? "" : `0x${value.toString(16)}`;
  gauge(
    "lib_users_microcode_info",
    "The running and the newest installed CPU microcode revision (state: current, newer, " +
      "not-applicable, unknown).",
    [
      `lib_users_microcode_info${
        labels({
          running: hex(microcode.running),
          installed: hex(microcode.installed),
          state: microcode.state,
        })
      } 1`,
    ],
  );
  if (failed) return;
  gauge(
    "lib_users_reboot_known",
    "1 when the reboot question has an answer; 0 when the running kernel's state is unknown " +
      "and nothing else asks for a reboot (lib_users_reboot_required is then absent).",
    [`lib_users_reboot_known ${rebootKnown(reboot) ? 1 : 0}`],
  );
  if (!rebootKnown(reboot)) return;
  gauge(
    "lib_users_reboot_required",
    "1 when the host needs a reboot; reason lists why (kernel, microcode, flag, pid1, risky).",
    [
      `lib_users_reboot_required${
        labels({ reason: [...new Set(reboot.reasons.map((r) => r.kind))].join(",") })
      } ${reboot.required ? 1 : 0}`,
    ],
  );
}

/** The label of a file's state: `unknown` when it is not known. */
function stateLabel(file: DeletedFile): "replaced" | "deleted" | "unknown" {
  return file.state ?? "unknown";
}

/** Processes by the states of their stale files, and since when each state has held. */
function stateGauges(groups: readonly Group[], scan: ScanKind, gauge: Gauge): void {
  const processes = { replaced: 0, deleted: 0, unknown: 0 };
  const since = new Map<string, number>();
  for (const group of groups) {
    const states = new Set<keyof typeof processes>();
    for (const file of group.files) {
      const state = stateLabel(file);
      states.add(state);
      if (file.replacedAt === undefined) continue;
      since.set(state, Math.min(since.get(state) ?? Infinity, file.replacedAt));
    }
    for (const state of states) processes[state] += group.pids.length;
  }
  gauge(
    "lib_users_stale_processes_by_state",
    "Processes using a stale file another file replaced at its path (replaced), with nothing " +
      "at its path (deleted: often a program's own temporary file), or not known (unknown).",
    Object.entries(processes).map(([state, count]) =>
      `lib_users_stale_processes_by_state${labels({ scan, state })} ${count}`
    ),
  );
  gauge(
    "lib_users_stale_since_seconds",
    "The earliest time, in Unix seconds, a stale file in use of this state was replaced.",
    ["replaced", "deleted", "unknown"].flatMap((state) => {
      const ms = since.get(state);
      return ms === undefined
        ? []
        : [`lib_users_stale_since_seconds${labels({ scan, state })} ${Math.floor(ms / 1000)}`];
    }),
  );
}

/** What --min-age and --replaced-only left out. */
function leftOutGauge(narrowed: Narrowed, scan: ScanKind, gauge: Gauge): void {
  gauge("lib_users_left_out_files", "Stale files --min-age or --replaced-only left out.", [
    ...(narrowed.minAgeMs === undefined ? [] : [
      `lib_users_left_out_files${labels({ scan, by: "min_age" })} ${narrowed.leftOut.young}`,
    ]),
    ...(narrowed.replacedOnly
      ? [
        `lib_users_left_out_files${
          labels({ scan, by: "replaced_only" })
        } ${narrowed.leftOut.deleted}`,
      ]
      : []),
  ]);
}

/** Processes using deleted files, by package. */
function packageGauge(
  groups: readonly Group[],
  packages: PackageOwners,
  scan: ScanKind,
  gauge: Gauge,
): void {
  gauge(
    "lib_users_stale_package_processes",
    "Processes using deleted files of a package (package empty: files no package owns; " +
      '"?": files whose package is not known).',
    packageUses(groups, packages).map((use) =>
      `lib_users_stale_package_processes${
        labels({
          scan,
          package: use.unknown !== undefined ? "?" : escapeUnsafe(use.owner?.name ?? ""),
          version: escapeUnsafe(use.owner?.version ?? ""),
        })
      } ${use.pids.length}`
    ),
  );
}

function staleGauges(groups: readonly Group[], scan: ScanKind, gauge: Gauge): void {
  const byUnit = new Map<string, { cls: string; unit: string; count: number }>();
  let total = 0;
  for (const group of groups) {
    const cls = group.unit?.class ?? "unknown";
    // Read on dashboards and with cat: no control or format character raw. Two
    // names that escape alike are one series (a label set may appear once).
    const unit = escapeUnsafe(group.unit?.name ?? "");
    const key = `${cls}\0${unit}`;
    const entry = byUnit.get(key) ?? { cls, unit, count: 0 };
    entry.count += group.pids.length;
    total += group.pids.length;
    byUnit.set(key, entry);
  }
  gauge(
    "lib_users_stale_processes",
    "Processes using deleted files, by class and unit.",
    [...byUnit.values()].sort((a, b) => (a.cls + a.unit < b.cls + b.unit ? -1 : 1)).map((e) =>
      `lib_users_stale_processes${labels({ scan, class: e.cls, unit: e.unit })} ${e.count}`
    ),
  );
  gauge("lib_users_stale_processes_all", "Processes using deleted files, all units.", [
    `lib_users_stale_processes_all${labels({ scan })} ${total}`,
  ]);
  gauge("lib_users_stale_files", "Distinct deleted files in use.", [
    `lib_users_stale_files${labels({ scan })} ${countDistinctFiles(groups)}`,
  ]);
}
