/**
 * The `lib_users` command line: parse flags, scan, print, choose the exit code.
 *
 * @module
 */

import { bold, cyan } from "@std/fmt/colors";
import config from "./deno.json" with { type: "json" };
import { type CliOptions, EXIT, HELP_TEXT, parseCli, USAGE_HINT, UsageError } from "./lib/cli.ts";
import {
  formatHuman,
  formatJson,
  formatMachine,
  formatServices,
  type Group,
  groupByArgv,
  isGranted,
  needsAllowAll,
  scanFds,
  scanLibs,
  scanPermission,
  type ScanResult,
  SYSTEMCTL_PERMISSION,
  unitsFromSystemctl,
} from "./mod.ts";

const encoder = new TextEncoder();

/** Runs the CLI with `args` and returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    fail(`${error.message}\n${USAGE_HINT}`);
    return error.exitCode;
  }
  if (options.help) return write(HELP_TEXT);
  if (options.version) return write(`lib_users ${config.version}\n`);

  const result = await runScan(options);
  if (typeof result === "number") return result;
  const groups = groupByArgv(result.processes);

  let out = render(groups, result, options);
  if (options.services && groups.length > 0 && options.format !== "json") {
    out += "\n" + await describeServices(groups);
  }
  write(out);
  if (result.unreadable > 0) warnUnreadable(options);
  return options.check && groups.length > 0 ? EXIT.STALE : EXIT.OK;
}

async function runScan(options: CliOptions): Promise<ScanResult | number> {
  const { proc } = options;
  const allowAll = needsAllowAll(proc);
  if (!isGranted(scanPermission(proc))) {
    fail(noPermissionMessage(proc, allowAll));
    return EXIT.USAGE;
  }
  const scan = options.mode === "fds" ? scanFds : scanLibs;
  try {
    return await scan({ proc, ignore: options.ignore });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      fail(noPermissionMessage(proc, allowAll));
    } else if (error instanceof Deno.errors.NotFound) {
      fail(`Cannot read "${proc}": no such directory`);
    } else if (error instanceof Deno.errors.PermissionDenied) {
      fail(`Cannot read "${proc}": permission denied`);
    } else if (error instanceof Deno.errors.NotADirectory) {
      fail(`Cannot read "${proc}": not a directory`);
    } else {
      throw error;
    }
    return EXIT.USAGE;
  }
}

function noPermissionMessage(proc: string, allowAll: boolean): string {
  if (!allowAll) {
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

function render(groups: readonly Group[], result: ScanResult, options: CliOptions): string {
  switch (options.format) {
    case "machine":
      return formatMachine(groups);
    case "json":
      return formatJson(groups, { scan: options.mode, unreadable: result.unreadable });
    case "human":
      return formatHuman(groups, {
        showFiles: options.showFiles,
        ...(useColour() ? { style: { pids: bold, cmdline: (t: string) => t, files: cyan } } : {}),
      });
  }
}

async function describeServices(groups: readonly Group[]): Promise<string> {
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
    const tool = options.mode === "fds" ? "fd_users" : "lib_users";
    const what = options.mode === "fds" ? "files" : "libraries";
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
  writeTo(Deno.stdout, text);
  return EXIT.OK;
}

/** Writes everything; a reader that went away (`| head`) is no error. */
function writeTo(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(
      `lib_users: unexpected error: ${error instanceof Error ? error.message : String(error)}`,
    );
    console.error("Please report this as a bug.");
    Deno.exit(EXIT.INTERNAL);
  }
}
