/**
 * Every text made from the option table (`options.ts`) and the exit codes
 * (`exit.ts`): `--help`, the man page `lib_users(8)`, the shell completions
 * and the docs' flag and exit-code reference. Built when asked: start-up is
 * most of a scan's cost.
 *
 * @module
 */

import { EXIT_CODES, NAGIOS_EXIT_CODES } from "./exit.ts";
import { longForms, OPTIONS, type OptionSpec, orList, type Section, SECTIONS } from "./options.ts";

/** The left column of `--help`, and the width of the description beside it. */
const COLUMN = 29;
const WIDTH = 80 - COLUMN;

/** The one-line hint printed after a usage error, naming the command as it was run. */
export function usageHint(command: string): string {
  return `Try '${command} --help' for more information.`;
}

/** One row of a reference: how the option is written, and what it does. */
interface Row {
  readonly usage: string;
  readonly text: string;
}

/** The rows of one option: one, or two for a switch that may name a value. */
function rowsOf(option: OptionSpec): Row[] {
  const names = longForms(option).join(", ");
  const value = option.value === undefined
    ? ""
    : option.value.choices
    ? `=${option.value.name}`
    : ` ${option.value.name}`;
  const usage = `${option.short ? `-${option.short}, ` : ""}${names}${value}`;
  const rows = [{ usage, text: describe(option, option.help) }];
  const optional = option.optionalValue;
  if (optional) {
    rows.push({
      usage: `--${option.name}=${optional.name}`,
      text: describe(option, optional.help),
    });
  }
  return rows;
}

/** What an option does, with the values it takes and the formats it goes with. */
function describe(option: OptionSpec, help: string): string {
  const choices = option.optionalValue?.choices ?? option.value?.choices;
  const formats = option.formats;
  const only = formats?.length === 1 ? formats[0] : undefined;
  let text = only !== undefined && only !== "human" ? `${only}: ${help}` : help;
  if (choices && (option.value?.choices || help === option.optionalValue?.help)) {
    text += `; ${option.optionalValue?.name ?? option.value!.name} is ${orList(choices)}`;
  }
  if (formats && (formats.length > 1 || only === "human")) {
    text += `; with the ${orList(formats)} output only`;
  }
  return text;
}

/** Words wrapped to `width` columns. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** A note at the head of a section of `--help`. */
const SECTION_NOTES: Partial<Record<Section, Row>> = {
  Output: { usage: "(default)", text: 'PIDS "CMDLINE", one line per command line' },
};

/** The exit codes as rows of `--help`, the Nagios run's after them. */
function exitRows(): Row[] {
  return [
    ...EXIT_CODES.map(({ code, meaning }) => ({ usage: String(code), text: meaning })),
    { usage: "--format=nagios:", text: "the Nagios plugin API's codes instead" },
    ...NAGIOS_EXIT_CODES.map(({ code, meaning }) => ({ usage: String(code), text: meaning })),
  ];
}

/** The option rows of `--help`, section by section. */
function optionHelp(): string {
  return SECTIONS.map((section) => {
    const lines = [`${section}:`];
    const note = SECTION_NOTES[section];
    const rows = [
      ...(note ? [note] : []),
      ...OPTIONS.filter((o) => o.section === section).flatMap(rowsOf),
    ];
    if (section === "Exit status") rows.push(...exitRows());
    for (const { usage, text } of rows) {
      const head = `  ${usage.startsWith("-") && !usage.startsWith("--") ? "" : "    "}${usage}`;
      const [first, ...more] = wrap(text, WIDTH);
      if (head.length < COLUMN - 1) lines.push(`${head.padEnd(COLUMN)}${first}`);
      else lines.push(head, `${" ".repeat(COLUMN)}${first}`);
      for (const line of more) lines.push(`${" ".repeat(COLUMN)}${line}`);
    }
    return lines.join("\n");
  }).join("\n\n");
}

/** Examples for `--help` and the man page: arguments, and what they show. */
const EXAMPLES: readonly (readonly [string, string])[] = [
  ["-s", "programs using deleted libraries"],
  ["--fds -m", "open deleted files, for scripts"],
  ['--check >/dev/null || echo "restart needed"', ""],
  ["-s -S --restart-hints", ""],
  ["--format=nagios -w 0 -c 20 -t 50", ""],
  ["--format=prometheus -o /var/lib/prometheus/node-exporter/lib_users.prom", ""],
];

/**
 * The `--help` text, naming the command as it was run (built when asked:
 * start-up is most of a scan's cost).
 */
export function helpText(command = "lib_users"): string {
  const lines = EXAMPLES.map(([args, what]) => {
    const line = `  ${command} ${args}`;
    // Long lines continue, as a shell reads them.
    if (line.length > 78) return line.replace(/ (-o .*)$/, " \\\n      $1");
    return what === "" ? line : `${line.padEnd(40)} ${what}`;
  });
  return `\
Usage: ${command} [OPTIONS]
       ${command} fleet [--json | -m] REPORT.json...
Lists processes that use deleted files: mapped libraries and executables
(default) or open files (--fds), so you know what to restart after an update.
"fleet" merges the --json reports of many hosts: per package, per host.

${optionHelp()}

Permissions: Deno reads /proc only with --allow-all (-A). A procfs mounted
elsewhere (mount -t proc proc /mnt/proc) needs only --allow-read=/mnt/proc.

Examples:
${lines.join("\n")}
  ${command.replace(/^deno run -A /, "deno run --allow-read=/mnt/proc ")} --proc /mnt/proc --json
`;
}

/** Text for roff: backslashes and hyphens escaped, no line taken for a request. */
function roff(text: string): string {
  return text.replace(/\\/g, "\\e").replace(/-/g, "\\-").replace(/^([.'])/gm, "\\&$1");
}

/** The man page `lib_users(8)`, in roff. */
export function manPage(version: string): string {
  const out = [
    `.TH LIB_USERS 8 "" "lib_users ${version}" "System Administration"`,
    ".SH NAME",
    "lib_users, fd_users \\- list processes that use deleted libraries or files",
    ".SH SYNOPSIS",
    ".B lib_users",
    ".RI [ OPTIONS ]",
    ".br",
    ".B fd_users",
    ".RI [ OPTIONS ]",
    ".SH DESCRIPTION",
    roff(
      "After a package update, long-running processes keep using the old, deleted copies of " +
        "libraries and files. lib_users lists them, grouped by command line, so the admin " +
        "knows what to restart: mapped libraries and executables by default, open files " +
        "(such as rotated logs) with --fds, which is what fd_users runs.",
    ),
  ];
  out.push(".SH OPTIONS");
  for (const section of SECTIONS) {
    out.push(`.SS ${section}`);
    for (const option of OPTIONS.filter((o) => o.section === section)) {
      for (const { usage, text } of rowsOf(option)) {
        out.push(".TP", `.B ${roff(usage)}`, roff(text));
      }
    }
  }
  out.push(".SH EXIT STATUS");
  for (const { code, meaning } of EXIT_CODES) out.push(".TP", `.B ${code}`, roff(meaning));
  out.push(".PP", roff("With --format=nagios, the Nagios plugin API's codes instead:"));
  for (const { code, meaning } of NAGIOS_EXIT_CODES) out.push(".TP", `.B ${code}`, roff(meaning));
  out.push(
    ".SH PERMISSIONS",
    roff(
      "Deno reads /proc only with --allow-all (-A). A procfs mounted elsewhere " +
        "(mount -t proc proc /mnt/proc) needs only --allow-read=/mnt/proc. Other users' " +
        "processes can be read only as root, or with CAP_SYS_PTRACE (and " +
        "CAP_CHECKPOINT_RESTORE to check identities).",
    ),
    ".SH FILES",
    ".TP",
    ".B /etc/lib_users.conf",
    roff(
      "Settings for unattended runs, as KEY = VALUE lines (the keys: " +
        OPTIONS.filter((o) => o.config).map((o) => o.name).join(", ") +
        "); read when it exists and may be read, or the file --config names. Flags override " +
        "its values; lists add to them.",
    ),
    ".SH EXAMPLES",
  );
  for (const [args, what] of EXAMPLES) {
    out.push(".TP", `.B ${roff(`lib_users ${args}`)}`, roff(what === "" ? "" : what));
  }
  out.push(".SH SEE ALSO", ".BR needrestart (1),", ".BR checkrestart (1),", ".BR lsof (8)", "");
  return out.filter((line, i, all) => !(line === "" && i < all.length - 1)).join("\n");
}

/** The docs' flag reference: a Markdown table per section. */
export function optionReference(): string {
  return SECTIONS.map((section) => {
    const rows = OPTIONS.filter((o) => o.section === section).flatMap(rowsOf);
    return [
      `### ${section}`,
      "",
      "| Option | What it does |",
      "| --- | --- |",
      ...rows.map(({ usage, text }) => `| \`${usage}\` | ${text.replace(/\|/g, "\\|")} |`),
    ].join("\n");
  }).join("\n\n") + "\n";
}

/** The docs' list of the configuration file's settings: the options that may be set there. */
export function configReference(): string {
  return [
    "| Setting | Value | As the flag |",
    "| --- | --- | --- |",
    ...OPTIONS.filter((o) => o.config).map((o) =>
      `| \`${o.name}\` | ${o.value!.name}${o.kind === "list" ? " (repeatable)" : ""} | ` +
      `\`--${o.name}\`: ${describe(o, o.help).replace(/\|/g, "\\|")} |`
    ),
    "",
  ].join("\n");
}

/** The docs' exit-code reference: a Markdown table, and the Nagios run's. */
export function exitCodeReference(): string {
  return [
    "| Code | Meaning |",
    "| --- | --- |",
    ...EXIT_CODES.map(({ code, meaning }) => `| ${code} | ${meaning} |`),
    "",
    "With `--format=nagios`, the Nagios plugin API's codes instead:",
    "",
    "| Code | Meaning |",
    "| --- | --- |",
    ...NAGIOS_EXIT_CODES.map(({ code, meaning }) => `| ${code} | ${meaning} |`),
    "",
  ].join("\n");
}
