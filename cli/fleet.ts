/**
 * `lib_users fleet REPORT…`: reads the JSON reports many hosts wrote and
 * prints one update's reach: per package (or file) and per host. Each report
 * that cannot be used is one line on stderr, with why.
 *
 * @module
 */

import { EXIT, UsageError } from "./exit.ts";
import { warn, writeDocument } from "./output.ts";
import {
  type HostReport,
  mergeReports,
  readReport,
  type ReportProblem,
} from "../lib/answers/fleet.ts";
import { formatFleetHuman, formatFleetJson, formatFleetMachine } from "../lib/format/fleet.ts";
import { isGranted } from "../lib/proc/permissions.ts";
import { escapeForTerminal } from "../lib/format/escape.ts";

/** The largest report read: a host's report is kilobytes; past this it is no report. */
const REPORT_BYTES = 64 << 20;

/** What `fleet` is asked. */
interface FleetArgs {
  readonly format: "human" | "machine" | "json";
  readonly files: readonly string[];
}

/** Reads `fleet`'s own arguments: `--json`, `-m`, then report files. */
export function parseFleetArgs(args: readonly string[]): FleetArgs {
  let format: FleetArgs["format"] = "human";
  const files: string[] = [];
  let options = true;
  for (const arg of args) {
    if (options && arg === "--") options = false;
    else if (options && arg === "--json") format = "json";
    else if (options && (arg === "-m" || arg === "--machine-readable")) format = "machine";
    else if (options && arg.startsWith("-") && arg !== "-") {
      throw new UsageError(`Cannot use "${arg}" with fleet: it takes --json, -m and report files`);
    } else files.push(arg);
  }
  if (files.length === 0) {
    throw new UsageError(
      "Cannot make a fleet report: name the JSON reports (lib_users fleet FILE…)",
    );
  }
  return { format, files };
}

/**
 * Runs `fleet`: the report on stdout; each report not used, one line on
 * stderr. Exit 0, 4 when some report was not used (the answer is not the
 * whole fleet's), 2 when none could be.
 */
export async function runFleet(args: readonly string[]): Promise<number> {
  const { format, files } = parseFleetArgs(args);
  const reports = await Promise.all(files.map(readFile));
  const fleet = mergeReports(reports);
  for (const problem of fleet.problems) {
    // A report's text is anyone's: its words reach the terminal escaped, on one line.
    warn(
      `Cannot use the report "${escapeForTerminal(problem.source)}": ${
        escapeForTerminal(problem.why)
      }`,
    );
  }
  if (fleet.hosts.length === 0) return EXIT.USAGE;
  writeDocument(
    format === "json"
      ? formatFleetJson(fleet)
      : format === "machine"
      ? formatFleetMachine(fleet)
      : formatFleetHuman(fleet),
  );
  return fleet.problems.length > 0 ? EXIT.TRUNCATED : EXIT.OK;
}

/** One report file, read within bounds, or why not. */
async function readFile(path: string): Promise<HostReport | ReportProblem> {
  if (!isGranted({ name: "read", path })) {
    return { source: path, why: "Deno was not given --allow-read for it" };
  }
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return { source: path, why: "it is not a file" };
    if (info.size > REPORT_BYTES) return { source: path, why: "it is over 64 MiB" };
    return readReport(await Deno.readTextFile(path), path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "it does not exist"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    return { source: path, why };
  }
}
