/**
 * Command-line flags of `main.ts`: parsing, validation and help. Not part of
 * the library.
 *
 * @module
 */

import { NAGIOS_STATUS } from "../lib/format/nagios_status.ts";
import { type NagiosRange, parseNagiosRange } from "../lib/format/nagios_range.ts";
// Written in full, not through the import map: `deno install` and a run by URL
// read no deno.json. Moving to JSR is this one line: "jsr:@std/cli@1/parse-args".
import { parseArgs } from "npm:deno-std@1.4.0/cli/parse_args.js";
import {
  DEFAULT_IGNORE_LITERALS,
  DEFAULT_IGNORE_PATTERNS,
  type IgnoreRules,
} from "../lib/scan/ignore.ts";

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
  /**
   * The output is complete but for lists cut by the scan's budget of names
   * (a process or user with more deleted files than it keeps): said on stderr
   * and in the output, never taken for the whole answer.
   */
  TRUNCATED: 4,
  /** Stopped by SIGHUP (the terminal or ssh session closed) while writing: the last record is whole (128 + 1). */
  SIGHUP: 129,
  /** Stopped by SIGINT while writing: the last record written is whole (128 + 2). */
  SIGINT: 130,
  /** Stopped by SIGTERM while writing: the last record written is whole (128 + 15). */
  SIGTERM: 143,
});

/** An error in the command line; `main.ts` prints it with a usage hint. */
export class UsageError extends Error {
  /** The exit code the CLI ends with: 2, or the Nagios plugin API's UNKNOWN (3) in a Nagios run. */
  readonly exitCode: number;
  /** Whether the command line asked for the Nagios format, which reports usage errors as UNKNOWN. */
  readonly nagios: boolean;
  override name = "UsageError";

  /** A usage error; `nagios` when the command line asked for `--format=nagios`. */
  constructor(message: string, nagios = false) {
    super(message);
    this.nagios = nagios;
    this.exitCode = nagios ? NAGIOS_UNKNOWN : EXIT.USAGE;
  }
}

/** The Nagios plugin API's UNKNOWN, also for bad usage. */
export const NAGIOS_UNKNOWN: number = NAGIOS_STATUS.UNKNOWN;

/** The output formats of `--format`. */
export const FORMATS = ["human", "machine", "json", "nagios", "prometheus"] as const;
/** One of {@linkcode FORMATS}. */
export type OutputFormat = typeof FORMATS[number];

/** What each format is: whether it names units, and whether it is one document or status line. */
const FORMAT_TRAITS: Readonly<Record<OutputFormat, { units: boolean; document: boolean }>> = {
  human: { units: false, document: false },
  machine: { units: false, document: false },
  // Each group's unit, class, user and container; units name the Nagios and Prometheus series.
  json: { units: true, document: true },
  nagios: { units: true, document: true },
  prometheus: { units: true, document: true },
};

/** What the command line asks for, validated. */
export interface CliOptions {
  readonly help: boolean;
  readonly version: boolean;
  /** Which scan: mappings (libs) or open files (fds). */
  readonly scan: "libs" | "fds";
  readonly format: OutputFormat;
  readonly showFiles: boolean;
  /** Where `-S` takes units from, or null without `-S`. */
  readonly services: "cgroup" | "systemctl" | null;
  readonly restartHints: boolean;
  /** Whether the output names each process's unit, so the scan must read it. */
  readonly units: boolean;
  readonly check: boolean;
  /** Nagios thresholds: a state is raised when the count of stale processes is outside them. */
  readonly warning: NagiosRange;
  readonly critical: NagiosRange | undefined;
  /** `--timeout`, in seconds: the Nagios answer is UNKNOWN when the scan has not finished by then. */
  readonly timeout: number | undefined;
  /** Accept a scan that could see only part of the processes (not root) as a real answer. */
  readonly allowPartial: boolean;
  /** Write the output to this file, atomically, instead of to stdout. */
  readonly output: string | undefined;
  /** Leave out the warnings about processes that could not be read or seen. */
  readonly quiet: boolean;
  /** `--color`: colour the human output always, never, or on a terminal without NO_COLOR. */
  readonly color: "auto" | "always" | "never";
  readonly proc: string;
  /** The file system root the reboot check reads (`boot/`, the modules directories, `run/`). */
  readonly root: string;
  /** Whether the output answers "does this host need a reboot?" (always for JSON and monitoring). */
  readonly reboot: boolean;
  /** A needed reboot is CRITICAL in a Nagios run, not WARNING. */
  readonly rebootCritical: boolean;
  /** Name the package that owns each stale file (dpkg's database under `root`). */
  readonly packages: boolean;
  /** Also look for interpreters whose script was replaced (`--scripts`). */
  readonly scripts: boolean;
  readonly ignore: IgnoreRules;
}

/** Where an option is listed in `--help`. */
type Section = "Output" | "Monitoring" | "Scan" | "Exit status" | "Other";

/** One option: what parseArgs is told, what is validated, and its `--help` rows. */
interface OptionSpec {
  /** The long name, without dashes. */
  readonly name: string;
  /** A one-letter alias. */
  readonly short?: string;
  /** Other long names. */
  readonly aliases?: readonly string[];
  /** A switch, a value, or a value that may be repeated. */
  readonly kind: "switch" | "value" | "list";
  /** A switch that is on by default and turned off by `--no-NAME`. */
  readonly negatable?: boolean;
  readonly section: Section;
  /** The `--help` rows: the left column and its description lines. */
  readonly help: readonly (readonly [string, readonly string[]])[];
}

/** Every option, once: parseArgs' configuration, the checks and `--help` all come from here. */
const OPTIONS: readonly OptionSpec[] = [
  {
    name: "showlibs",
    short: "s",
    aliases: ["showfiles"],
    kind: "switch",
    section: "Output",
    help: [["-s, --showlibs, --showfiles", ['also show the files: PIDS "CMDLINE" uses F1,F2']]],
  },
  {
    name: "machine-readable",
    short: "m",
    kind: "switch",
    section: "Output",
    help: [["-m, --machine-readable", ["PIDS;F1,F2;CMDLINE (same as --format=machine)"]]],
  },
  {
    name: "json",
    kind: "switch",
    section: "Output",
    help: [["    --json", [
      "a JSON document (same as --format=json), with the",
      "unit, class, user and container of each group",
    ]]],
  },
  {
    name: "format",
    kind: "value",
    section: "Output",
    help: [["    --format=FORMAT", ["human, machine, json, nagios or prometheus"]]],
  },
  {
    name: "services",
    short: "S",
    kind: "switch",
    section: "Output",
    help: [
      ["-S, --services", [
        "then list the systemd unit of each PID, read from",
        "/proc/PID/cgroup",
      ]],
      ["    --services=SOURCE", [
        "the same; SOURCE cgroup (default) or systemctl",
        "(runs systemctl status PID: --allow-run=systemctl)",
      ]],
    ],
  },
  {
    name: "restart-hints",
    kind: "switch",
    section: "Output",
    help: [["    --restart-hints", [
      "then print the restart plan: commands per kind",
      "(services, user services, containers, manager),",
      "sessions to end, risky units apart; runs nothing",
    ]]],
  },
  {
    name: "scripts",
    kind: "switch",
    section: "Scan",
    help: [["    --scripts", [
      "also find Python, Perl, Ruby, PHP and Node programs",
      "whose script was deleted, replaced or changed since",
      "they started (read from argv and /proc; nothing run)",
    ]]],
  },
  {
    name: "packages",
    kind: "switch",
    section: "Output",
    help: [["    --packages", [
      "name the package of each stale file and when it",
      "changed (dpkg's database, read-only): after each",
      "file with -s, then per package; in every format",
    ]]],
  },
  {
    name: "reboot",
    kind: "switch",
    section: "Output",
    help: [["    --reboot", [
      "then say whether the host needs a reboot: a newer",
      "or rebuilt kernel, /run/reboot-required, a stale",
      "PID 1 or unit no restart fixes (always in JSON,",
      "Nagios, Prometheus and after --restart-hints)",
    ]]],
  },
  {
    name: "output",
    short: "o",
    kind: "value",
    section: "Output",
    help: [["-o, --output FILE", [
      "write to FILE instead of stdout, atomically (a",
      "temporary file renamed over it, mode 0644); a scan",
      "that fails leaves the old FILE in place",
    ]]],
  },
  {
    name: "color",
    kind: "value",
    section: "Output",
    help: [["    --color=WHEN", [
      "colour the human output: auto (default: on a",
      "terminal, unless NO_COLOR is set and not empty),",
      "always or never",
    ]]],
  },
  {
    name: "quiet",
    short: "q",
    kind: "switch",
    section: "Output",
    help: [["-q, --quiet", [
      "no warning about processes that could not be read",
      "or seen (JSON, Nagios, Prometheus keep the counts)",
    ]]],
  },
  {
    name: "warning",
    short: "w",
    kind: "value",
    section: "Monitoring",
    help: [["-w, --warning RANGE", [
      "nagios: WARNING when the count of stale processes",
      "is outside RANGE: N (0..N), N: (N or more), ~:N,",
      "N:M, @N:M (inside); default 0: any",
    ]]],
  },
  {
    name: "critical",
    short: "c",
    kind: "value",
    section: "Monitoring",
    help: [["-c, --critical RANGE", [
      "nagios: CRITICAL likewise (default: never)",
    ]]],
  },
  {
    name: "timeout",
    short: "t",
    kind: "value",
    section: "Monitoring",
    help: [["-t, --timeout SECONDS", [
      "nagios: UNKNOWN, with what is known, when the scan",
      "has not finished by then (counted from start-up)",
    ]]],
  },
  {
    name: "reboot-critical",
    kind: "switch",
    section: "Monitoring",
    help: [["    --reboot-critical", ["nagios: a needed reboot is CRITICAL (default WARNING)"]]],
  },
  {
    name: "allow-partial",
    kind: "switch",
    section: "Monitoring",
    help: [["    --allow-partial", [
      "nagios, prometheus: accept a scan that could not",
      "see other users' processes (not root, hidepid=),",
      "and (nagios) a reboot question without an answer;",
      "without it Nagios says UNKNOWN and Prometheus",
      "lib_users_scan_success 0",
    ]]],
  },
  {
    name: "fds",
    kind: "switch",
    section: "Scan",
    help: [["    --fds", [
      "look at open files (/proc/PID/fd) instead of",
      "mappings (/proc/PID/maps); the fd_users tool",
    ]]],
  },
  {
    name: "proc",
    kind: "value",
    section: "Scan",
    help: [["    --proc DIR", ["the proc root to scan (default /proc)"]]],
  },
  {
    name: "root",
    kind: "value",
    section: "Scan",
    help: [["    --root DIR", [
      "the root the reboot check reads (boot/, lib/modules/,",
      "run/; default /), and DIR/proc as the default --proc",
    ]]],
  },
  {
    name: "ignore-pattern",
    short: "i",
    kind: "list",
    section: "Scan",
    help: [["-i, --ignore-pattern GLOB", ["also ignore names matching GLOB (repeatable)"]]],
  },
  {
    name: "ignore-literal",
    short: "I",
    kind: "list",
    section: "Scan",
    help: [["-I, --ignore-literal NAME", ["also ignore the name NAME (repeatable)"]]],
  },
  {
    name: "default-ignores",
    kind: "switch",
    negatable: true,
    section: "Scan",
    help: [["    --no-default-ignores", ["drop the built-in ignores (/SYSV*, /memfd:*, ...)"]]],
  },
  {
    name: "check",
    kind: "switch",
    section: "Exit status",
    help: [["    --check", ["exit 1 when anything stale was found"]]],
  },
  {
    name: "help",
    short: "h",
    kind: "switch",
    section: "Other",
    help: [["-h, --help", ["show this help"]]],
  },
  {
    name: "version",
    short: "V",
    kind: "switch",
    section: "Other",
    help: [["-V, --version", ["show the version"]]],
  },
];

const SWITCHES = OPTIONS.filter((o) => o.kind === "switch").flatMap((o) => [
  o.name,
  ...(o.aliases ?? []),
]);
const SERVICE_SOURCES = ["cgroup", "systemctl"] as const;
const COLOR_MODES = ["auto", "always", "never"] as const;

/** Any stale process is a WARNING by default. */
const DEFAULT_WARNING: NagiosRange = parseNagiosRange("0")!;

/** The parseArgs configuration, from the table. */
const PARSE_CONFIG = {
  boolean: OPTIONS.filter((o) => o.kind === "switch").map((o) => o.name),
  string: OPTIONS.filter((o) => o.kind !== "switch").map((o) => o.name),
  collect: OPTIONS.filter((o) => o.kind === "list").map((o) => o.name),
  // A negatable switch is on unless its `--no-` form is given.
  negatable: OPTIONS.filter((o) => o.negatable).map((o) => o.name),
  default: Object.fromEntries(OPTIONS.filter((o) => o.negatable).map((o) => [o.name, true])),
  alias: Object.fromEntries(OPTIONS.flatMap((o) => {
    if (o.short !== undefined) return [[o.short, [o.name, ...(o.aliases ?? [])]]];
    return o.aliases ? [[o.name, [...o.aliases]]] : [];
  })),
  stopEarly: false,
};

/**
 * Parses and validates the arguments, in one pass. A usage error found on the
 * way is raised only once the whole command line is read, so that it knows
 * whether this is a Nagios run (the plugin API wants UNKNOWN, exit 3, then).
 *
 * @throws {UsageError} on an unknown flag, a missing or bad value, or a conflict
 */
export function parseCli(args: readonly string[]): CliOptions {
  let firstError: string | undefined;
  const problem = (message: string) => {
    firstError ??= message;
  };
  // `--services` is a switch (`-S`) that may name its source: `--services=systemctl`.
  let source: "cgroup" | "systemctl" | null = null;
  const rest = args.filter((arg) => {
    const value = /^--services=(.*)$/s.exec(arg)?.[1];
    if (value === undefined) return true;
    if ((SERVICE_SOURCES as readonly string[]).includes(value)) {
      source = value as "cgroup" | "systemctl";
    } else {
      problem(`Unknown services source "${value}": use cgroup or systemctl`);
    }
    return false;
  });
  for (const arg of rest) {
    // parseArgs would read `--fds=yes` as true; a value on a switch is a mistake.
    const name = /^--(?:no-)?([^=]+)=/s.exec(arg)?.[1];
    if (name && SWITCHES.includes(name)) problem(`Option "--${name}" takes no value`);
  }
  const raw: Record<string, unknown> = parseArgs([...rest], {
    ...PARSE_CONFIG,
    unknown: (arg: string, key?: string) => {
      if (key === undefined) problem(`Unexpected argument "${arg}"`);
      else problem(`Unknown option "${arg.replace(/=.*$/s, "")}"`);
      return false;
    },
  });
  // parseArgs passes what follows "--" through without asking `unknown`.
  const positional = raw._;
  if (Array.isArray(positional) && positional.length > 0) {
    problem(`Unexpected argument "${String(positional[0])}"`);
  }
  const flag = (name: string): boolean => {
    const value = raw[name];
    if (typeof value !== "boolean") throw new TypeError(`parseArgs gave "${name}" no boolean`);
    return value;
  };
  const text = (
    name: "format" | "proc" | "warning" | "critical" | "timeout" | "output" | "color" | "root",
  ): string | undefined => {
    const value = raw[name];
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value === "") {
      problem(`Option "--${name}" needs a value`);
      return undefined;
    }
    return value;
  };
  const list = (name: "ignore-pattern" | "ignore-literal"): string[] => {
    const value = raw[name];
    if (!Array.isArray(value)) return [];
    return value.filter((item): item is string => {
      if (typeof item === "string" && item !== "") return true;
      problem(`Option "--${name}" needs a value`);
      return false;
    });
  };

  const formats = new Set<OutputFormat>();
  const format = text("format");
  if (format !== undefined) {
    if ((FORMATS as readonly string[]).includes(format)) formats.add(format as OutputFormat);
    else problem(`Unknown format "${format}": use one of ${FORMATS.join(", ")}`);
  }
  if (flag("machine-readable")) formats.add("machine");
  if (flag("json")) formats.add("json");
  if (formats.size > 1) problem(`Conflicting output formats: ${[...formats].join(" and ")}`);
  const chosen: OutputFormat = [...formats][0] ?? "human";

  const threshold = (name: "warning" | "critical"): NagiosRange | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const range = parseNagiosRange(value);
    if (range === null) {
      problem(`Option "--${name}" needs a range (N, N:, ~:N, N:M or @N:M), not "${value}"`);
    }
    return range ?? undefined;
  };
  const warning = threshold("warning");
  const critical = threshold("critical");
  const timeoutText = text("timeout");
  let timeout: number | undefined;
  if (timeoutText !== undefined) {
    timeout = /^[0-9]+(?:\.[0-9]+)?$/.test(timeoutText) ? Number(timeoutText) : NaN;
    if (!(timeout > 0)) problem(`Option "--timeout" needs seconds above 0, not "${timeoutText}"`);
  }
  for (const name of ["warning", "critical", "timeout"] as const) {
    if (raw[name] !== undefined && chosen !== "nagios") {
      problem(`Option "--${name}" goes with --format=nagios`);
    }
  }
  const output = text("output");
  const colorText = text("color") ?? "auto";
  if (!(COLOR_MODES as readonly string[]).includes(colorText)) {
    problem(`Unknown colour mode "${colorText}": use auto, always or never`);
  }
  const services = source ?? (flag("services") ? "cgroup" : null);
  const restartHints = flag("restart-hints");
  // Sections of text after the groups would break a document or a status line.
  if (FORMAT_TRAITS[chosen].document) {
    if (services) problem(`Option "-S" goes with the human or machine output, not ${chosen}`);
    if (restartHints) {
      problem(`Option "--restart-hints" goes with the human or machine output, not ${chosen}`);
    }
  }
  const root = text("root") ?? "/";
  const proc = text("proc") ??
    (raw.root === undefined ? "/proc" : `${root.replace(/\/+$/, "")}/proc`);
  if (flag("reboot-critical") && chosen !== "nagios") {
    problem(`Option "--reboot-critical" goes with --format=nagios`);
  }
  // JSON and the monitoring formats always answer it; the plan says whether to reboot instead.
  const reboot = flag("reboot") || FORMAT_TRAITS[chosen].document || restartHints;
  const defaults = flag("default-ignores");
  const patterns = list("ignore-pattern");
  const literals = list("ignore-literal");
  if (firstError !== undefined) throw new UsageError(firstError, chosen === "nagios");
  return {
    help: flag("help"),
    version: flag("version"),
    scan: flag("fds") ? "fds" : "libs",
    format: chosen,
    showFiles: flag("showlibs"),
    services,
    restartHints,
    // One cgroup read per stale process, only when something printed names units.
    // The reboot check names the units that no restart fixes safely.
    units: FORMAT_TRAITS[chosen].units || services === "cgroup" || restartHints || reboot,
    check: flag("check"),
    warning: warning ?? DEFAULT_WARNING,
    critical,
    timeout,
    allowPartial: flag("allow-partial"),
    output,
    quiet: flag("quiet"),
    color: colorText as CliOptions["color"],
    proc,
    root,
    reboot,
    rebootCritical: flag("reboot-critical"),
    packages: flag("packages"),
    scripts: flag("scripts"),
    ignore: {
      patterns: [...(defaults ? DEFAULT_IGNORE_PATTERNS : []), ...patterns],
      literals: [...(defaults ? DEFAULT_IGNORE_LITERALS : []), ...literals],
    },
  };
}

/** The option rows of `--help`, section by section, from the table. */
function optionHelp(): string {
  const sections: Section[] = [
    "Output",
    "Monitoring",
    "Scan",
    "Exit status",
    "Other",
  ];
  const column = 29;
  return sections.map((section) => {
    const rows = OPTIONS.filter((o) => o.section === section).flatMap((o) => o.help);
    const lines = [`${section}:`];
    if (section === "Output") {
      lines.push(`  ${"(default)".padEnd(column - 2)}PIDS "CMDLINE", one line per command line`);
    }
    for (const [left, description] of rows) {
      const head = `  ${left}`;
      const [first, ...more] = description;
      if (head.length < column - 1) lines.push(`${head.padEnd(column)}${first}`);
      else lines.push(head, `${" ".repeat(column)}${first}`);
      for (const line of more) lines.push(`${" ".repeat(column)}${line}`);
    }
    if (section === "Exit status") lines.push(...EXIT_HELP);
    return lines.join("\n");
  }).join("\n\n");
}

const EXIT_HELP = [
  "  0 the scan completed; 1 --check found something stale (or, with",
  "  --reboot, a reboot is needed); 2 bad usage, no",
  "  permission to read the proc root, or the output could not be written;",
  "  3 an unexpected error; 4 lists were cut by the scan's budget of names",
  "  (said on stderr and in the output); 129, 130, 143 stopped by SIGHUP, SIGINT, SIGTERM while",
  "  writing (after a whole record). With --format=nagios: 0 OK,",
  "  1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad usage, a scan that could not",
  "  see every process or did not finish in time, too). -s changes only",
  "  the human output; -S and --restart-hints go with the human and",
  "  machine output, where machine records end at the first blank line.",
];

/** The one-line hint printed after a usage error, naming the command as it was run. */
export function usageHint(command: string): string {
  return `Try '${command} --help' for more information.`;
}

/**
 * The `--help` text, naming the command as it was run (built when asked:
 * start-up is most of a scan's cost).
 */
export function helpText(command = "lib_users"): string {
  const examples: [string, string][] = [
    ["-s", "programs using deleted libraries"],
    ["--fds -m", "open deleted files, for scripts"],
    ['--check >/dev/null || echo "restart needed"', ""],
    ["-s -S --restart-hints", ""],
    ["--format=nagios -w 0 -c 20 -t 50", ""],
    ["--format=prometheus -o /var/lib/prometheus/node-exporter/lib_users.prom", ""],
  ];
  const lines = examples.map(([args, what]) => {
    const line = `  ${command} ${args}`;
    // Long lines continue, as a shell reads them.
    if (line.length > 78) return line.replace(/ (-o .*)$/, " \\\n      $1");
    return what === "" ? line : `${line.padEnd(40)} ${what}`;
  });
  return `\
Usage: ${command} [OPTIONS]
Lists processes that use deleted files: mapped libraries and executables
(default) or open files (--fds), so you know what to restart after an update.

${optionHelp()}

Permissions: Deno reads /proc only with --allow-all (-A). A procfs mounted
elsewhere (mount -t proc proc /mnt/proc) needs only --allow-read=/mnt/proc.

Examples:
${lines.join("\n")}
  ${command.replace(/^deno run -A /, "deno run --allow-read=/mnt/proc ")} --proc /mnt/proc --json
`;
}
