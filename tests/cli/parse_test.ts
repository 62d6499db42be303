import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { EXIT, UsageError } from "../../cli/exit.ts";
import { parseCli } from "../../cli/parse.ts";
import { ROOT } from "../_helpers.ts";
import { DEFAULT_IGNORE_LITERALS, DEFAULT_IGNORE_PATTERNS } from "../../lib/scan/ignore.ts";
import { parseNagiosRange } from "../../lib/format/nagios_range.ts";

Deno.test("parseCli() defaults to a human libs scan of /proc with the default ignores", () => {
  assertEquals(parseCli([]), {
    help: false,
    version: false,
    completions: undefined,
    scan: "libs",
    format: "human",
    showFiles: false,
    unitSource: null,
    restartHints: false,
    units: false,
    check: false,
    warning: parseNagiosRange("0"),
    critical: undefined,
    timeout: undefined,
    allowPartial: false,
    output: undefined,
    quiet: false,
    color: "auto",
    proc: "/proc",
    root: "/",
    reboot: false,
    rebootCritical: false,
    packages: false,
    scripts: false,
    minAgeMs: undefined,
    replacedOnly: false,
    ignore: { patterns: [...DEFAULT_IGNORE_PATTERNS], literals: [...DEFAULT_IGNORE_LITERALS] },
    restart: null,
  });
});

Deno.test("parseCli() reads --restart and what goes with it; those need --restart", () => {
  const options = parseCli([
    "--restart",
    "--restart-also",
    "user-services",
    "--restart-also=managers",
    "--yes",
    "--never",
    "ssh*",
    "--restart-unit=dbus.service",
    "--restart-timeout=30",
  ]);
  assertEquals(options.restart, {
    also: new Set(["user-services", "managers"]),
    yes: true,
    dryRun: false,
    mark: false,
    never: ["ssh*"],
    allowed: ["dbus.service"],
    timeoutMs: 30_000,
  });
  assertEquals(options.units, true);
  assertEquals(parseCli(["--restart"]).restart?.timeoutMs, 120_000);
  for (
    const [args, message] of [
      [["--dry-run"], "Cannot use --dry-run without --restart"],
      [["--never=x"], "Cannot use --never without --restart"],
      [
        ["--restart", "--restart-timeout=0"],
        'Cannot use "0" for --restart-timeout: it needs seconds above 0',
      ],
      [
        ["--restart", "-m"],
        "Cannot use --restart with the machine output: it goes with the human, json or nagios output",
      ],
    ] as const
  ) {
    assertEquals(assertThrows(() => parseCli([...args]), UsageError).message, message);
  }
});

Deno.test("parseCli() accepts the Python tools' flags and their long forms", async (t) => {
  const cases: [string[], Partial<ReturnType<typeof parseCli>>][] = [
    [["-m"], { format: "machine" }],
    [["--machine-readable"], { format: "machine" }],
    [["--json"], { format: "json" }],
    [["--format=json"], { format: "json" }],
    [["--format", "machine"], { format: "machine" }],
    [["-m", "--format=machine"], { format: "machine" }],
    [["-s"], { showFiles: true }],
    [["--showlibs"], { showFiles: true }],
    [["--showfiles"], { showFiles: true }],
    [["-S"], { unitSource: "cgroup" }],
    [["--services"], { unitSource: "cgroup" }],
    [["-sS"], { showFiles: true, unitSource: "cgroup" }],
    [["--services=systemctl"], { unitSource: "systemctl" }],
    [["--services=cgroup"], { unitSource: "cgroup" }],
    [["--restart-hints"], { restartHints: true, units: true }],
    [["--json"], { units: true }],
    [["-S"], { units: true }],
    [["--services=systemctl"], { units: false }],
    [["-m"], { units: false }],
    [["--format=nagios", "--warning", "2", "--critical=10"], {
      format: "nagios",
      warning: parseNagiosRange("2")!,
      critical: parseNagiosRange("10")!,
    }],
    [["--format=nagios", "-w", "@1:5", "-c", "10:", "-t", "2.5"], {
      warning: parseNagiosRange("@1:5")!,
      critical: parseNagiosRange("10:")!,
      timeout: 2.5,
    }],
    [["--format=nagios", "--allow-partial"], { allowPartial: true }],
    [["--format=prometheus", "-o", "/tmp/x.prom"], { output: "/tmp/x.prom" }],
    [["--output=/tmp/x"], { output: "/tmp/x" }],
    [["-q"], { quiet: true }],
    [["--quiet"], { quiet: true }],
    [["--color=never"], { color: "never" }],
    [["--color", "always"], { color: "always" }],
    [["-V"], { version: true }],
    [["--packages"], { packages: true }],
    [["--scripts"], { scripts: true }],
    [["--reboot"], { reboot: true, units: true }],
    [["--json"], { reboot: true }],
    [["-m"], { reboot: false }],
    [["--restart-hints"], { reboot: true }],
    [["--root", "/srv/x"], { root: "/srv/x", proc: "/srv/x/proc" }],
    [["--root=/srv/x/", "--proc", "/p"], { root: "/srv/x/", proc: "/p" }],
    [["--format=nagios", "--reboot-critical"], { rebootCritical: true }],
    [["--format=prometheus"], { format: "prometheus" }],
    [["--fds"], { scan: "fds" }],
    [["--check"], { check: true }],
    [["--proc", "/mnt/proc"], { proc: "/mnt/proc" }],
    [["--proc=/mnt/proc"], { proc: "/mnt/proc" }],
    [["-h"], { help: true }],
    [["--version"], { version: true }],
    [["--completions", "bash"], { completions: "bash" }],
    [["--completions=fish"], { completions: "fish" }],
  ];
  for (const [args, expected] of cases) {
    await t.step(args.join(" "), () => {
      const options = parseCli(args) as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(expected)) assertEquals(options[key], value);
    });
  }
});

Deno.test("parseCli() adds repeated ignores to the defaults, or replaces them", () => {
  const added = parseCli([
    "-i",
    "/a*",
    "--ignore-pattern=/b*",
    "-I",
    "/c",
    "--ignore-literal",
    "/d",
  ]);
  assertEquals(added.ignore.patterns, [...DEFAULT_IGNORE_PATTERNS, "/a*", "/b*"]);
  assertEquals(added.ignore.literals, [...DEFAULT_IGNORE_LITERALS, "/c", "/d"]);
  const replaced = parseCli(["--no-default-ignores", "-i", "/a*"]);
  assertEquals(replaced.ignore, { patterns: ["/a*"], literals: [] });
});

Deno.test("parseCli() reads --min-age as a duration and --replaced-only as a switch", () => {
  const cases: [string, number][] = [
    ["90", 90_000],
    ["90s", 90_000],
    ["30m", 1_800_000],
    ["6h", 21_600_000],
    ["2d", 172_800_000],
    ["1w", 604_800_000],
  ];
  for (const [text, ms] of cases) assertEquals(parseCli([`--min-age=${text}`]).minAgeMs, ms, text);
  assertEquals(parseCli(["--replaced-only", "--json"]).replacedOnly, true);
  // A configuration file may set it too.
  const config = {
    path: "/etc/lib_users.conf",
    entries: [{ key: "min-age", value: "2h", line: 3 }],
  };
  assertEquals(parseCli([], config).minAgeMs, 7_200_000);
  assertEquals(parseCli(["--min-age=5m"], config).minAgeMs, 300_000);
  const bad = {
    path: "/etc/lib_users.conf",
    entries: [{ key: "min-age", value: "soon", line: 3 }],
  };
  assertEquals(
    assertThrows(() => parseCli([], bad), UsageError).message,
    'Cannot use "soon" for min-age in "/etc/lib_users.conf", line 3: it needs a duration above 0: ' +
      "seconds, or a number with s, m, h, d or w",
  );
});

Deno.test("parseCli() rejects bad usage with a UsageError of exit code 2", async (t) => {
  const cases: [string[], string][] = [
    [["--bogus"], 'Cannot use "--bogus": there is no such option'],
    [["-x"], 'Cannot use "-x": there is no such option'],
    [["--bogus=1"], 'Cannot use "--bogus": there is no such option'],
    [["extra"], 'Cannot use "extra": the command takes options only, no arguments'],
    [["--", "--fds"], 'Cannot use "--fds": the command takes options only, no arguments'],
    [
      ["--format=xml"],
      'Cannot use "xml" for --format: use human, machine, json, nagios, prometheus or needrestart',
    ],
    [["--format"], "Cannot use --format: it needs a value"],
    [["--proc"], "Cannot use --proc: it needs a value"],
    [["--proc="], "Cannot use --proc: it needs a value"],
    [["-i"], "Cannot use --ignore-pattern: it needs a value"],
    [["-m", "--json"], "Cannot use two output formats: machine and json"],
    [["--format=human", "-m"], "Cannot use two output formats: human and machine"],
    [["--fds=yes"], 'Cannot use "--fds=yes": --fds takes no value'],
    [["--services=dbus"], 'Cannot use "dbus" for --services: use cgroup or systemctl'],
    [["--critical=3"], "Cannot use --critical with the human output: it goes with --format=nagios"],
    [["-t", "5"], "Cannot use --timeout with the human output: it goes with --format=nagios"],
    [
      ["--reboot-critical"],
      "Cannot use --reboot-critical with the human output: it goes with --format=nagios",
    ],
    [["--color=rainbow"], 'Cannot use "rainbow" for --color: use auto, always or never'],
    [["--output="], "Cannot use --output: it needs a value"],
    [["--completions=tcsh"], 'Cannot use "tcsh" for --completions: use bash, zsh or fish'],
    [
      ["--min-age=6 hours"],
      'Cannot use "6 hours" for --min-age: it needs a duration above 0: seconds, or a number with s, m, h, d or w',
    ],
    [
      ["--min-age=0h"],
      'Cannot use "0h" for --min-age: it needs a duration above 0: seconds, or a number with s, m, h, d or w',
    ],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      const error = assertThrows(() => parseCli(args), UsageError);
      assertEquals(error.message, message);
      assertEquals(error.exitCode, EXIT.USAGE);
    });
  }
});

Deno.test("parseCli() rejects bad thresholds and timeouts in a Nagios run as UNKNOWN", async (t) => {
  const cases: [string[], string][] = [
    [["--warning=x"], 'Cannot use "x" for --warning: a range is N, N:, ~:N, N:M or @N:M'],
    [["-c", "5:1"], 'Cannot use "5:1" for --critical: a range is N, N:, ~:N, N:M or @N:M'],
    [["-t", "0"], 'Cannot use "0" for --timeout: it needs seconds above 0'],
    [["-t", "soon"], 'Cannot use "soon" for --timeout: it needs seconds above 0'],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      const error = assertThrows(() => parseCli(["--format=nagios", ...args]), UsageError);
      assertEquals(error.message, message);
      assertEquals(error.exitCode, 3);
    });
  }
});

Deno.test("parseCli() reports bad usage in a Nagios run as UNKNOWN (exit 3), wherever the flag stands", async (t) => {
  const cases: string[][] = [
    ["--format=nagios", "--bogus"],
    ["--bogus", "--format", "nagios"],
    ["--format=nagios", "--warning=x"],
    ["--format=nagios", "-S"],
  ];
  for (const args of cases) {
    await t.step(args.join(" "), () => {
      const error = assertThrows(() => parseCli(args), UsageError);
      assertEquals([error.nagios, error.exitCode], [true, 3]);
    });
  }
  // "nagios" as the value of another option is no Nagios run.
  const error = assertThrows(() => parseCli(["-I", "nagios", "--bogus"]), UsageError);
  assertEquals([error.nagios, error.exitCode, error.message], [
    false,
    2,
    'Cannot use "--bogus": there is no such option',
  ]);
});

Deno.test("parseCli() refuses sections of text after a document or a status line; -s changes only the human output", async (t) => {
  for (const format of ["--json", "--format=nagios", "--format=prometheus"]) {
    for (const section of ["-S", "--services=systemctl", "--restart-hints"]) {
      await t.step(`${format} ${section}`, () => {
        const error = assertThrows(() => parseCli([format, section]), UsageError);
        assertStringIncludes(error.message, "goes with the human or machine output");
      });
    }
    await t.step(`${format} -s`, () => assertEquals(parseCli([format, "-s"]).showFiles, true));
  }
  assertEquals(parseCli(["-m", "-S", "--restart-hints"]).unitSource, "cgroup");
});

Deno.test("parseCli() names the syntax first, then a bad value, then a conflict, whatever their order", async (t) => {
  const cases: [string[], string][] = [
    // A conflict before a bad value on the line: the value is named.
    [["--json", "-S", "--color=rainbow"], 'Cannot use "rainbow" for --color'],
    [["--color=rainbow", "--json", "-S"], 'Cannot use "rainbow" for --color'],
    [["--critical=3", "--warning=x"], 'Cannot use "x" for --warning'],
    [["--warning=x", "--critical=3"], 'Cannot use "x" for --warning'],
    // A bad value before an unknown option: the unknown option is named.
    [["--format=xml", "--bogus"], 'Cannot use "--bogus"'],
    [["--services=dbus", "--bogus"], 'Cannot use "--bogus"'],
    [["--json", "--services=systemctl"], "Cannot use --services with the json output"],
  ];
  for (const [args, start] of cases) {
    await t.step(args.join(" "), () => {
      const error = assertThrows(() => parseCli(args), UsageError);
      assertEquals(error.message.startsWith(start), true, error.message);
    });
  }
});

Deno.test("every message is in std's 'Cannot …: detail' form: none of the old forms is left", async () => {
  const old = [
    'Option "--',
    "Unknown option",
    "Unknown format",
    "Unknown colour mode",
    "Unknown services source",
    "Conflicting output formats",
    "Unexpected argument",
    "cannot run systemctl",
    "packages are not named",
    "Not a machine-format record",
    "Bad escape at offset",
    "`unexpected error: ",
  ];
  const sources = [`${ROOT}/main.ts`];
  for (const dir of ["lib", "cli"]) {
    for await (const entry of walkTs(`${ROOT}/${dir}`)) sources.push(entry);
  }
  for (const file of sources) {
    const text = await Deno.readTextFile(file);
    for (const fragment of old) {
      assertEquals(text.includes(fragment), false, `${fragment} in ${file}`);
    }
  }
});

async function* walkTs(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walkTs(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}
