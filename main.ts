/**
 * The `lib_users` command line: parse flags, scan, print, choose the exit code.
 *
 * @module
 */

import config from "./deno.json" with { type: "json" };
import { EXIT, NAGIOS_UNKNOWN, UsageError } from "./cli/exit.ts";
import { loadConfig } from "./cli/config.ts";
import type { CliOptions } from "./cli/parse.ts";
import { invocation } from "./cli/invocation.ts";
// The modules every run needs. The others (other formats, the restart plan,
// units via systemctl, packages, the reboot check) are imported when asked
// for: start-up is most of a scan's cost, and cron and monitoring run this
// every minute.
import {
  emit,
  hostVersion,
  incompleteReason,
  packageOwners,
  rebootCheck,
  render,
  RUN_STARTED_MS,
  settle,
  warnLeftOut,
} from "./cli/render.ts";
import { groupByArgv } from "./lib/scan/group.ts";
import { isGranted, needsAllowAll, scanPermission } from "./lib/proc/permissions.ts";
import { scanFds, scanLibs } from "./lib/scan/scan.ts";
import { DEFAULT_NAME_BUDGET, ProcRootError, type ScanResult } from "./lib/scan/model.ts";
import { Interrupted, OutputError, warn, writeDocument, writeTo } from "./cli/output.ts";
import { escapeForTerminal } from "./lib/format/escape.ts";
import type { RestartRun } from "./lib/act/verify.ts";

// The flag parser brings an npm package: it is loaded here, not by a static
// import, so that a run which cannot load it (from source, by a user whose Deno
// cache lacks it, with no network) says so in one line and exit 2, not in
// Deno's trace and exit 1 (--check's "stale").
const { parseCli } = await load(() => import("./cli/parse.ts"));

/** Runs the CLI with `args` and returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  if (args[0] === "fleet") return await fleet(args.slice(1));
  let options: CliOptions;
  try {
    options = parseCli(args, loadConfig(args));
  } catch (thrown) {
    if (!(thrown instanceof UsageError)) throw thrown;
    // A file's error is found before the flags are read: whether this is a Nagios run, from them.
    const error = !thrown.nagios && asksForNagios(args)
      ? new UsageError(thrown.message, true)
      : thrown;
    // The Nagios plugin API wants UNKNOWN (3) for bad usage too, on stdout.
    if (error.nagios) write(`UNKNOWN - ${error.message}\n`);
    else {
      const { usageHint } = await import("./cli/help.ts");
      warn(`${error.message}\n${usageHint(invocation().command)}`);
    }
    return error.exitCode;
  }
  if (options.help) {
    const { helpText } = await import("./cli/help.ts");
    return write(helpText(invocation().command));
  }
  if (options.version) return write(`lib_users ${config.version}\n`);
  if (options.completions) {
    const { completionScript } = await import("./cli/completions.ts");
    return write(completionScript(options.completions));
  }

  const restart = options.restart;
  if (restart !== null) {
    const { cannotRestart, refuse } = await import("./cli/act.ts");
    const why = cannotRestart(restart);
    if (why !== undefined) return refuse(why, options);
  }
  const outcome = await runScan(options);
  if (!outcome.ok) return await reportScanFailure(outcome, options);
  if (restart === null) return await answer(outcome.result, options);
  const { act } = await import("./cli/act.ts");
  const complete = incompleteReason(outcome.result, options) === undefined;
  // Each step shows the packages of its files: what the admin weighs before agreeing.
  const packages = options.packages ? await packageOwners(outcome.result, options) : undefined;
  const { result: settled, narrowed } = await settle(outcome.result, packages, options);
  const groups = groupByArgv(settled.processes);
  // JSON and Nagios say it with what is left, after the run; the human output, before it.
  if (options.format === "human") await warnLeftOut(narrowed, options);
  const scan = { complete, procfs: outcome.result.procfs, ...(packages ? { packages } : {}) };
  const acted = await act(groups, { ...options, restart }, scan);
  if (options.format === "human") {
    if (!options.quiet) warnCoverage(outcome.result, options);
    return acted.code;
  }
  // JSON and Nagios answer with what is left: scanned again once anything was done.
  const after = acted.run.outcomes.length === 0 ? outcome : await runScan(options);
  if (!after.ok) return await reportScanFailure(after, options);
  const code = await answer(after.result, options, acted.run);
  return options.format === "nagios" || code !== EXIT.OK ? code : acted.code;
}

/** Prints the answer to a scan in the format asked for; returns the exit code. */
async function answer(scanned: ScanResult, options: CliOptions, restart?: RestartRun) {
  const packages = options.packages ? await packageOwners(scanned, options) : undefined;
  const { result, narrowed } = await settle(scanned, packages, options);
  const groups = groupByArgv(result.processes);
  const reboot = options.reboot ? await rebootCheck(groups, options) : undefined;
  const answers = {
    reboot,
    packages,
    ...(restart === undefined ? {} : { restart }),
    ...(narrowed === undefined ? {} : { narrowed }),
  };
  const code = await render(groups, result, answers, options);
  if (options.format !== "nagios" && !options.quiet) warnCoverage(scanned, options);
  return code;
}

/** `lib_users fleet REPORT…`: many hosts' JSON reports merged (see cli/fleet.ts). */
async function fleet(args: readonly string[]): Promise<number> {
  const { runFleet } = await import("./cli/fleet.ts");
  try {
    return await runFleet(args);
  } catch (thrown) {
    if (!(thrown instanceof UsageError)) throw thrown;
    warn(thrown.message);
    return thrown.exitCode;
  }
}

/** Whether the arguments ask for the Nagios format (`--format=nagios` or `--format nagios`). */
function asksForNagios(args: readonly string[]): boolean {
  return args.some((arg, i) =>
    arg === "--format=nagios" || (arg === "--format" && args[i + 1] === "nagios")
  );
}

/** Why a scan could not run: for stderr, and as one whole sentence for a status line. */
interface ScanFailure {
  readonly ok: false;
  /** The text for stderr, which may go on over several lines. */
  readonly reason: string;
  /** The reason in one line (Nagios prints only the first), never cut mid-sentence. */
  readonly line: string;
}

/** A scan's result, or why it could not run. */
type ScanOutcome = { readonly ok: true; readonly result: ScanResult } | ScanFailure;

/** A failure whose reason is one line. */
function failed(reason: string): ScanFailure {
  return { ok: false, reason, line: reason };
}

/** Scans; a proc root that cannot be read is a reason, not an exception. */
async function runScan(options: CliOptions): Promise<ScanOutcome> {
  const { proc } = options;
  if (!isGranted(scanPermission(proc))) return noPermission(proc);
  const scan = options.scan === "fds" ? scanFds : scanLibs;
  try {
    const result = await scan({
      proc,
      ignore: options.ignore,
      units: options.units,
      // Only JSON prints a file's kind and a process's start; the others spare the reads.
      kinds: options.format === "json",
      startTimes: options.format === "json",
      states: needsStates(options),
      scripts: options.scripts,
      // performance.now() counts from start-up; a margin is left for the output.
      ...(options.timeout === undefined
        ? {}
        : { deadline: Math.max(0, options.timeout * 1000 - DEADLINE_MARGIN_MS) }),
    });
    return { ok: true, result };
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return noPermission(proc);
    if (error instanceof ProcRootError) return failed(`Cannot scan: ${error.message}`);
    const reason = procRootError(error);
    if (reason === undefined) throw error;
    return failed(`Cannot read "${proc}": ${reason}`);
  }
}

/**
 * Whether the run needs what stands at each stale file's path, and since
 * when: the outputs that say it (JSON, Prometheus, `-s`), the plan and
 * `--restart` (which set deleted temporary files apart), and the narrowing flags.
 */
function needsStates(options: CliOptions): boolean {
  return options.format === "json" || options.format === "prometheus" || options.showFiles ||
    options.restartHints || options.restart !== null || options.minAgeMs !== undefined ||
    options.replacedOnly;
}

/** What a Nagios run keeps of its timeout for printing the answer. */
const DEADLINE_MARGIN_MS = 50;

/** Why the proc root could not be listed, or undefined for an error that is a bug. */
function procRootError(error: unknown): string | undefined {
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

async function reportScanFailure(failure: ScanFailure, options: CliOptions): Promise<number> {
  if (options.format === "nagios") {
    emit(`UNKNOWN - ${failure.line}\n`, options);
    return NAGIOS_UNKNOWN;
  }
  // A textfile collector should see the failure, not stale numbers; a file
  // written by --output keeps its last good contents (node_exporter reports
  // its age as node_textfile_mtime_seconds).
  if (options.format === "prometheus" && options.output === undefined) {
    const { formatPrometheus } = await import("./lib/format/prometheus.ts");
    write(formatPrometheus([], {
      scan: options.scan,
      success: false,
      ...hostVersion(options),
      scannedAt: new Date(RUN_STARTED_MS),
    }));
  }
  warn(failure.reason);
  return EXIT.USAGE;
}

function noPermission(proc: string): ScanFailure {
  if (!needsAllowAll(proc)) {
    return failed(`Cannot read "${proc}": Deno was not given --allow-read=${proc} (or -A)`);
  }
  const why = `Cannot read "${proc}": Deno allows reads under /proc, /sys and /dev only with ` +
    "--allow-all,";
  const whyEnd = "even when --allow-read names them";
  const lines = [why, `${whyEnd}. Ways out:`];
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
  return { ok: false, reason: lines.join("\n"), line: `${why} ${whyEnd}` };
}

/** The warnings about what the scan could not read or see, on stderr. */
function warnCoverage(result: ScanResult, options: CliOptions): void {
  let text = "";
  if (result.unreadable > 0) {
    text += "Warning: Some files could not be read.\n";
    const uidKnown = isGranted({ name: "sys", kind: "uid" });
    if (result.limited !== undefined) text += `Warning: ${result.limited}.\n`;
    else if (uidKnown && Deno.uid() !== 0) {
      // The Python tools' note, where the scan cannot tell why (a tree that is
      // not a procfs); when the uid cannot be read (no --allow-sys=uid), the
      // processes rather than a guess.
      const tool = options.scan === "fds" ? "fd_users" : "lib_users";
      const what = options.scan === "fds" ? "files" : "libraries";
      text +=
        `Note that ${tool} has to be run as root to get a full list of deleted in-use ${what}.\n`;
    } else text += `Warning: ${describeUnreadable(result)}.\n`;
  } else if (result.limited !== undefined) text += `Warning: ${result.limited}.\n`;
  if (result.notListed !== undefined) {
    text +=
      `Warning: ${result.notListed} deleted files were not listed: past what the scan keeps ` +
      `(${DEFAULT_NAME_BUDGET.filesPerProcess} files of one process, ` +
      `${
        DEFAULT_NAME_BUDGET.charsPerUser >> 20
      } Mi characters of names of one user's processes).\n`;
  }
  if (text !== "") writeTo(Deno.stderr, text);
}

/** The most unreadable processes the warning names before "and N more". */
const UNREADABLE_NAMED = 5;

/** Which processes could not be read, and why: the first few, then how many more. */
function describeUnreadable(result: ScanResult): string {
  const named = result.unreadableProcesses.slice(0, UNREADABLE_NAMED);
  const list = named.map(({ pid, reason }) => `PID ${pid} (${escapeForTerminal(reason)})`);
  const more = result.unreadable - named.length;
  const count = result.unreadable === 1 ? "1 process" : `${result.unreadable} processes`;
  return `${count} could not be read: ${list.join(", ")}${more > 0 ? ` and ${more} more` : ""}`;
}

function write(text: string): number {
  writeDocument(text);
  return EXIT.OK;
}

/**
 * Imports the module that brings the flag parser's npm package. The command
 * that cannot load it says why in one line and exits 2; imported as a module,
 * it throws.
 */
async function load<T>(module: () => Promise<T>): Promise<T> {
  try {
    return await module();
  } catch (error) {
    if (!import.meta.main) throw error;
    warn(cannotLoad(error));
    Deno.exit(EXIT.USAGE);
  }
}

/** Deno's reason a module could not be loaded, in one line; what to do when it is npm's. */
function cannotLoad(error: unknown): string {
  // "Failed caching npm package 'deno-std@1.4.0'", the causes ("0: …", innermost last), "at FILE".
  const message = error instanceof Error ? error.message : String(error);
  const lines = message.split("\n").map((line) => line.trim());
  const cause = lines.filter((line) => /^\d+: /.test(line)).at(-1)?.replace(/^\d+: /, "");
  const reason = escapeForTerminal(cause === undefined ? lines[0]! : `${lines[0]}: ${cause}`);
  if (!/npm/.test(lines[0]!)) return `Cannot load the command: ${reason}`;
  return `Cannot load the command: ${reason}. Run from its source files, it needs the package ` +
    "in the Deno cache of the user who runs it: run it once where npm can be reached, or " +
    "install the single-file build (docs/install.md)";
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    if (error instanceof OutputError) {
      warn(error.message);
      Deno.exit(EXIT.USAGE);
    }
    if (error instanceof Interrupted) Deno.exit(EXIT[error.signal]);
    const message = error instanceof Error ? error.message : String(error);
    warn(`Cannot go on: an unexpected error: ${message}\nPlease report this as a bug.`);
    Deno.exit(EXIT.INTERNAL);
  }
}
