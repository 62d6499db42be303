/**
 * Command-line flags of `main.ts`: parsing, validation and help. Not part of
 * the library (it uses the `@std/cli` import-map entry).
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { DEFAULT_IGNORE_LITERALS, DEFAULT_IGNORE_PATTERNS, type IgnoreRules } from "./ignore.ts";

/** Exit codes of the CLI, documented in the README. */
export const EXIT = Object.freeze({
  /** The scan completed (whatever it found). */
  OK: 0,
  /** `--check` and something stale was found. */
  STALE: 1,
  /** Bad usage, or no permission to read the proc root. */
  USAGE: 2,
  /** An unexpected error (a bug): please report it. */
  INTERNAL: 3,
});

/** An error in the command line; `main.ts` prints it with a usage hint. */
export class UsageError extends Error {
  /** The exit code the CLI ends with. */
  readonly exitCode: number = EXIT.USAGE;
  override name = "UsageError";
}

/** The output formats of `--format`. */
export const FORMATS = ["human", "machine", "json"] as const;
/** One of {@linkcode FORMATS}. */
export type OutputFormat = typeof FORMATS[number];

/** What the command line asks for, validated. */
export interface CliOptions {
  readonly help: boolean;
  readonly version: boolean;
  readonly mode: "libs" | "fds";
  readonly format: OutputFormat;
  readonly showFiles: boolean;
  readonly services: boolean;
  readonly check: boolean;
  readonly proc: string;
  readonly ignore: IgnoreRules;
}

const BOOLEANS = [
  "help",
  "version",
  "machine-readable",
  "json",
  "showlibs",
  "services",
  "fds",
  "check",
  "default-ignores",
] as const;
const STRINGS = ["format", "proc", "ignore-pattern", "ignore-literal"] as const;

/**
 * Parses and validates the arguments.
 *
 * @throws {UsageError} on an unknown flag, a missing or bad value, or a conflict
 */
export function parseCli(args: readonly string[]): CliOptions {
  for (const arg of args) {
    // parseArgs would read `--fds=yes` as true; a value on a switch is a mistake.
    const name = /^--(?:no-)?([^=]+)=/s.exec(arg)?.[1];
    if (name && (BOOLEANS as readonly string[]).concat("showfiles").includes(name)) {
      throw new UsageError(`Option "--${name}" takes no value`);
    }
  }
  const raw: Record<string, unknown> = parseArgs([...args], {
    boolean: [...BOOLEANS],
    string: [...STRINGS],
    collect: ["ignore-pattern", "ignore-literal"],
    negatable: ["default-ignores"],
    default: { "default-ignores": true },
    alias: {
      h: "help",
      m: "machine-readable",
      s: ["showlibs", "showfiles"],
      S: "services",
      i: "ignore-pattern",
      I: "ignore-literal",
    },
    stopEarly: false,
    unknown: (arg: string, key?: string) => {
      if (key === undefined) throw new UsageError(`Unexpected argument "${arg}"`);
      throw new UsageError(`Unknown option "${arg.replace(/=.*$/s, "")}"`);
    },
  });
  const flag = (name: typeof BOOLEANS[number]): boolean => {
    const value = raw[name];
    if (typeof value !== "boolean") throw new TypeError(`parseArgs gave "${name}" no boolean`);
    return value;
  };
  const text = (name: "format" | "proc"): string | undefined => {
    const value = raw[name];
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value === "") {
      throw new UsageError(`Option "--${name}" needs a value`);
    }
    return value;
  };
  const list = (name: "ignore-pattern" | "ignore-literal"): string[] => {
    const value = raw[name];
    if (!Array.isArray(value)) return [];
    return value.map((item) => {
      if (typeof item !== "string" || item === "") {
        throw new UsageError(`Option "--${name}" needs a value`);
      }
      return item;
    });
  };

  const formats = new Set<OutputFormat>();
  const format = text("format");
  if (format !== undefined) {
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(`Unknown format "${format}": use one of ${FORMATS.join(", ")}`);
    }
    formats.add(format as OutputFormat);
  }
  if (flag("machine-readable")) formats.add("machine");
  if (flag("json")) formats.add("json");
  if (formats.size > 1) {
    throw new UsageError(`Conflicting output formats: ${[...formats].join(" and ")}`);
  }

  const defaults = flag("default-ignores");
  return {
    help: flag("help"),
    version: flag("version"),
    mode: flag("fds") ? "fds" : "libs",
    format: [...formats][0] ?? "human",
    showFiles: flag("showlibs"),
    services: flag("services"),
    check: flag("check"),
    proc: text("proc") ?? "/proc",
    ignore: {
      patterns: [...(defaults ? DEFAULT_IGNORE_PATTERNS : []), ...list("ignore-pattern")],
      literals: [...(defaults ? DEFAULT_IGNORE_LITERALS : []), ...list("ignore-literal")],
    },
  };
}

/** The one-line hint printed after a usage error. */
export const USAGE_HINT = "Try 'lib_users --help' for more information.";

/** The `--help` text. */
export const HELP_TEXT = `\
Usage: lib_users [OPTIONS]
Lists processes that use deleted files: mapped libraries and executables
(default) or open files (--fds), so you know what to restart after an update.

Output:
  (default)                  PIDS "CMDLINE", one line per command line
  -s, --showlibs, --showfiles
                             also show the files: PIDS "CMDLINE" uses F1,F2
  -m, --machine-readable     PIDS;F1,F2;CMDLINE (same as --format=machine)
      --json                 a JSON document (same as --format=json)
      --format=FORMAT        human, machine or json
  -S, --services             then list the systemd unit of each PID
                             (runs systemctl: needs --allow-run=systemctl)

Scan:
      --fds                  look at open files (/proc/PID/fd) instead of
                             mappings (/proc/PID/maps); the fd_users tool
      --proc DIR             the proc root to scan (default /proc)
  -i, --ignore-pattern GLOB  also ignore names matching GLOB (repeatable)
  -I, --ignore-literal NAME  also ignore the name NAME (repeatable)
      --no-default-ignores   drop the built-in ignores (/SYSV*, /memfd:*, ...)

Exit status:
      --check                exit 1 when anything stale was found
  0 the scan completed; 1 --check found something; 2 bad usage or no
  permission to read the proc root; 3 an unexpected error.

Other:
  -h, --help                 show this help
      --version              show the version

Permissions: Deno reads /proc only with --allow-all (-A). A procfs mounted
elsewhere (mount -t proc proc /mnt/proc) needs only --allow-read=/mnt/proc.

Examples:
  deno run -A main.ts -s                 programs using deleted libraries
  deno run -A main.ts --fds -m           open deleted files, for scripts
  deno run -A main.ts --check >/dev/null || echo "restart needed"
  deno run --allow-read=/mnt/proc main.ts --proc /mnt/proc --json
`;
