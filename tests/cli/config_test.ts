import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { loadConfig, parseConfig } from "../../cli/config.ts";
import { UsageError } from "../../cli/exit.ts";
import { parseCli } from "../../cli/parse.ts";
import { ROOT, runCli } from "../_helpers.ts";

const FILE = "/etc/lib_users.conf";

Deno.test("parseConfig() reads KEY = VALUE lines, comments and blank lines; anything else names its line", () => {
  assertEquals(
    parseConfig(FILE, "# unattended\n\nnever = ssh*\n  never=dbus*  \nrestart-timeout = 30\n"),
    {
      path: FILE,
      entries: [
        { key: "never", value: "ssh*", line: 3 },
        { key: "never", value: "dbus*", line: 4 },
        { key: "restart-timeout", value: "30", line: 5 },
      ],
    },
  );
  for (const text of ["never\n", "never =\n", "[restart]\n", "Never = x\n"]) {
    const error = assertThrows(() => parseConfig(FILE, text), UsageError);
    assertStringIncludes(error.message, `Cannot read "${FILE}", line 1: expected KEY = VALUE`);
  }
});

Deno.test("parseCli() with a file: flags override its values, its lists come first, --restart's need no --restart", () => {
  const config = parseConfig(
    FILE,
    "never = ssh*\nrestart-timeout = 30\nignore-literal = /x\nrestart-also = managers\n",
  );
  const restart = parseCli(["--restart", "--never=dbus*", "--restart-timeout=5"], config).restart;
  assertEquals(restart?.never, ["ssh*", "dbus*"]);
  assertEquals(restart?.timeoutMs, 5000);
  assertEquals(restart?.also, new Set(["managers"]));
  assertEquals(parseCli(["--restart"], config).restart?.timeoutMs, 30_000);
  // A scan without --restart takes the file's ignores and is not told about --never.
  const scan = parseCli([], config);
  assertEquals([scan.restart, scan.ignore.literals.includes("/x")], [null, true]);
});

Deno.test("parseCli() with a file: an unknown key or a bad value names the file and line", () => {
  const cases: [string, string][] = [
    ["bogus = 1", `Cannot use "bogus" in "${FILE}", line 1: it is not a setting of the file`],
    // A flag that is no setting of the file.
    ["format = json", `Cannot use "format" in "${FILE}", line 1: it is not a setting of the file`],
    [
      "restart-also = users",
      `Cannot use "users" for restart-also in "${FILE}", line 1: use user-services, containers or managers`,
    ],
    [
      "restart-timeout = soon",
      `Cannot use "soon" for restart-timeout in "${FILE}", line 1: it needs seconds above 0`,
    ],
  ];
  for (const [text, message] of cases) {
    const error = assertThrows(() => parseCli([], parseConfig(FILE, text)), UsageError);
    assertEquals(error.message, message);
  }
});

Deno.test("loadConfig(): the default file is optional, a named one is not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lib_users_config_" });
  try {
    assertEquals(loadConfig([], `${dir}/missing.conf`), undefined);
    await Deno.writeTextFile(`${dir}/default.conf`, "never = a*\n");
    assertEquals(loadConfig([], `${dir}/default.conf`)?.entries.length, 1);
    // --config names another file, which then must exist; the last --config wins.
    await Deno.writeTextFile(`${dir}/other.conf`, "never = b*\nnever = c*\n");
    const named = loadConfig(
      ["--config", `${dir}/x`, `--config=${dir}/other.conf`],
      `${dir}/default.conf`,
    );
    assertEquals(named?.entries.map((e) => e.value), ["b*", "c*"]);
    const error = assertThrows(() => loadConfig(["--config", `${dir}/missing.conf`]), UsageError);
    assertEquals(error.message, `Cannot read "${dir}/missing.conf": no such file`);
    assertThrows(() => loadConfig(["--config", dir]), UsageError, "it is not a file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI --config: its settings apply, and its errors are exit 2, or UNKNOWN in a Nagios run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lib_users_config_" });
  try {
    await Deno.writeTextFile(`${dir}/good.conf`, "never = ssh*\n");
    const dry = await runCli(["-A"], [
      "--config",
      `${dir}/good.conf`,
      "--proc",
      `${ROOT}/testdata/proc_units`,
      "--restart",
      "--dry-run",
    ]);
    assertEquals(dry.code, 0, dry.stderr);
    assertStringIncludes(dry.stdout, "By hand: ssh.service (PIDs 310): excluded by --never");
    await Deno.writeTextFile(`${dir}/bad.conf`, "ignore-pattern\n");
    const bad = await runCli(["-A"], ["--config", `${dir}/bad.conf`]);
    assertEquals(bad.code, 2);
    assertStringIncludes(bad.stderr, `Cannot read "${dir}/bad.conf", line 1: expected KEY = VALUE`);
    const nagios = await runCli(["-A"], ["--config", `${dir}/bad.conf`, "--format", "nagios"]);
    assertEquals(nagios.code, 3);
    assertStringIncludes(nagios.stdout, "UNKNOWN - Cannot read ");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig(): LIB_USERS_CONFIG replaces the default file, empty for none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lib_users_config_" });
  try {
    await Deno.writeTextFile(`${dir}/env.conf`, "never = e*\n");
    Deno.env.set("LIB_USERS_CONFIG", `${dir}/env.conf`);
    assertEquals(loadConfig([])?.path, `${dir}/env.conf`);
    Deno.env.set("LIB_USERS_CONFIG", "");
    assertEquals(loadConfig([]), undefined);
  } finally {
    // What every test's CLI inherits (tests/_helpers.ts): no file.
    Deno.env.set("LIB_USERS_CONFIG", "");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseCli() --apt-hook: the plan by default; after-upgrade from the file makes it a restart or a marking, unasked", () => {
  const plan = parseCli(["--apt-hook"]);
  assertEquals([plan.restartHints, plan.quiet, plan.restart], [true, true, null]);
  const restart = parseCli(["--apt-hook"], parseConfig(FILE, "after-upgrade = restart\n"));
  assertEquals([restart.restartHints, restart.restart?.yes, restart.restart?.mark], [
    false,
    true,
    false,
  ]);
  assertEquals(restart.units, true);
  const mark = parseCli(["--apt-hook"], parseConfig(FILE, "after-upgrade = mark\n")).restart;
  assertEquals([mark?.yes, mark?.mark], [true, true]);
  // The flag overrides the file; the setting alone changes nothing but the hook's runs.
  const overridden = parseCli(
    ["--apt-hook", "--after-upgrade=plan"],
    parseConfig(FILE, "after-upgrade = restart\n"),
  );
  assertEquals(overridden.restart, null);
  assertEquals(parseCli([], parseConfig(FILE, "after-upgrade = restart\n")).restart, null);
  assertThrows(
    () => parseCli(["--after-upgrade=restart"]),
    UsageError,
    "Cannot use --after-upgrade without --apt-hook",
  );
  assertThrows(
    () => parseCli(["--apt-hook"], parseConfig(FILE, "after-upgrade = yes\n")),
    UsageError,
    `Cannot use "yes" for after-upgrade in "${FILE}", line 1: use plan, restart or mark`,
  );
});
