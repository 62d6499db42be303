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
  USAGE_HINT,
  UsageError,
} from "./cli/flags.ts";
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

const encoder = new TextEncoder();

/** Runs the CLI with `args` and returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // The Nagios plugin API wants UNKNOWN (3) for bad usage too, on stdout.
    if (error.nagios) write(`UNKNOWN - ${error.message}\n`);
    else fail(`${error.message}\n${USAGE_HINT}`);
    return error.exitCode;
  }
  if (options.help) return write(helpText());
  if (options.version) return write(`lib_users ${config.version}\n`);

  const outcome = await runScan(options);
  if (!outcome.ok) return await reportScanFailure(outcome.reason, options);
  const scanned = outcome.result;
  const groups = groupByArgv(scanned.processes);
  const code = await output(groups, scanned, options);
  if (scanned.unreadable > 0 && options.format !== "nagios") warnUnreadable(options);
  return code;
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
    });
    return { ok: true, result };
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return failed(noPermissionMessage(proc));
    const reason = rootError(error);
    if (reason === undefined) throw error;
    return failed(`Cannot read "${proc}": ${reason}`);
  }
}

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
    write(`UNKNOWN - ${reason.split("\n")[0]}\n`);
    return NAGIOS_UNKNOWN;
  }
  if (options.format === "prometheus") {
    // A textfile collector should see the failure, not stale numbers.
    const { formatPrometheus } = await import("./lib/format/prometheus.ts");
    write(formatPrometheus([], { scan: options.scan, success: false }));
  }
  fail(reason);
  return EXIT.USAGE;
}

function noPermissionMessage(proc: string): string {
  if (!needsAllowAll(proc)) {
    return `Cannot read "${proc}": Deno was not given --allow-read=${proc} (or -A)`;
  }
  return [
    `Cannot read "${proc}": Deno allows reads under /proc, /sys and /dev only with --allow-all,`,
    `even when --allow-read names them. Ways out:`,
    `  deno run -A main.ts …              run with all permissions`,
    `  deno compile -A -o lib_users main.ts   build a binary that has them`,
    `  mount -t proc proc /mnt/proc, then run with --allow-read=/mnt/proc --proc /mnt/proc`,
  ].join("\n");
}

async function output(groups: Group[], result: ScanResult, options: CliOptions): Promise<number> {
  const userNames = async () => {
    if (!isGranted(PASSWD_PERMISSION)) return new Map<number, string>();
    const { readUserNames } = await import("./cli/passwd.ts");
    return readUserNames();
  };
  switch (options.format) {
    case "nagios": {
      const { formatNagios } = await import("./lib/format/nagios.ts");
      const { text, exitCode } = formatNagios(groups, {
        scan: options.scan,
        warning: options.warning,
        unreadable: result.unreadable,
        ...(options.critical === undefined ? {} : { critical: options.critical }),
      });
      write(text);
      return exitCode;
    }
    case "prometheus": {
      const { formatPrometheus } = await import("./lib/format/prometheus.ts");
      write(formatPrometheus(groups, { scan: options.scan, unreadable: result.unreadable }));
      break;
    }
    case "json": {
      const { formatJson } = await import("./lib/format/json.ts");
      write(
        formatJson(groups, {
          scan: options.scan,
          unreadable: result.unreadable,
          userNames: await userNames(),
        }),
      );
      break;
    }
    case "machine":
    case "human": {
      const style = options.format === "human" && useColour() ? await colourStyle() : undefined;
      let out = options.format === "machine" ? formatMachine(groups) : formatHuman(groups, {
        showFiles: options.showFiles,
        showUnits: options.showFiles && options.services === "cgroup",
        ...(style ? { style } : {}),
      });
      if (options.services && groups.length > 0) {
        out += "\n" + await describeServices(groups, options);
      }
      if (options.restartHints && groups.length > 0) {
        const { planRestarts } = await import("./lib/restart.ts");
        const { formatRestartPlan } = await import("./lib/format/restart.ts");
        out += "\n" + formatRestartPlan(planRestarts(groups, { userNames: await userNames() }));
      }
      write(out);
    }
  }
  return options.check && groups.length > 0 ? EXIT.STALE : EXIT.OK;
}

async function colourStyle(): Promise<HumanStyle> {
  const { bold, cyan } = await import("@std/fmt/colors");
  // The npm mirror ships no types: make sure strings come back.
  return { pids: (t) => String(bold(t)), cmdline: (t) => t, files: (t) => String(cyan(t)) };
}

async function describeServices(groups: readonly Group[], options: CliOptions): Promise<string> {
  const { unitsFromGroups, unitsFromSystemctl } = await import("./lib/services.ts");
  const { formatServices } = await import("./lib/format/services.ts");
  if (options.services === "cgroup") return formatServices(groups, unitsFromGroups(groups));
  if (!isGranted(SYSTEMCTL_PERMISSION)) {
    return "Could not run systemctl: not permitted (run with --allow-run=systemctl or -A)\n";
  }
  try {
    const units = await unitsFromSystemctl(groups.flatMap((group) => group.pids));
    return formatServices(groups, units);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "Could not run systemctl: not installed\n";
    if (error instanceof Error) return `Could not run systemctl: ${error.message}\n`;
    throw error;
  }
}

function warnUnreadable(options: CliOptions): void {
  let text = "Warning: Some files could not be read.\n";
  const uidKnown = isGranted({ name: "sys", kind: "uid" });
  if (!uidKnown || Deno.uid() !== 0) {
    const tool = options.scan === "fds" ? "fd_users" : "lib_users";
    const what = options.scan === "fds" ? "files" : "libraries";
    text +=
      `Note that ${tool} has to be run as root to get a full list of deleted in-use ${what}.\n`;
  }
  writeTo(Deno.stderr, text);
}

function useColour(): boolean {
  return !Deno.noColor && Deno.stdout.isTerminal();
}

function fail(message: string): void {
  writeTo(Deno.stderr, `lib_users: ${message}\n`);
}

function write(text: string): number {
  const error = writeTo(Deno.stdout, text);
  if (error !== undefined) throw new OutputError(error);
  return EXIT.OK;
}

/** The output could not be written (a full disk, an I/O error): exit 2, not a bug. */
class OutputError extends Error {
  override name = "OutputError";
}

/**
 * Writes everything and returns why it could not, if so. A reader that went
 * away (`| head`) is no error. Used for stderr too, where a failure must never
 * throw: a warning that cannot be written must not change the exit code.
 */
function writeTo(stream: { writeSync(p: Uint8Array): number }, text: string): string | undefined {
  let bytes = encoder.encode(text);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
  } catch (error) {
    if (error instanceof Deno.errors.BrokenPipe) return undefined;
    return error instanceof Error ? error.message : String(error);
  }
  return undefined;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    if (error instanceof OutputError) {
      fail(`cannot write the output: ${error.message}`);
      Deno.exit(EXIT.USAGE);
    }
    const message = error instanceof Error ? error.message : String(error);
    fail(`unexpected error: ${message}\nPlease report this as a bug.`);
    Deno.exit(EXIT.INTERNAL);
  }
}
