/**
 * What the CLI prints after a scan: the chosen format with the answers asked
 * for (units, the restart plan, packages, the reboot question), to stdout or
 * `--output`, and the exit code it makes.
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };
import { EXIT } from "./exit.ts";
import type { OutputFormat } from "./options.ts";
import type { CliOptions } from "./parse.ts";
import type { Group } from "../lib/scan/group.ts";
import { formatHuman, type HumanStyle } from "../lib/format/human.ts";
import { formatMachine } from "../lib/format/machine.ts";
import { isGranted, SYSTEMCTL_PERMISSION } from "../lib/proc/permissions.ts";
import type { ScanResult } from "../lib/scan/model.ts";
import type { RebootCheck } from "../lib/answers/reboot.ts";
import type { PackageOwners } from "../lib/format/packages.ts";
import type { RestartRun } from "../lib/act/verify.ts";
import { warn, writeDocument, writeFileAtomically, writeRecords } from "./output.ts";
import type { Narrowed } from "../lib/scan/narrow.ts";

/** The reboot question, asked only when the output answers it (a few small reads). */
export async function rebootCheck(
  groups: readonly Group[],
  options: CliOptions,
): Promise<RebootCheck> {
  const { checkReboot } = await import("../lib/answers/reboot.ts");
  // A stale PID 1 or risky unit speaks for a reboot only from mapped files.
  return checkReboot({
    root: options.root,
    proc: options.proc,
    ...(options.scan === "libs" ? { groups } : {}),
  });
}

/**
 * The packages of the stale files, each process's from the database of the
 * tree it sees (`--root`'s for the scanner's own: dpkg's, else rpm's SQLite
 * database); where one cannot be read, its packages are unknown, said once on
 * stderr for each reason (an rpm database of the older Berkeley DB or NDB
 * formats is not read).
 */
export async function packageOwners(
  result: ScanResult,
  options: CliOptions,
): Promise<PackageOwners> {
  const { findProcessPackages } = await import("../lib/answers/package_roots.ts");
  const found = await findProcessPackages(result.processes, {
    proc: options.proc,
    root: options.root,
    procfs: result.procfs,
  });
  const unknown = new Map<string, number[]>();
  for (const [pid, lookup] of found.byPid) {
    if ("unknown" in lookup) {
      unknown.set(lookup.unknown, [...unknown.get(lookup.unknown) ?? [], pid]);
    }
  }
  if (unknown.size > 0) {
    const { escapeForTerminal } = await import("../lib/format/escape.ts");
    for (const [reason, pids] of unknown) {
      warn(
        `Cannot name the packages of PIDs ${pids.sort((a, b) => a - b).join(",")} ` +
          `(--packages): ${escapeForTerminal(reason)}`,
      );
    }
  }
  return found;
}

/** When the run began: the time JSON's `scanned_at` and the ages of files count to. */
export const RUN_STARTED_MS: number = performance.timeOrigin;

/**
 * The scan's findings dated by their packages where the scan could not
 * (`--packages`), then narrowed as `--min-age` and `--replaced-only` ask,
 * with what they left out.
 */
export async function settle(
  scanned: ScanResult,
  packages: PackageOwners | undefined,
  options: CliOptions,
): Promise<{ result: ScanResult; narrowed?: Narrowed }> {
  let processes = scanned.processes;
  if (packages !== undefined && "byPid" in packages) {
    const { withPackageTimes } = await import("../lib/answers/package_roots.ts");
    processes = withPackageTimes(processes, packages);
  }
  const { minAgeMs, replacedOnly } = options;
  if (minAgeMs === undefined && !replacedOnly) return { result: { ...scanned, processes } };
  const { narrowFindings } = await import("../lib/scan/narrow.ts");
  const asked = { ...present({ minAgeMs }), ...(replacedOnly ? { replacedOnly } : {}) };
  const narrowed = narrowFindings(processes, { ...asked, now: RUN_STARTED_MS });
  return {
    result: { ...scanned, processes: narrowed.processes },
    narrowed: { ...asked, leftOut: narrowed.leftOut },
  };
}

/**
 * Why monitoring must not take this answer as the whole truth: the scan did
 * not finish in time, or could not see every process (unless accepted).
 */
export function incompleteReason(result: ScanResult, options: CliOptions): string | undefined {
  if (!result.finished) {
    return `the scan did not finish within ${options.timeout} s (${result.scanned} processes checked)`;
  }
  if (result.notListed !== undefined) {
    return "the lists were cut, past what the scan keeps of names (see files_not_listed)";
  }
  return options.allowPartial ? undefined : result.limited;
}

/** The answers a scan may come with, besides its groups. */
export interface Answers {
  readonly reboot: RebootCheck | undefined;
  readonly packages: PackageOwners | undefined;
  /** A `--restart` run before this scan (JSON and Nagios say what it did; the scan is what is left). */
  readonly restart?: RestartRun;
  /** What `--min-age` and `--replaced-only` left out. */
  readonly narrowed?: Narrowed;
}

/** What every format is told of the scan: what it read, what it could not, and the answers. */
interface Facts {
  readonly groups: Group[];
  readonly result: ScanResult;
  readonly answers: Answers;
  readonly options: CliOptions;
  /** The counts every machine format carries. */
  readonly counts: {
    readonly unreadable: number;
    readonly unreadableProcesses: ScanResult["unreadableProcesses"];
    readonly scanned: number;
    readonly notListed?: number;
  };
  /** Why the answer is not the whole one, where monitoring must not take it for a clean one. */
  readonly incomplete: string | undefined;
}

/** Says on stderr what `--min-age` and `--replaced-only` left out, when they left out anything (not with `-q`). */
export async function warnLeftOut(narrowed: Narrowed | undefined, options: CliOptions) {
  if (narrowed === undefined || options.quiet) return;
  if (narrowed.leftOut.young + narrowed.leftOut.deleted === 0) return;
  const { leftOutText } = await import("../lib/format/age.ts");
  warn(`Left out: ${leftOutText(narrowed)}`);
}

/** The formats that say what `--min-age` and `--replaced-only` left out in their own output. */
const SAY_NARROWING: readonly OutputFormat[] = ["json", "nagios", "prometheus"];

/** Prints the groups and the answers as `options` ask; returns the exit code. */
export async function render(
  groups: Group[],
  result: ScanResult,
  answers: Answers,
  options: CliOptions,
): Promise<number> {
  const facts: Facts = {
    groups,
    result,
    answers,
    options,
    counts: {
      unreadable: result.unreadable,
      unreadableProcesses: result.unreadableProcesses,
      scanned: result.scanned,
      ...present({ notListed: result.notListed }),
    },
    incomplete: incompleteReason(result, options),
  };
  switch (options.format) {
    case "nagios":
      return await renderNagios(facts);
    case "prometheus":
      await renderPrometheus(facts);
      break;
    case "needrestart":
      await renderNeedrestart(facts);
      break;
    case "json":
      await renderJson(facts);
      break;
    case "machine":
    case "human":
      await renderText(facts);
  }
  // Formats with no place of their own for it (the text ones, needrestart's): said on stderr.
  if (!SAY_NARROWING.includes(options.format)) await warnLeftOut(answers.narrowed, options);
  // A list cut short is said by its own code: a script must not take it for the whole answer.
  if (result.notListed !== undefined) return EXIT.TRUNCATED;
  const found = groups.length > 0 || answers.reboot?.required === true;
  return options.check && found ? EXIT.STALE : EXIT.OK;
}

/** The fields of `fields` that are set: the formats take their options only when present. */
function present<T extends Record<string, unknown>>(
  fields: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

/** The Nagios status line; its exit code is the plugin API's. */
async function renderNagios({ groups, answers, options, counts, incomplete }: Facts) {
  const { formatNagios } = await import("../lib/format/nagios.ts");
  const { reboot, packages, restart, narrowed } = answers;
  const { text, exitCode } = formatNagios(groups, {
    scan: options.scan,
    warning: options.warning,
    ...counts,
    ...present({
      critical: options.critical,
      incomplete,
      packages,
      restarted: restart?.outcomes,
      narrowed,
    }),
    ...(reboot === undefined ? {} : {
      reboot,
      rebootCritical: options.rebootCritical,
      rebootUnknownOk: options.allowPartial,
    }),
  });
  emit(text, options);
  return exitCode;
}

async function renderPrometheus({ groups, answers, options, counts, incomplete }: Facts) {
  const { formatPrometheus } = await import("../lib/format/prometheus.ts");
  const { packages, narrowed } = answers;
  emit(
    formatPrometheus(groups, {
      scan: options.scan,
      ...counts,
      scannedAt: new Date(RUN_STARTED_MS),
      ...present({ incomplete, packages, narrowed, ...hostWide(answers, options) }),
    }),
    options,
  );
}

/**
 * The host's own series (the version, the reboot check): the libs scan's
 * alone, unless `--reboot` asks the fds scan's too. node_exporter reads every
 * textfile as one, and refuses a series two files carry (contrib/systemd
 * writes one per scan).
 */
function hostWide(answers: Answers, options: CliOptions) {
  return { ...hostVersion(options), ...present({ reboot: answers.reboot }) };
}

/** `lib_users_info`'s version, one of the host's own series: the libs scan's alone. */
export function hostVersion(options: CliOptions): { version?: string } {
  return options.scan === "libs" ? { version: config.version } : {};
}

async function renderNeedrestart({ groups, answers, options }: Facts) {
  const { formatNeedrestart } = await import("../lib/format/needrestart.ts");
  // Always asked of this format (a document): the kernel and microcode lines need it.
  const reboot = answers.reboot!;
  emit(formatNeedrestart(groups, { reboot, userNames: await userNames() }), options);
}

async function renderJson({ groups, result, answers, options, counts }: Facts) {
  const { formatJson } = await import("../lib/format/json.ts");
  const { reboot, packages, restart, narrowed } = answers;
  emit(
    formatJson(groups, {
      scan: options.scan,
      host: hostName(),
      // The run's start: the scan begins a few milliseconds after it.
      scannedAt: new Date(RUN_STARTED_MS),
      ...counts,
      procfs: result.procfs,
      finished: result.finished,
      ...present({
        limited: result.limited,
        scriptsUnknown: result.scriptsUnknown,
        reboot,
        packages,
        restart,
        narrowed,
      }),
      userNames: await userNames(),
    }),
    options,
  );
}

/** The human or machine output, with the sections asked for after the groups. */
async function renderText({ groups, answers, options, incomplete }: Facts) {
  const { reboot, packages } = answers;
  const style = options.format === "human" && await useColor(options) ? colourStyle() : undefined;
  // -S and the plan both note the markers: systemd is asked once.
  let markers: Promise<Set<string>> | undefined;
  const marked = () => markers ??= markedOnLiveHost(groups, options);
  let out = options.format === "machine" ? formatMachine(groups) : formatHuman(groups, {
    showFiles: options.showFiles,
    showUnits: options.showFiles && options.unitSource === "cgroup",
    now: RUN_STARTED_MS,
    ...(style ? { style } : {}),
    ...present({ packages }),
  });
  const services = options.unitSource && groups.length > 0
    ? await describeServices(groups, options, marked)
    : "";
  if (services !== "") out += "\n" + services;
  const packagesText = packages !== undefined && groups.length > 0
    ? await describePackages(groups, packages, options)
    : "";
  if (packagesText !== "" && !options.restartHints) out += "\n" + packagesText;
  const plan = options.restartHints
    ? (await import("../lib/answers/restart.ts")).planRestarts(groups, {
      userNames: await userNames(),
      root: options.root,
    })
    : undefined;
  if (plan !== undefined && groups.length > 0) {
    const { formatRestartPlan } = await import("../lib/format/restart.ts");
    out += "\n" + formatRestartPlan(plan, await marked());
    // After the plan, as shell comments: which update each restart answers.
    if (packagesText !== "") out += "\n" + packagesText;
  }
  if (reboot !== undefined) {
    const { formatReboot } = await import("../lib/format/reboot.ts");
    out += (out === "" ? "" : "\n") + formatReboot(reboot, options.restartHints);
  }
  if (plan !== undefined && reboot !== undefined) {
    // The plan's last line, a comment too: the least disruptive step that clears what is left.
    const { nextStepOfPlan, runningSystemdVersion } = await import("../lib/answers/next_step.ts");
    const systemd = runningSystemdVersion(options.proc);
    const next = nextStepOfPlan(plan, reboot, systemd, incomplete === undefined);
    const { escapeForTerminal } = await import("../lib/format/escape.ts");
    out += `# Next: ${escapeForTerminal(next.text)}\n`;
  }
  if (options.output !== undefined) writeFileAtomically(options.output, out);
  else await writeRecords(out);
}

/** This host's name, where Deno may ask it; null otherwise. */
function hostName(): string | null {
  if (!isGranted({ name: "sys", kind: "hostname" })) return null;
  try {
    return Deno.hostname();
  } catch {
    return null;
  }
}

/** User names by uid where the passwd file may be read (loaded only when names are needed). */
async function userNames(): Promise<Map<number, string>> {
  const { grantedUserNames } = await import("./passwd.ts");
  return grantedUserNames();
}

/** The packages section: for scripts after `-m`, as comments after the restart plan, else for people. */
async function describePackages(
  groups: readonly Group[],
  packages: PackageOwners,
  options: CliOptions,
): Promise<string> {
  const { formatPackages, formatPackagesMachine } = await import("../lib/format/packages.ts");
  if (options.format === "machine" && !options.restartHints) {
    return formatPackagesMachine(groups, packages);
  }
  return formatPackages(groups, packages, options.restartHints);
}

/** Writes a document or status line to `--output` or stdout. */
export function emit(text: string, options: CliOptions): void {
  if (options.output !== undefined) writeFileAtomically(options.output, text);
  else writeDocument(text);
}

/**
 * Bold PIDs and cyan file names, as SGR sequences of our own: `@std/fmt/colors`
 * cannot be turned on while NO_COLOR is set, which `--color=always` must do.
 */
function colourStyle(): HumanStyle {
  return {
    pids: (text) => `\x1b[1m${text}\x1b[22m`,
    cmdline: (text) => text,
    files: (text) => `\x1b[36m${text}\x1b[39m`,
  };
}

async function describeServices(
  groups: readonly Group[],
  options: CliOptions,
  marked: () => Promise<Set<string>>,
): Promise<string> {
  const { unitsFromGroups, unitsFromSystemctl } = await import("../lib/answers/services.ts");
  const { formatServices } = await import("../lib/format/services.ts");
  if (options.unitSource === "cgroup") {
    return formatServices(groups, unitsFromGroups(groups), await marked());
  }
  const unavailable = (why: string) => {
    // Said on stderr, where cron and the terminal show it; the section stays empty.
    warn(`Cannot run systemctl for -S: ${why}`);
    return "";
  };
  if (!isGranted(SYSTEMCTL_PERMISSION)) {
    return unavailable("not permitted (run with --allow-run=systemctl or -A)");
  }
  try {
    const units = await unitsFromSystemctl(groups.flatMap((group) => group.pids));
    return formatServices(groups, units);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return unavailable("not installed");
    if (error instanceof Error) return unavailable(error.message);
    throw error;
  }
}

/**
 * The host's system units among the groups that carry systemd's
 * `needs-restart` marker: asked only of the live system (the proc root
 * `/proc`) and where systemctl may run; none otherwise.
 */
async function markedOnLiveHost(groups: readonly Group[], options: CliOptions) {
  if (options.proc !== "/proc" || !isGranted(SYSTEMCTL_PERMISSION)) return new Set<string>();
  const units = new Set<string>();
  for (const group of groups) {
    if (group.unit?.class === "system-service" && group.unit.name) units.add(group.unit.name);
  }
  const { markedUnits } = await import("../lib/answers/services.ts");
  return await markedUnits([...units]);
}

/**
 * Whether the human output is coloured: `--color`, or by default on a
 * terminal unless NO_COLOR is set to something (no-color.org: an empty value
 * does not count).
 */
async function useColor(options: CliOptions): Promise<boolean> {
  if (options.color !== "auto") return options.color === "always";
  if (!Deno.stdout.isTerminal()) return false;
  const variable: Deno.EnvPermissionDescriptor = { name: "env", variable: "NO_COLOR" };
  // Asked first: an ungranted read would make Deno prompt on a terminal.
  if ((await Deno.permissions.query(variable)).state !== "granted") return !Deno.noColor;
  return (Deno.env.get("NO_COLOR") ?? "") === "";
}
