/**
 * Parses and validates the command line by the option table
 * (`options.ts`): first the syntax, then each value, then how the options
 * combine, so that the first problem named is found the same way for every
 * option.
 *
 * @module
 */

import { type NagiosRange, parseNagiosRange } from "../lib/format/nagios_range.ts";
// Written in full, not through the import map: `deno install` and a run by URL
// read no deno.json. Moving to JSR is this one line: "jsr:@std/cli@1/parse-args".
import { parseArgs } from "npm:deno-std@1.4.0/cli/parse_args.js";
import {
  DEFAULT_IGNORE_LITERALS,
  DEFAULT_IGNORE_PATTERNS,
  type IgnoreRules,
} from "../lib/scan/ignore.ts";
import type { ScanKind } from "../lib/scan/model.ts";
import type { RestartKind } from "../lib/act/steps.ts";
import { UsageError } from "./exit.ts";
import type { ConfigFile } from "./config.ts";
import {
  FORMAT_TRAITS,
  FORMATS,
  optionNamed,
  OPTIONS,
  type OptionSpec,
  orList,
  type OutputFormat,
} from "./options.ts";

/** What the command line asks for, validated. */
export interface CliOptions {
  readonly help: boolean;
  readonly version: boolean;
  /** `--completions SHELL`: print the completion script for that shell. */
  readonly completions: "bash" | "zsh" | "fish" | undefined;
  /** Which scan: mappings (libs) or open files (fds). */
  readonly scan: ScanKind;
  readonly format: OutputFormat;
  readonly showFiles: boolean;
  /** Where `-S` (`--services`) takes the units it lists from, or null without it. */
  readonly unitSource: "cgroup" | "systemctl" | null;
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
  /** The proc root to scan. */
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
  /** `--min-age`, in ms: files replaced less long ago are left out. */
  readonly minAgeMs: number | undefined;
  /** `--replaced-only`: files with nothing at their path are left out. */
  readonly replacedOnly: boolean;
  /** `--restart` and how, or null without it. */
  readonly restart: RestartOptions | null;
}

/** What `--restart` is asked to do. */
export interface RestartOptions {
  /** Kinds besides system services (`--restart-also`). */
  readonly also: ReadonlySet<Exclude<RestartKind, "services">>;
  /** Restart without asking. */
  readonly yes: boolean;
  /** Print the commands and run nothing. */
  readonly dryRun: boolean;
  /** Set systemd's `needs-restart` marker instead of restarting. */
  readonly mark: boolean;
  /** Unit globs never restarted. */
  readonly never: readonly string[];
  /** Risky units restarted all the same. */
  readonly allowed: readonly string[];
  /** How long each restart may take, in ms. */
  readonly timeoutMs: number;
}

/** How long each restart may take unless `--restart-timeout` says: systemd's stop and start defaults. */
const DEFAULT_RESTART_TIMEOUT_S = 120;

/** Any stale process is a WARNING by default. */
const DEFAULT_WARNING: NagiosRange = parseNagiosRange("0")!;

/** The switches' names, aliases included: a value given to one is a mistake. */
const SWITCHES = new Set(
  OPTIONS.filter((o) => o.kind === "switch" && !o.optionalValue).flatMap((o) => [
    o.name,
    ...(o.aliases ?? []),
  ]),
);

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

/** The first problem of each stage; the first stage's is the one named. */
class Problems {
  readonly #stages: (string | undefined)[] = [undefined, undefined, undefined];
  /** Notes a problem of stage 0 (syntax), 1 (a value) or 2 (a combination). */
  add(stage: 0 | 1 | 2, message: string): void {
    this.#stages[stage] ??= message;
  }
  /** The problem to report, if any. */
  get first(): string | undefined {
    return this.#stages.find((message) => message !== undefined);
  }
}

/**
 * Parses and validates the arguments. Problems are found in three stages —
 * the syntax (unknown options, missing values), each value, then how the
 * options combine — and the first of the earliest stage is raised, once the
 * whole command line is read, so that it knows whether this is a Nagios run
 * (the plugin API wants UNKNOWN, exit 3, then).
 *
 * @throws {UsageError} on an unknown option, a missing or bad value, or a conflict
 */
// A little over 70 lines: most of it is the one literal that names every option's value.
export function parseCli(args: readonly string[], config?: ConfigFile): CliOptions {
  const problems = new Problems();
  const { rest, optional } = takeOptionalValues(args, problems);
  const raw = parseRaw(rest, problems);
  // Checked on the command line alone: a file's settings for --restart need no --restart.
  checkRequires(raw, problems);
  if (config !== undefined) mergeConfig(raw, config, problems);
  const value = (name: string): string | undefined => valueOf(raw, name, problems);
  const flag = (name: string): boolean => {
    const given = raw[name];
    if (typeof given !== "boolean") throw new TypeError(`parseArgs gave "${name}" no boolean`);
    return given;
  };
  const choice = <T extends string>(name: string): T | undefined => {
    const given = value(name);
    const choices = optionNamed(name)!.value!.choices!;
    if (given === undefined || choices.includes(given)) return given as T | undefined;
    problems.add(1, badChoice(`--${name}`, given, choices));
    return undefined;
  };
  const format = choice<OutputFormat>("format");
  const warning = rangeOf(value("warning"), "--warning", problems);
  const critical = rangeOf(value("critical"), "--critical", problems);
  const timeout = secondsOf(value("timeout"), "--timeout", problems);
  const minAge = value("min-age");
  const minAgeMs = minAge === undefined ? undefined : durationMs(minAge);
  if (minAgeMs !== undefined && !(minAgeMs > 0)) {
    problems.add(1, `Cannot use "${minAge}" for --min-age: ${DURATION_NEEDED}`);
  }
  const color = choice<CliOptions["color"]>("color") ?? "auto";
  const completions = choice<"bash" | "zsh" | "fish">("completions");
  const output = value("output");
  const root = value("root") ?? "/";
  const proc = value("proc") ??
    (raw.root === undefined ? "/proc" : `${root.replace(/\/+$/, "")}/proc`);
  const patterns = listOf(raw, "ignore-pattern", problems);
  const literals = listOf(raw, "ignore-literal", problems);
  const hook = aptHookOf(flag, choice);
  const restart = restartOf(raw, flag, value, problems, hook);

  const chosen = chooseFormat(format, flag("machine-readable"), flag("json"), problems);
  const unitSource = (optional.get("services") as CliOptions["unitSource"] | undefined) ??
    (flag("services") ? "cgroup" : null);
  checkFormats(raw, optional, chosen, problems);
  if (problems.first !== undefined) throw new UsageError(problems.first, chosen === "nagios");
  const restartHints = flag("restart-hints") || hook === "plan";
  // JSON and the monitoring formats always answer it, but the fds scan's Prometheus
  // output (its series are the libs scan's); the plan says whether to reboot instead.
  const hostSeries = !(chosen === "prometheus" && flag("fds"));
  const reboot = flag("reboot") || (FORMAT_TRAITS[chosen].document && hostSeries) ||
    restartHints;
  const defaults = flag("default-ignores");
  return {
    help: flag("help"),
    version: flag("version"),
    completions,
    scan: flag("fds") ? "fds" : "libs",
    format: chosen,
    showFiles: flag("showlibs"),
    unitSource,
    restartHints,
    // One cgroup read per stale process, only when something printed names units.
    // The reboot check names the units that no restart fixes safely.
    units: FORMAT_TRAITS[chosen].units || unitSource === "cgroup" || restartHints || reboot ||
      restart !== null,
    check: flag("check"),
    warning: warning ?? DEFAULT_WARNING,
    critical,
    timeout,
    allowPartial: flag("allow-partial"),
    output,
    quiet: flag("quiet") || hook !== undefined,
    color,
    proc,
    root,
    reboot,
    rebootCritical: flag("reboot-critical"),
    // --restart names each step's packages, for the one who decides.
    packages: flag("packages") || restart !== null,
    scripts: flag("scripts"),
    ignore: {
      patterns: [...(defaults ? DEFAULT_IGNORE_PATTERNS : []), ...patterns],
      literals: [...(defaults ? DEFAULT_IGNORE_LITERALS : []), ...literals],
    },
    minAgeMs,
    replacedOnly: flag("replaced-only"),
    restart,
  };
}

/** Options that go only with another (`--yes` with `--restart`), each given without it. */
function checkRequires(raw: Record<string, unknown>, problems: Problems): void {
  for (const option of OPTIONS) {
    if (option.requires === undefined || !isGiven(raw, option)) continue;
    if (!isGiven(raw, optionNamed(option.requires)!)) {
      problems.add(2, `Cannot use --${option.name} without --${option.requires}`);
    }
  }
}

/** Options given with a format they do not go with. */
function checkFormats(
  raw: Record<string, unknown>,
  optional: ReadonlyMap<string, string>,
  chosen: OutputFormat,
  problems: Problems,
): void {
  for (const option of OPTIONS) {
    if (option.formats === undefined || option.formats.includes(chosen)) continue;
    const given = raw[option.name] !== undefined && raw[option.name] !== false;
    if (!given && !optional.has(option.name)) continue;
    problems.add(2, notWith(option, chosen));
  }
}

/**
 * What `--apt-hook` does (`after-upgrade`, from the file or the command line;
 * `plan` by default), or undefined without it.
 */
function aptHookOf(
  flag: (name: string) => boolean,
  choice: (name: string) => string | undefined,
): "plan" | "restart" | "mark" | undefined {
  if (!flag("apt-hook")) return undefined;
  return (choice("after-upgrade") ?? "plan") as "plan" | "restart" | "mark";
}

/**
 * What `--restart` is asked to do, or null without it; its values checked
 * either way. The apt hook's `restart` and `mark` are `--restart --yes` and
 * `--restart --mark --yes`: an upgrade never waits on a question.
 */
function restartOf(
  raw: Record<string, unknown>,
  flag: (name: string) => boolean,
  value: (name: string) => string | undefined,
  problems: Problems,
  hook: "plan" | "restart" | "mark" | undefined,
): RestartOptions | null {
  const timeout = secondsOf(value("restart-timeout"), "--restart-timeout", problems);
  const also = listOf(raw, "restart-also", problems);
  const never = listOf(raw, "never", problems);
  const allowed = listOf(raw, "restart-unit", problems);
  const byHook = hook === "restart" || hook === "mark";
  if (!flag("restart") && !byHook) return null;
  return {
    also: new Set(also as Exclude<RestartKind, "services">[]),
    yes: flag("yes") || byHook,
    dryRun: flag("dry-run"),
    mark: flag("mark") || hook === "mark",
    never,
    allowed,
    timeoutMs: (timeout ?? DEFAULT_RESTART_TIMEOUT_S) * 1000,
  };
}

/**
 * Adds a configuration file's settings to what the command line gave: a value
 * the command line gave stays; a list has the file's items first. Each key must
 * name an option that may be set there, each value be one it takes.
 */
function mergeConfig(raw: Record<string, unknown>, config: ConfigFile, problems: Problems): void {
  const given = new Set(OPTIONS.filter((o) => raw[o.name] !== undefined).map((o) => o.name));
  const lists = new Map<string, string[]>();
  for (const { key, value, line } of config.entries) {
    const where = `in "${config.path}", line ${line}`;
    const option = OPTIONS.find((o) => o.name === key && o.config);
    if (option === undefined) {
      problems.add(0, `Cannot use "${key}" ${where}: it is not a setting of the file`);
      continue;
    }
    const wrong = valueProblem(option, value);
    if (wrong !== undefined) problems.add(1, `Cannot use "${value}" for ${key} ${where}: ${wrong}`);
    if (option.kind === "list") lists.set(key, [...lists.get(key) ?? [], value]);
    else if (!given.has(key)) raw[key] = value;
  }
  for (const [key, values] of lists) {
    const fromLine = Array.isArray(raw[key]) ? raw[key] as unknown[] : [];
    raw[key] = [...values, ...fromLine];
  }
}

/** What is wrong with `value` for `option`, by its table entry; undefined when nothing. */
function valueProblem(option: OptionSpec, value: string): string | undefined {
  const choices = option.value?.choices;
  if (choices !== undefined && !choices.includes(value)) return `use ${orList(choices)}`;
  if (option.value?.seconds && !(secondsIn(value) > 0)) return "it needs seconds above 0";
  if (option.value?.duration && !(durationMs(value) > 0)) return DURATION_NEEDED;
  return undefined;
}

const DURATION_NEEDED = "it needs a duration above 0: seconds, or a number with s, m, h, d or w";

/** Milliseconds in each unit of a duration. */
const UNIT_MS: Readonly<Record<string, number>> = {
  "": 1000,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** A duration (`90`, `90s`, `30m`, `6h`, `2d`, `1w`) in ms; NaN when it is none. */
function durationMs(text: string): number {
  const match = /^([0-9]{1,9})([smhdw]?)$/.exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : NaN;
}

function secondsIn(text: string): number {
  return /^[0-9]+(?:\.[0-9]+)?$/.test(text) ? Number(text) : NaN;
}

/** Whether `option` was given on the command line (a negatable one: turned off). */
function isGiven(raw: Record<string, unknown>, option: OptionSpec): boolean {
  const value = raw[option.name];
  if (option.negatable) return value === false;
  return value !== undefined && value !== false && !(Array.isArray(value) && value.length === 0);
}

/**
 * Takes out the `--NAME=VALUE` forms of switches that may name a value
 * (`--services=systemctl`), which parseArgs would read as a switch; their
 * switch is then on.
 */
function takeOptionalValues(
  args: readonly string[],
  problems: Problems,
): { rest: string[]; optional: Map<string, string> } {
  const optional = new Map<string, string>();
  const rest = args.filter((arg) => {
    const [, name, given] = /^--([^=]+)=(.*)$/s.exec(arg) ?? [];
    const spec = name === undefined ? undefined : OPTIONS.find((o) => o.name === name);
    if (spec?.optionalValue === undefined || given === undefined) return true;
    const choices = spec.optionalValue.choices ?? [];
    if (choices.includes(given)) optional.set(spec.name, given);
    else problems.add(1, badChoice(`--${spec.name}`, given, choices));
    return false;
  });
  return { rest, optional };
}

/** parseArgs' reading of the arguments, its surprises noted as problems. */
function parseRaw(args: string[], problems: Problems): Record<string, unknown> {
  for (const arg of args) {
    // parseArgs would read `--fds=yes` as true; a value on a switch is a mistake.
    const name = /^--(?:no-)?([^=]+)=/s.exec(arg)?.[1];
    if (name && SWITCHES.has(name)) {
      problems.add(0, `Cannot use "${arg}": --${name} takes no value`);
    }
  }
  const raw: Record<string, unknown> = parseArgs(args, {
    ...PARSE_CONFIG,
    unknown: (arg: string, key?: string) => {
      if (key === undefined) problems.add(0, unexpected(arg));
      else problems.add(0, `Cannot use "${arg.replace(/=.*$/s, "")}": there is no such option`);
      return false;
    },
  });
  // parseArgs passes what follows "--" through without asking `unknown`.
  const positional = raw._;
  if (Array.isArray(positional) && positional.length > 0) {
    problems.add(0, unexpected(String(positional[0])));
  }
  return raw;
}

function unexpected(arg: string): string {
  return `Cannot use "${arg}": the command takes options only, no arguments`;
}

/** The value of option `name`, or undefined when not given; an empty one is a problem. */
function valueOf(
  raw: Record<string, unknown>,
  name: string,
  problems: Problems,
): string | undefined {
  const value = raw[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    problems.add(0, `Cannot use --${name}: it needs a value`);
    return undefined;
  }
  return value;
}

/** The values of a repeatable option; an empty one, or one not among its choices, is a problem. */
function listOf(raw: Record<string, unknown>, name: string, problems: Problems): string[] {
  const value = raw[name];
  if (!Array.isArray(value)) return [];
  const choices = optionNamed(name)!.value?.choices;
  return value.filter((item): item is string => {
    if (typeof item !== "string" || item === "") {
      problems.add(0, `Cannot use --${name}: it needs a value`);
      return false;
    }
    if (choices === undefined || choices.includes(item)) return true;
    problems.add(1, badChoice(`--${name}`, item, choices));
    return false;
  });
}

function badChoice(flag: string, given: string, choices: readonly string[]): string {
  return `Cannot use "${given}" for ${flag}: use ${orList(choices)}`;
}

function rangeOf(text: string | undefined, flag: string, problems: Problems) {
  if (text === undefined) return undefined;
  const range = parseNagiosRange(text);
  if (range === null) {
    problems.add(1, `Cannot use "${text}" for ${flag}: a range is N, N:, ~:N, N:M or @N:M`);
  }
  return range ?? undefined;
}

function secondsOf(
  text: string | undefined,
  flag: string,
  problems: Problems,
): number | undefined {
  if (text === undefined) return undefined;
  const seconds = /^[0-9]+(?:\.[0-9]+)?$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0)) {
    problems.add(1, `Cannot use "${text}" for ${flag}: it needs seconds above 0`);
  }
  return seconds;
}

/** The one output format asked for by `--format`, `-m` and `--json`. */
function chooseFormat(
  format: OutputFormat | undefined,
  machine: boolean,
  json: boolean,
  problems: Problems,
): OutputFormat {
  const formats = new Set<OutputFormat>();
  if (format !== undefined) formats.add(format);
  if (machine) formats.add("machine");
  if (json) formats.add("json");
  if (formats.size > 1) {
    problems.add(2, `Cannot use two output formats: ${[...formats].join(" and ")}`);
  }
  return [...formats][0] ?? FORMATS[0];
}

/** Why `option` cannot go with format `chosen`. */
function notWith(option: OptionSpec, chosen: OutputFormat): string {
  const formats = option.formats!;
  const those = formats.length === 1
    ? `--format=${formats[0]}`
    : `the ${formats.slice(0, -1).join(", ")} or ${formats[formats.length - 1]} output`;
  return `Cannot use --${option.name} with the ${chosen} output: it goes with ${those}`;
}
