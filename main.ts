/**
 * The `lib_users` command line: parse flags, scan, print, choose the exit code.
 *
 * @module
 */

import config from "./deno.json" with { type: "json" };
import {
  type CliOptions,
  EXIT,
  helpText,
  NAGIOS_UNKNOWN,
  parseCli,
  UsageError,
  usageHint,
} from "./cli/flags.ts";
import { invocation } from "./cli/invocation.ts";
// The modules every run needs. The others (other formats, restart plan, units
// via systemctl, colours) are imported when asked for: start-up is most of a
// scan's cost, and cron and monitoring run this every minute.
import { type Group, groupByArgv } from "./lib/group.ts";
import { formatHuman, type HumanStyle } from "./lib/format/human.ts";
import { formatMachine } from "./lib/format/machine.ts";
import {
  isGranted,
  needsAllowAll,
  PASSWD_PERMISSION,
  scanPermission,
  SYSTEMCTL_PERMISSION,
} from "./lib/permissions.ts";
import { scanFds, scanLibs, type ScanResult } from "./lib/scan.ts";
import type { RebootCheck } from "./lib/reboot.ts";
import type { PackageOwners } from "./lib/format/packages.ts";
import {
  Interrupted,
  OutputError,
  writeDocument,
  writeFileAtomically,
  writeRecords,
  writeTo,
} from "./cli/output.ts";

/** Runs the CLI with `args` and returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // The Nagios plugin API wants UNKNOWN (3) for bad usage too, on stdout.
    if (error.nagios) write(`UNKNOWN - ${error.message}\n`);
    else fail(`${error.message}\n${usageHint(invocation().command)}`);
    return error.exitCode;
  }
  if (options.help) return write(helpText(invocation().command));
  if (options.version) return write(`lib_users ${config.version}\n`);

  const outcome = await runScan(options);
  if (!outcome.ok) return await reportScanFailure(outcome.reason, options);
  const scanned = outcome.result;
  const groups = groupByArgv(scanned.processes);
  const reboot = options.reboot ? await rebootCheck(groups, options) : undefined;
  const packages = options.packages ? await packageOwners(groups, options) : undefined;
  const code = await output(groups, scanned, { reboot, packages }, options);
  if (options.format !== "nagios" && !options.quiet) warnCoverage(scanned, options);
  return code;
}

/** The reboot question, asked only when the output answers it (a few small reads). */
async function rebootCheck(groups: readonly Group[], options: CliOptions): Promise<RebootCheck> {
  const { checkReboot } = await import("./lib/reboot.ts");
  // A stale PID 1 or risky unit speaks for a reboot only from mapped files.
  return checkReboot({
    root: options.root,
    proc: options.proc,
    ...(options.scan === "libs" ? { groups } : {}),
  });
}

/**
 * The packages of the stale files, from dpkg's database under `--root`, else
 * rpm's SQLite database; an empty map, said once on stderr, where there is
 * neither (an rpm database of the older Berkeley DB or NDB formats is not read).
 */
async function packageOwners(
  groups: readonly Group[],
  options: CliOptions,
): Promise<PackageOwners> {
  const { findPackageOwners } = await import("./lib/packages.ts");
  const paths = groups.flatMap((group) => group.files.map((file) => file.path));
  const dpkg = await findPackageOwners(paths, options.root);
  if (dpkg !== null) return dpkg;
  const { findRpmOwners } = await import("./lib/rpm.ts");
  const rpm = await findRpmOwners(paths, options.root);
  if (rpm !== null) return rpm;
  fail(
    `--packages: no dpkg database nor rpm SQLite database readable under ${options.root}: ` +
      "packages are not named",
  );
  return new Map();
}

/**
 * Why monitoring must not take this answer as the whole truth: the scan did
 * not finish in time, or could not see every process (unless accepted).
 */
function incompleteReason(result: ScanResult, options: CliOptions): string | undefined {
  if (!result.finished) {
    return `the scan did not finish within ${options.timeout} s (${result.scanned} processes checked)`;
  }
  return options.allowPartial ? undefined : result.limited;
}

/** A scan's result, or the one-line reason it could not run. */
type ScanOutcome =
  | { readonly ok: true; readonly result: ScanResult }
  | { readonly ok: false; readonly reason: string };

/** Scans; a proc root that cannot be read is a reason, not an exception. */
async function runScan(options: CliOptions): Promise<ScanOutcome> {
  const { proc } = options;
  const failed = (reason: string): ScanOutcome => ({ ok: false, reason });
  if (!isGranted(scanPermission(proc))) return failed(noPermissionMessage(proc));
  const scan = options.scan === "fds" ? scanFds : scanLibs;
  try {
    const result = await scan({
      proc,
      ignore: options.ignore,
      units: options.units,
      // Only JSON prints a file's kind; the others spare the exe link.
      kinds: options.format === "json",
      scripts: options.scripts,
      // performance.now() counts from start-up; a margin is left for the output.
      ...(options.timeout === undefined
        ? {}
        : { deadline: Math.max(0, options.timeout * 1000 - DEADLINE_MARGIN_MS) }),
    });
    return { ok: true, result };
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return failed(noPermissionMessage(proc));
    const reason = rootError(error);
    if (reason === undefined) throw error;
    return failed(`Cannot read "${proc}": ${reason}`);
  }
}

/** What a Nagios run keeps of its timeout for printing the answer. */
const DEADLINE_MARGIN_MS = 50;

/** Why the proc root could not be listed, or undefined for an error that is a bug. */
function rootError(error: unknown): string | undefined {
  if (error instanceof Deno.errors.NotFound) return "no such directory";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotADirectory) return "not a directory";
  if (error instanceof Deno.errors.FilesystemLoop) return "too many levels of symbolic links";
  // Any other refusal by the operating system to list the root is about the root.
  if (Object.values(Deno.errors).some((kind) => error instanceof kind)) {
    return (error as Error).message;
  }
  return undefined;
}

async function reportScanFailure(reason: string, options: CliOptions): Promise<number> {
  if (options.format === "nagios") {
    emit(`UNKNOWN - ${reason.split("\n")[0]}\n`, options);
    return NAGIOS_UNKNOWN;
  }
  // A textfile collector should see the failure, not stale numbers; a file
  // written by --output keeps its last good contents (node_exporter reports
  // its age as node_textfile_mtime_seconds).
  if (options.format === "prometheus" && options.output === undefined) {
    const { formatPrometheus } = await import("./lib/format/prometheus.ts");
    write(formatPrometheus([], { scan: options.scan, success: false, version: config.version }));
  }
  fail(reason);
  return EXIT.USAGE;
}

function noPermissionMessage(proc: string): string {
  if (!needsAllowAll(proc)) {
    return `Cannot read "${proc}": Deno was not given --allow-read=${proc} (or -A)`;
  }
  const lines = [
    `Cannot read "${proc}": Deno allows reads under /proc, /sys and /dev only with --allow-all,`,
    `even when --allow-read names them. Ways out:`,
  ];
  if (invocation().fromSource) {
    lines.push(
      `  ${invocation().command} …   run with all permissions`,
      `  deno compile -A -o lib_users main.ts   build a binary that has them`,
    );
  } else {
    lines.push(`  deno install -g -A -f -n lib_users …   install the command again with -A`);
  }
  lines.push(
    `  mount -t proc proc /mnt/proc, then run with --allow-read=/mnt/proc --proc /mnt/proc`,
  );
  return lines.join("\n");
}

async function output(
  groups: Group[],
  result: ScanResult,
  answers: { reboot: RebootCheck | undefined; packages: PackageOwners | undefined },
  options: CliOptions,
): Promise<number> {
  const { reboot, packages } = answers;
  const withPackages = packages === undefined ? {} : { packages };
  const userNames = async () => {
    if (!isGranted(PASSWD_PERMISSION)) return new Map<number, string>();
    const { readUserNames } = await import("./cli/passwd.ts");
    return readUserNames();
  };
  const counts = { unreadable: result.unreadable, scanned: result.scanned };
  const incomplete = incompleteReason(result, options);
  switch (options.format) {
    case "nagios": {
      const { formatNagios } = await import("./lib/format/nagios.ts");
      const { text, exitCode } = formatNagios(groups, {
        scan: options.scan,
        warning: options.warning,
        ...counts,
        ...(options.critical === undefined ? {} : { critical: options.critical }),
        ...(incomplete === undefined ? {} : { incomplete }),
        ...(reboot === undefined ? {} : { reboot, rebootCritical: options.rebootCritical }),
        ...withPackages,
      });
      emit(text, options);
      return exitCode;
    }
    case "prometheus": {
      const { formatPrometheus } = await import("./lib/format/prometheus.ts");
      emit(
        formatPrometheus(groups, {
          scan: options.scan,
          ...counts,
          version: config.version,
          ...(incomplete === undefined ? {} : { incomplete }),
          ...(reboot === undefined ? {} : { reboot }),
          ...withPackages,
        }),
        options,
      );
      break;
    }
    case "json": {
      const { formatJson } = await import("./lib/format/json.ts");
      emit(
        formatJson(groups, {
          scan: options.scan,
          ...counts,
          ...(result.limited === undefined ? {} : { limited: result.limited }),
          ...(result.scriptsUnknown === undefined ? {} : { scriptsUnknown: result.scriptsUnknown }),
          ...(reboot === undefined ? {} : { reboot }),
          ...withPackages,
          userNames: await userNames(),
        }),
        options,
      );
      break;
    }
    case "machine":
    case "human": {
      const style = options.format === "human" && await useColour(options)
        ? colourStyle()
        : undefined;
      let out = options.format === "machine" ? formatMachine(groups) : formatHuman(groups, {
        showFiles: options.showFiles,
        showUnits: options.showFiles && options.services === "cgroup",
        ...(style ? { style } : {}),
        ...withPackages,
      });
      const services = options.services && groups.length > 0
        ? await describeServices(groups, options)
        : "";
      if (services !== "") out += "\n" + services;
      const packagesText = packages !== undefined && groups.length > 0
        ? await describePackages(groups, packages, options)
        : "";
      if (packagesText !== "" && !options.restartHints) out += "\n" + packagesText;
      if (options.restartHints && groups.length > 0) {
        const { planRestarts } = await import("./lib/restart.ts");
        const { formatRestartPlan } = await import("./lib/format/restart.ts");
        out += "\n" + formatRestartPlan(planRestarts(groups, { userNames: await userNames() }));
        // After the plan, as shell comments: which update each restart answers.
        if (packagesText !== "") out += "\n" + packagesText;
      }
      if (reboot !== undefined) {
        const { formatReboot } = await import("./lib/format/reboot.ts");
        out += (out === "" ? "" : "\n") + formatReboot(reboot, options.restartHints);
      }
      if (options.output !== undefined) writeFileAtomically(options.output, out);
      else await writeRecords(out);
    }
  }
  const found = groups.length > 0 || reboot?.required === true;
  return options.check && found ? EXIT.STALE : EXIT.OK;
}

/** The packages section: for scripts after `-m`, as comments after the restart plan, else for people. */
async function describePackages(
  groups: readonly Group[],
  packages: PackageOwners,
  options: CliOptions,
): Promise<string> {
  const { formatPackages, formatPackagesMachine } = await import("./lib/format/packages.ts");
  if (options.format === "machine" && !options.restartHints) {
    return formatPackagesMachine(groups, packages);
  }
  return formatPackages(groups, packages, options.restartHints);
}

/** Writes a document or status line to `--output` or stdout. */
function emit(text: string, options: CliOptions): void {
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

async function describeServices(groups: readonly Group[], options: CliOptions): Promise<string> {
  const { unitsFromGroups, unitsFromSystemctl } = await import("./lib/services.ts");
  const { formatServices } = await import("./lib/format/services.ts");
  if (options.services === "cgroup") return formatServices(groups, unitsFromGroups(groups));
  const unavailable = (why: string) => {
    // Said on stderr, where cron and the terminal show it; the section stays empty.
    fail(`cannot run systemctl for -S: ${why}`);
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

/** The warnings about what the scan could not read or see, on stderr. */
function warnCoverage(result: ScanResult, options: CliOptions): void {
  let text = "";
  if (result.unreadable > 0) {
    text += "Warning: Some files could not be read.\n";
    const uidKnown = isGranted({ name: "sys", kind: "uid" });
    // The Python tools' note, unless the scan knows better why (limited); when
    // the uid cannot be read (no --allow-sys=uid), nothing rather than a guess.
    if (result.limited === undefined && uidKnown && Deno.uid() !== 0) {
      const tool = options.scan === "fds" ? "fd_users" : "lib_users";
      const what = options.scan === "fds" ? "files" : "libraries";
      text +=
        `Note that ${tool} has to be run as root to get a full list of deleted in-use ${what}.\n`;
    }
  }
  if (result.limited !== undefined) text += `Warning: ${result.limited}.\n`;
  if (text !== "") writeTo(Deno.stderr, text);
}

/**
 * Whether the human output is coloured: `--color`, or by default on a
 * terminal unless NO_COLOR is set to something (no-color.org: an empty value
 * does not count).
 */
async function useColour(options: CliOptions): Promise<boolean> {
  if (options.color !== "auto") return options.color === "always";
  if (!Deno.stdout.isTerminal()) return false;
  const variable: Deno.EnvPermissionDescriptor = { name: "env", variable: "NO_COLOR" };
  // Asked first: an ungranted read would make Deno prompt on a terminal.
  if ((await Deno.permissions.query(variable)).state !== "granted") return !Deno.noColor;
  return (Deno.env.get("NO_COLOR") ?? "") === "";
}

function fail(message: string): void {
  writeTo(Deno.stderr, `lib_users: ${message}\n`);
}

function write(text: string): number {
  writeDocument(text);
  return EXIT.OK;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    if (error instanceof OutputError) {
      fail(`cannot write the output: ${error.message}`);
      Deno.exit(EXIT.USAGE);
    }
    if (error instanceof Interrupted) Deno.exit(EXIT[error.signal]);
    const message = error instanceof Error ? error.message : String(error);
    fail(`unexpected error: ${message}\nPlease report this as a bug.`);
    Deno.exit(EXIT.INTERNAL);
  }
}
