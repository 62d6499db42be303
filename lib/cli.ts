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
  /** Bad usage, no permission to read the proc root, or the output could not be written. */
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
export const FORMATS = ["human", "machine", "json", "nagios", "prometheus"] as const;
/** One of {@linkcode FORMATS}. */
export type OutputFormat = typeof FORMATS[number];

/** What the command line asks for, validated. */
export interface CliOptions {
  readonly help: boolean;
  readonly version: boolean;
  readonly mode: "libs" | "fds";
  readonly format: OutputFormat;
  readonly showFiles: boolean;
  /** Where `-S` takes units from, or null without `-S`. */
  readonly services: "cgroup" | "systemctl" | null;
  readonly restartHints: boolean;
  readonly check: boolean;
  /** Nagios thresholds: a state is raised above them. */
  readonly warning: number;
  readonly critical: number | undefined;
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
  "restart-hints",
  "default-ignores",
] as const;
const STRINGS = [
  "format",
  "proc",
  "ignore-pattern",
  "ignore-literal",
  "warning",
  "critical",
] as const;
const SERVICE_SOURCES = ["cgroup", "systemctl"] as const;

/**
 * Parses and validates the arguments.
 *
 * @throws {UsageError} on an unknown flag, a missing or bad value, or a conflict
 */
export function parseCli(args: readonly string[]): CliOptions {
  // `--services` is a switch (`-S`) that may name its source: `--services=systemctl`.
  let source: "cgroup" | "systemctl" | null = null;
  args = args.filter((arg) => {
    const value = /^--services=(.*)$/s.exec(arg)?.[1];
    if (value === undefined) return true;
    if (!(SERVICE_SOURCES as readonly string[]).includes(value)) {
      throw new UsageError(`Unknown services source "${value}": use cgroup or systemctl`);
    }
    source = value as "cgroup" | "systemctl";
    return false;
  });
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
  // parseArgs passes what follows "--" through without asking `unknown`.
  const rest = raw._;
  if (Array.isArray(rest) && rest.length > 0) {
    throw new UsageError(`Unexpected argument "${String(rest[0])}"`);
  }
  const flag = (name: typeof BOOLEANS[number]): boolean => {
    const value = raw[name];
    if (typeof value !== "boolean") throw new TypeError(`parseArgs gave "${name}" no boolean`);
    return value;
  };
  const text = (name: "format" | "proc" | "warning" | "critical"): string | undefined => {
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

  const threshold = (name: "warning" | "critical"): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (!/^[0-9]+$/.test(value)) {
      throw new UsageError(`Option "--${name}" needs a whole number, not "${value}"`);
    }
    return Number(value);
  };
  const warning = threshold("warning");
  const critical = threshold("critical");
  const chosen: OutputFormat = [...formats][0] ?? "human";
  if ((warning !== undefined || critical !== undefined) && chosen !== "nagios") {
    throw new UsageError(`Options "--warning" and "--critical" go with --format=nagios`);
  }
  const defaults = flag("default-ignores");
  return {
    help: flag("help"),
    version: flag("version"),
    mode: flag("fds") ? "fds" : "libs",
    format: chosen,
    showFiles: flag("showlibs"),
    services: source ?? (flag("services") ? "cgroup" : null),
    restartHints: flag("restart-hints"),
    check: flag("check"),
    warning: warning ?? 0,
    critical,
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
      --json                 a JSON document (same as --format=json), with the
                             unit, class, user and container of each group
      --format=FORMAT        human, machine, json, nagios or prometheus
  -S, --services             then list the systemd unit of each PID, read from
                             /proc/PID/cgroup
      --services=SOURCE      the same; SOURCE cgroup (default) or systemctl
                             (runs systemctl status PID: --allow-run=systemctl)
      --restart-hints        then print the restart plan: commands per kind
                             (services, user services, containers, manager),
                             sessions to end, risky units apart; runs nothing

Monitoring (--format=nagios):
      --warning N            WARNING when more than N processes are stale
                             (default 0: any)
      --critical N           CRITICAL when more than N processes are stale
                             (default: never)

Scan:
      --fds                  look at open files (/proc/PID/fd) instead of
                             mappings (/proc/PID/maps); the fd_users tool
      --proc DIR             the proc root to scan (default /proc)
  -i, --ignore-pattern GLOB  also ignore names matching GLOB (repeatable)
  -I, --ignore-literal NAME  also ignore the name NAME (repeatable)
      --no-default-ignores   drop the built-in ignores (/SYSV*, /memfd:*, ...)

Exit status:
      --check                exit 1 when anything stale was found
  0 the scan completed; 1 --check found something; 2 bad usage, no
  permission to read the proc root, or the output could not be written;
  3 an unexpected error. With
  --format=nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad usage too).

Other:
  -h, --help                 show this help
      --version              show the version

Permissions: Deno reads /proc only with --allow-all (-A). A procfs mounted
elsewhere (mount -t proc proc /mnt/proc) needs only --allow-read=/mnt/proc.

Examples:
  deno run -A main.ts -s                 programs using deleted libraries
  deno run -A main.ts --fds -m           open deleted files, for scripts
  deno run -A main.ts --check >/dev/null || echo "restart needed"
  deno run -A main.ts -s -S --restart-hints
  deno run -A main.ts --format=nagios --critical 20
  deno run -A main.ts --format=prometheus > /var/lib/node_exporter/lib_users.prom
  deno run --allow-read=/mnt/proc main.ts --proc /mnt/proc --json
`;
