import { assertEquals, assertThrows } from "@std/assert";
import { EXIT, HELP_TEXT, parseCli, UsageError } from "../lib/cli.ts";
import { DEFAULT_IGNORE_LITERALS, DEFAULT_IGNORE_PATTERNS } from "../lib/ignore.ts";

Deno.test("parseCli() defaults to a human libs scan of /proc with the default ignores", () => {
  assertEquals(parseCli([]), {
    help: false,
    version: false,
    mode: "libs",
    format: "human",
    showFiles: false,
    services: null,
    restartHints: false,
    check: false,
    warning: 0,
    critical: undefined,
    proc: "/proc",
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
    [["--restart-hints"], { restartHints: true }],
    [["--format=nagios", "--warning", "2", "--critical=10"], {
      format: "nagios",
      warning: 2,
      critical: 10,
    }],
    [["--format=prometheus"], { format: "prometheus" }],
    [["--fds"], { mode: "fds" }],
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
    [["--format=nagios", "--warning=x"], 'Option "--warning" needs a whole number, not "x"'],
    [["--critical=3"], 'Options "--warning" and "--critical" go with --format=nagios'],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      const error = assertThrows(() => parseCli(args), UsageError);
      assertEquals(error.message, message);
      assertEquals(error.exitCode, EXIT.USAGE);
    });
  }
});

Deno.test("HELP_TEXT documents every flag", () => {
  for (
    const flag of [
      "-s, --showlibs, --showfiles",
      "-m, --machine-readable",
      "--json",
      "--format=FORMAT",
      "-S, --services",
      "--services=SOURCE",
      "--restart-hints",
      "--warning N",
      "--critical N",
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
    assertEquals(HELP_TEXT.includes(flag), true, flag);
  }
});
