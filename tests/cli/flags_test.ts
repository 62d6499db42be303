import { assertEquals, assertThrows } from "@std/assert";
import { EXIT, helpText, parseCli, UsageError } from "../../cli/flags.ts";
import { DEFAULT_IGNORE_LITERALS, DEFAULT_IGNORE_PATTERNS } from "../../lib/scan/ignore.ts";
import { parseNagiosRange } from "../../lib/format/nagios_range.ts";

Deno.test("parseCli() defaults to a human libs scan of /proc with the default ignores", () => {
  assertEquals(parseCli([]), {
    help: false,
    version: false,
    scan: "libs",
    format: "human",
    showFiles: false,
    services: null,
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
    ignore: { patterns: [...DEFAULT_IGNORE_PATTERNS], literals: [...DEFAULT_IGNORE_LITERALS] },
  });
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
    [["-S"], { services: "cgroup" }],
    [["--services"], { services: "cgroup" }],
    [["-sS"], { showFiles: true, services: "cgroup" }],
    [["--services=systemctl"], { services: "systemctl" }],
    [["--services=cgroup"], { services: "cgroup" }],
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

Deno.test("parseCli() rejects bad usage with a UsageError of exit code 2", async (t) => {
  const cases: [string[], string][] = [
    [["--bogus"], 'Unknown option "--bogus"'],
    [["-x"], 'Unknown option "-x"'],
    [["--bogus=1"], 'Unknown option "--bogus"'],
    [["extra"], 'Unexpected argument "extra"'],
    [["--", "--fds"], 'Unexpected argument "--fds"'],
    [["--format=xml"], 'Unknown format "xml": use one of human, machine, json, nagios, prometheus'],
    [["--format"], 'Option "--format" needs a value'],
    [["--proc"], 'Option "--proc" needs a value'],
    [["--proc="], 'Option "--proc" needs a value'],
    [["-i"], 'Option "--ignore-pattern" needs a value'],
    [["-m", "--json"], "Conflicting output formats: machine and json"],
    [["--format=human", "-m"], "Conflicting output formats: human and machine"],
    [["--fds=yes"], 'Option "--fds" takes no value'],
    [["--services=dbus"], 'Unknown services source "dbus": use cgroup or systemctl'],
    [["--critical=3"], 'Option "--critical" goes with --format=nagios'],
    [["-t", "5"], 'Option "--timeout" goes with --format=nagios'],
    [["--reboot-critical"], 'Option "--reboot-critical" goes with --format=nagios'],
    [["--color=rainbow"], 'Unknown colour mode "rainbow": use auto, always or never'],
    [["--output="], 'Option "--output" needs a value'],
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
    [["--warning=x"], 'Option "--warning" needs a range (N, N:, ~:N, N:M or @N:M), not "x"'],
    [["-c", "5:1"], 'Option "--critical" needs a range (N, N:, ~:N, N:M or @N:M), not "5:1"'],
    [["-t", "0"], 'Option "--timeout" needs seconds above 0, not "0"'],
    [["-t", "soon"], 'Option "--timeout" needs seconds above 0, not "soon"'],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      const error = assertThrows(() => parseCli(["--format=nagios", ...args]), UsageError);
      assertEquals(error.message, message);
      assertEquals(error.exitCode, 3);
    });
  }
});

Deno.test("helpText() documents every flag", () => {
  for (
    const flag of [
      "-s, --showlibs, --showfiles",
      "-m, --machine-readable",
      "--json",
      "--format=FORMAT",
      "-S, --services",
      "--services=SOURCE",
      "--restart-hints",
      "-w, --warning RANGE",
      "-c, --critical RANGE",
      "-t, --timeout SECONDS",
      "--allow-partial",
      "-o, --output FILE",
      "--color=WHEN",
      "-q, --quiet",
      "-V, --version",
      "--packages",
      "--scripts",
      "--reboot",
      "--reboot-critical",
      "--root DIR",
      "--fds",
      "--proc DIR",
      "-i, --ignore-pattern GLOB",
      "-I, --ignore-literal NAME",
      "--no-default-ignores",
      "--check",
      "-h, --help",
      "--version",
    ]
  ) {
    assertEquals(helpText().includes(flag), true, flag);
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
    'Unknown option "--bogus"',
  ]);
});

Deno.test("parseCli() refuses sections of text after a document or a status line; -s changes only the human output", async (t) => {
  for (const format of ["--json", "--format=nagios", "--format=prometheus"]) {
    for (const section of ["-S", "--services=systemctl", "--restart-hints"]) {
      await t.step(`${format} ${section}`, () => {
        const error = assertThrows(() => parseCli([format, section]), UsageError);
        assertEquals(error.message.includes("goes with the human or machine output"), true);
      });
    }
    await t.step(`${format} -s`, () => assertEquals(parseCli([format, "-s"]).showFiles, true));
  }
  assertEquals(parseCli(["-m", "-S", "--restart-hints"]).services, "cgroup");
});
