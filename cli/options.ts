/**
 * Every option of the command line, once: names, aliases, values and their
 * choices, the formats each goes with, and what `--help` says of it. The
 * parser, `--help`, the man page, the shell completions and the docs' flag
 * reference are all made from this table.
 *
 * @module
 */

/** The output formats of `--format`. */
export const FORMATS = ["human", "machine", "json", "nagios", "prometheus", "needrestart"] as const;
/** One of {@linkcode FORMATS}. */
export type OutputFormat = typeof FORMATS[number];

/** What each format is: whether it names units, and whether it is one document or status line. */
export const FORMAT_TRAITS: Readonly<
  Record<OutputFormat, { readonly units: boolean; readonly document: boolean }>
> = Object.freeze({
  human: { units: false, document: false },
  machine: { units: false, document: false },
  // Each group's unit, class, user and container; units name the Nagios and Prometheus series.
  json: { units: true, document: true },
  nagios: { units: true, document: true },
  prometheus: { units: true, document: true },
  // needrestart -b's keys: services, containers, sessions; the kernel and microcode.
  needrestart: { units: true, document: true },
});

/** The formats text sections may follow: a document or a status line must stay whole. */
const SECTIONED: readonly OutputFormat[] = FORMATS.filter((f) => !FORMAT_TRAITS[f].document);

/** Where an option is listed in `--help`, the man page and the docs. */
export type Section = "Output" | "Monitoring" | "Scan" | "Acting" | "Exit status" | "Other";

/** The sections, in the order they are shown. */
export const SECTIONS: readonly Section[] = [
  "Output",
  "Monitoring",
  "Scan",
  "Acting",
  "Exit status",
  "Other",
];

/** A value an option takes. */
export interface ValueSpec {
  /** Its name in help: FILE, DIR, RANGE. */
  readonly name: string;
  /** The only values it may be; help then writes `--option=NAME`. */
  readonly choices?: readonly string[];
  /** What it names, for shell completion. */
  readonly names?: "file" | "directory";
  /** A number of seconds above 0. */
  readonly seconds?: true;
  /** A duration: whole seconds, or a number with `s`, `m`, `h`, `d` or `w` (`90s`, `6h`, `2d`). */
  readonly duration?: true;
}

/** One option of the command line. */
export interface OptionSpec {
  /** The long name, without dashes. */
  readonly name: string;
  /** A one-letter alias. */
  readonly short?: string;
  /** Other long names. */
  readonly aliases?: readonly string[];
  /** A switch, a value, or a value that may be repeated. */
  readonly kind: "switch" | "value" | "list";
  /** The value of a `value` or `list` option. */
  readonly value?: ValueSpec;
  /** A switch that may name a value too (`--services=SOURCE`), with what that form does. */
  readonly optionalValue?: ValueSpec & { readonly help: string };
  /** A switch that is on by default and turned off by `--no-NAME`. */
  readonly negatable?: boolean;
  /** The output formats it goes with; every format when absent. */
  readonly formats?: readonly OutputFormat[];
  /** Another option it only goes with. */
  readonly requires?: string;
  /** It may be set in the configuration file too, under its long name. */
  readonly config?: true;
  readonly section: Section;
  /** What it does, one paragraph: help wraps it. */
  readonly help: string;
}

/** Every option. */
export const OPTIONS: readonly OptionSpec[] = Object.freeze(
  [
    {
      name: "showlibs",
      short: "s",
      aliases: ["showfiles"],
      kind: "switch",
      section: "Output",
      help: 'also show the files: PIDS "CMDLINE" uses F1,F2',
    },
    {
      name: "machine-readable",
      short: "m",
      kind: "switch",
      section: "Output",
      help: "PIDS;F1,F2;CMDLINE (same as --format=machine)",
    },
    {
      name: "json",
      kind: "switch",
      section: "Output",
      help: "a JSON document (same as --format=json), with the unit, class, user and " +
        "container of each group",
    },
    {
      name: "format",
      kind: "value",
      value: { name: "FORMAT", choices: FORMATS },
      section: "Output",
      help: "the output format (default human)",
    },
    {
      name: "services",
      short: "S",
      kind: "switch",
      optionalValue: {
        name: "SOURCE",
        choices: ["cgroup", "systemctl"],
        help: "the same, units from SOURCE (default cgroup; systemctl runs systemctl status " +
          "PID, which needs --allow-run=systemctl)",
      },
      formats: SECTIONED,
      section: "Output",
      help: "then list the systemd unit of each PID, read from /proc/PID/cgroup",
    },
    {
      name: "restart-hints",
      kind: "switch",
      formats: SECTIONED,
      section: "Output",
      help: "then print the restart plan: commands per kind (services, user services, " +
        "containers, manager), sessions to end, risky units apart; runs nothing",
    },
    {
      name: "packages",
      kind: "switch",
      section: "Output",
      help: "name the package of each stale file and when it changed (dpkg's or rpm's " +
        "database, read-only): after each file with -s, then per package; in every format",
    },
    {
      name: "reboot",
      kind: "switch",
      section: "Output",
      help: "then say whether the host needs a reboot: the kernel the boot loader starts is " +
        "newer or rebuilt, newer CPU microcode is installed, /run/reboot-required, a stale " +
        "PID 1 or unit no restart fixes (always in JSON, Nagios, Prometheus and after " +
        "--restart-hints)",
    },
    {
      name: "output",
      short: "o",
      kind: "value",
      value: { name: "FILE", names: "file" },
      section: "Output",
      help: "write to FILE instead of stdout, atomically (a temporary file renamed over it, " +
        "mode 0644); a scan that fails leaves the old FILE in place",
    },
    {
      name: "color",
      kind: "value",
      value: { name: "WHEN", choices: ["auto", "always", "never"] },
      section: "Output",
      help: "colour the human output; auto (the default) colours it on a terminal, unless " +
        "NO_COLOR is set and not empty",
    },
    {
      name: "quiet",
      short: "q",
      kind: "switch",
      section: "Output",
      help: "no warning about processes that could not be read or seen, nor the note of what " +
        "--min-age and --replaced-only left out (JSON, Nagios, Prometheus keep the counts)",
    },
    {
      name: "warning",
      short: "w",
      kind: "value",
      value: { name: "RANGE" },
      formats: ["nagios"],
      section: "Monitoring",
      help: "WARNING when the count of stale processes is outside RANGE: N (0..N), " +
        "N: (N or more), ~:N, N:M, @N:M (inside); default 0: any",
    },
    {
      name: "critical",
      short: "c",
      kind: "value",
      value: { name: "RANGE" },
      formats: ["nagios"],
      section: "Monitoring",
      help: "CRITICAL likewise (default: never)",
    },
    {
      name: "timeout",
      short: "t",
      kind: "value",
      value: { name: "SECONDS", seconds: true },
      formats: ["nagios"],
      section: "Monitoring",
      help: "UNKNOWN, with what is known, when the scan has not finished by then " +
        "(counted from start-up)",
    },
    {
      name: "reboot-critical",
      kind: "switch",
      formats: ["nagios"],
      section: "Monitoring",
      help: "a needed reboot is CRITICAL (default WARNING)",
    },
    {
      name: "allow-partial",
      kind: "switch",
      section: "Monitoring",
      help: "nagios, prometheus: accept a scan that could not see other users' processes " +
        "(not root, hidepid=), and (nagios) a reboot question without an answer; without it " +
        "Nagios says UNKNOWN and Prometheus lib_users_scan_success 0",
    },
    {
      name: "fds",
      kind: "switch",
      section: "Scan",
      help: "look at open files (/proc/PID/fd) instead of mappings (/proc/PID/maps); " +
        "the fd_users tool",
    },
    {
      name: "scripts",
      kind: "switch",
      section: "Scan",
      help: "also find Python, Perl, Ruby, PHP and Node programs whose script was deleted, " +
        "replaced or changed since they started (read from argv and /proc; nothing run)",
    },
    {
      name: "proc",
      kind: "value",
      value: { name: "DIR", names: "directory" },
      section: "Scan",
      help: "the proc root to scan (default /proc)",
    },
    {
      name: "root",
      kind: "value",
      value: { name: "DIR", names: "directory" },
      section: "Scan",
      help: "the root the reboot check and --packages read (boot/, efi/, lib/modules/, " +
        "lib/firmware/, run/, sys/firmware/efi/efivars/, var/lib/; default /), and DIR/proc " +
        "as the default --proc",
    },
    {
      name: "ignore-pattern",
      config: true,
      short: "i",
      kind: "list",
      value: { name: "GLOB" },
      section: "Scan",
      help: "also ignore names matching GLOB (repeatable)",
    },
    {
      name: "ignore-literal",
      config: true,
      short: "I",
      kind: "list",
      value: { name: "NAME" },
      section: "Scan",
      help: "also ignore the name NAME (repeatable)",
    },
    {
      name: "min-age",
      config: true,
      kind: "value",
      value: { name: "DURATION", duration: true },
      section: "Scan",
      help: "leave out files replaced less than DURATION ago (90s, 30m, 6h, 2d, 1w): the " +
        "debounce for an update still running; files of unknown age stay; what it left out " +
        "is said in every format",
    },
    {
      name: "replaced-only",
      kind: "switch",
      section: "Scan",
      help: "leave out files with nothing at their path now (deleted: often temporary files a " +
        "program maps and unlinks on purpose), keeping those another file replaced (the " +
        "update signal) and those not known; said in every format",
    },
    {
      name: "default-ignores",
      kind: "switch",
      negatable: true,
      section: "Scan",
      help: "drop the built-in ignores (/SYSV*, /memfd:*, ...)",
    },
    {
      name: "restart",
      kind: "switch",
      formats: ["human", "json", "nagios"],
      section: "Acting",
      help: "restart the plan's safe units (system services not on the risky list), one at a " +
        "time, then scan again and say of each: clean, survivors, failed or timed out; asks " +
        "first on a terminal; needs --allow-run=systemctl",
    },
    {
      name: "restart-also",
      config: true,
      kind: "list",
      value: { name: "KIND", choices: ["user-services", "containers", "managers"] },
      requires: "restart",
      section: "Acting",
      help: "restart users' services too, units inside system containers (LXC, Incus, " +
        "Proxmox, nspawn), or re-execute the service managers (repeatable)",
    },
    {
      name: "yes",
      kind: "switch",
      requires: "restart",
      section: "Acting",
      help: "restart without asking (an apt hook, cron); without a terminal, --restart " +
        "refuses to run without it",
    },
    {
      name: "dry-run",
      kind: "switch",
      requires: "restart",
      section: "Acting",
      help: "print the commands --restart would run, exactly, and run nothing",
    },
    {
      name: "mark",
      kind: "switch",
      requires: "restart",
      section: "Acting",
      help: "set systemd's needs-restart marker on those units instead of restarting them " +
        "(systemd 248 or later), for a later systemctl reload-or-restart --marked",
    },
    {
      name: "never",
      config: true,
      kind: "list",
      value: { name: "GLOB" },
      requires: "restart",
      section: "Acting",
      help: "never restart units matching GLOB, besides the risky ones (repeatable)",
    },
    {
      name: "restart-unit",
      kind: "list",
      value: { name: "UNIT" },
      requires: "restart",
      section: "Acting",
      help: "restart UNIT although it is risky, or CONTAINER:UNIT for one inside a container " +
        "(repeatable)",
    },
    {
      name: "restart-timeout",
      config: true,
      kind: "value",
      value: { name: "SECONDS", seconds: true },
      requires: "restart",
      section: "Acting",
      help: "give each restart this long (default 120); past it the run says so and goes on, " +
        "while systemd's job may still run",
    },
    {
      name: "apt-hook",
      kind: "switch",
      formats: ["human"],
      section: "Acting",
      help: "what the apt hook (contrib/apt) runs after an upgrade: quietly, never asking, " +
        "what after-upgrade says",
    },
    {
      name: "after-upgrade",
      config: true,
      kind: "value",
      value: { name: "WHAT", choices: ["plan", "restart", "mark"] },
      requires: "apt-hook",
      section: "Acting",
      help: "what --apt-hook does: print the restart plan (plan, the default), restart the " +
        "safe units (restart: --restart --yes) or mark them (mark: --restart --mark --yes)",
    },
    {
      name: "check",
      kind: "switch",
      section: "Exit status",
      help: "exit 1 when anything stale was found",
    },
    {
      name: "config",
      kind: "value",
      value: { name: "FILE", names: "file" },
      section: "Other",
      help: "read the settings of FILE instead of /etc/lib_users.conf (which is read when " +
        "it exists and may be read); flags override them, lists add to them",
    },
    {
      name: "completions",
      kind: "value",
      value: { name: "SHELL", choices: ["bash", "zsh", "fish"] },
      section: "Other",
      help: "print the completion script for SHELL (needs no permission)",
    },
    {
      name: "help",
      short: "h",
      kind: "switch",
      section: "Other",
      help: "show this help",
    },
    {
      name: "version",
      short: "V",
      kind: "switch",
      section: "Other",
      help: "show the version",
    },
  ] as const satisfies readonly OptionSpec[],
);

/** The long names of every option, as typed, `--no-` forms included. */
export function longForms(option: OptionSpec): string[] {
  if (option.negatable) return [`--no-${option.name}`];
  return [option.name, ...(option.aliases ?? [])].map((name) => `--${name}`);
}

/** The option of a long or short name (without dashes); undefined when there is none. */
export function optionNamed(name: string): OptionSpec | undefined {
  return OPTIONS.find((o) =>
    o.name === name || o.short === name ||
    (o.aliases as readonly string[] | undefined)?.includes(name)
  );
}

/** Items as prose: `a`, `a or b`, `a, b or c` (for value lists in help and messages). */
export function orList(items: readonly string[]): string {
  return items.length === 1
    ? items[0]!
    : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}
