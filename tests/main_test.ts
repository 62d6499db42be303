import { assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { fakeSystemctl, FIXTURE_PROC, ROOT, runCli } from "./_helpers.ts";
import { loadSchema, validate } from "./_json_schema.ts";

/** The real footprint of a scan of a tree: read access to that tree, nothing else. */
const READ_TREE = [`--allow-read=${FIXTURE_PROC}`];
const TREE = ["--proc", FIXTURE_PROC];

const LIBS_HUMAN = `\
99,1000 "/usr/sbin/cron -f"
1234 "/opt/my app/bin/server --name a b"
1235 "/opt/my app/bin/server --name a b"
2000 "/usr/sbin/openvpn --config x.conf"
3000 "/usr/bin/Xorg :0"
5000 "/usr/bin/python3 /srv/app.py"
`;
const LIBS_SHOW = `\
99,1000 "/usr/sbin/cron -f" uses /usr/lib/x86_64-linux-gnu/libc.so.6,/usr/lib/x86_64-linux-gnu/libpam.so.0
1234 "/opt/my app/bin/server --name a b" uses /opt/my app/bin/server,/opt/my app/lib/libfoo 1.so
1235 "/opt/my app/bin/server --name a b" uses /opt/my app/lib/libfoo 1.so
2000 "/usr/sbin/openvpn --config x.conf" uses /v/t/p/usr/sbin/openvpn
3000 "/usr/bin/Xorg :0" uses /lib/SYSV00000000,/usr/lib/i915
5000 "/usr/bin/python3 /srv/app.py" uses /usr/lib/python3.11/lib-dynload/_ssl.cpython-311.so
`;
const LIBS_MACHINE = `\
99,1000;/usr/lib/x86_64-linux-gnu/libc.so.6,/usr/lib/x86_64-linux-gnu/libpam.so.0;/usr/sbin/cron -f
1234;/opt/my app/bin/server,/opt/my app/lib/libfoo 1.so;/opt/my app/bin/server --name a b
1235;/opt/my app/lib/libfoo 1.so;/opt/my app/bin/server --name a b
2000;/v/t/p/usr/sbin/openvpn;/usr/sbin/openvpn --config x.conf
3000;/lib/SYSV00000000,/usr/lib/i915;/usr/bin/Xorg :0
5000;/usr/lib/python3.11/lib-dynload/_ssl.cpython-311.so;/usr/bin/python3 /srv/app.py
`;

Deno.test("CLI with only --allow-read on a fixture tree works in every output mode", async (t) => {
  const cases: [string[], string][] = [
    [[], LIBS_HUMAN],
    [["-s"], LIBS_SHOW],
    [["--showlibs"], LIBS_SHOW],
    [["-m"], LIBS_MACHINE],
    [["--format=machine"], LIBS_MACHINE],
    [["--fds"], '99,1000 "/usr/sbin/cron -f"\n1234 "/opt/my app/bin/server --name a b"\n'],
    [
      ["--fds", "--showfiles"],
      '99,1000 "/usr/sbin/cron -f" uses /var/log/cron.log.1\n' +
      '1234 "/opt/my app/bin/server --name a b" uses /tmp/data\n',
    ],
    [
      ["--fds", "-m"],
      "99,1000;/var/log/cron.log.1;/usr/sbin/cron -f\n1234;/tmp/data;/opt/my app/bin/server --name a b\n",
    ],
  ];
  for (const [args, expected] of cases) {
    await t.step(args.join(" ") || "(human)", async () => {
      const run = await runCli(READ_TREE, [...TREE, ...args]);
      assertEquals(run, { code: 0, stdout: expected, stderr: "" });
    });
  }
  await t.step("--json", async () => {
    for (const mode of [[], ["--fds"]]) {
      const run = await runCli(READ_TREE, [...TREE, "--json", ...mode]);
      assertEquals([run.code, run.stderr], [0, ""]);
      const report = JSON.parse(run.stdout);
      assertEquals(validate(await loadSchema(), report), []);
      assertEquals(report.scan, mode.length ? "fds" : "libs");
      assertEquals(report.groups.length, mode.length ? 2 : 6);
    }
  });
});

Deno.test("CLI --services=systemctl lists units from systemctl, needing --allow-run=systemctl", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    fakeSystemctl(dir);
    const env = { PATH: `${dir}:/usr/bin:/bin` };
    const run = await runCli([...READ_TREE, "--allow-run=systemctl"], [
      ...TREE,
      "--services=systemctl",
    ], env);
    assertEquals(run.code, 0);
    assertEquals(
      run.stdout,
      `${LIBS_HUMAN}\n99 belong to cron.service\n1000 belong to ssh.service\n`,
    );
    const refused = await runCli(READ_TREE, [...TREE, "-m", "--services=systemctl"], env);
    assertEquals(refused.code, 0);
    assertEquals(
      refused.stdout,
      `${LIBS_MACHINE}\nCould not run systemctl: not permitted (run with --allow-run=systemctl or -A)\n`,
    );
    const missing = await runCli(["-A"], [...TREE, "--services=systemctl"], {
      PATH: dir.replace(/$/, "/empty"),
    });
    assertEquals(missing.code, 0);
    assertStringIncludes(missing.stdout, "\nCould not run systemctl: not installed\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CLI explains that reading /proc needs --allow-all, and exits 2", async () => {
  for (const permissions of [["--allow-read=/proc"], []]) {
    const run = await runCli(permissions, ["-s"]);
    assertEquals([run.code, run.stdout], [2, ""]);
    assertStringIncludes(
      run.stderr,
      'lib_users: Cannot read "/proc": Deno allows reads under /proc',
    );
    assertStringIncludes(run.stderr, "deno run -A");
    assertStringIncludes(run.stderr, "deno compile -A");
    assertStringIncludes(run.stderr, "mount -t proc proc /mnt/proc");
    assertEquals(run.stderr.includes("    at "), false, "no stack trace");
  }
});

Deno.test("CLI reports a proc root it may not read or cannot find, and exits 2", async () => {
  const refused = await runCli([], TREE);
  assertEquals(refused, {
    code: 2,
    stdout: "",
    stderr:
      `lib_users: Cannot read "${FIXTURE_PROC}": Deno was not given --allow-read=${FIXTURE_PROC} (or -A)\n`,
  });
  const missing = await runCli(["--allow-read"], ["--proc", `${ROOT}/nonexistent`]);
  assertEquals(missing, {
    code: 2,
    stdout: "",
    stderr: `lib_users: Cannot read "${ROOT}/nonexistent": no such directory\n`,
  });
  const file = await runCli(["--allow-read"], ["--proc", `${ROOT}/deno.json`]);
  assertEquals([file.code, file.stderr], [
    2,
    `lib_users: Cannot read "${ROOT}/deno.json": not a directory\n`,
  ]);
});

Deno.test("CLI rejects bad usage with one line, a hint and exit 2", async (t) => {
  for (const args of [["--bogus"], ["--format=xml"], ["-m", "--json"], ["stray"], ["--proc"]]) {
    await t.step(args.join(" "), async () => {
      const run = await runCli([], args);
      assertEquals([run.code, run.stdout], [2, ""]);
      assertMatch(
        run.stderr,
        /^lib_users: [^\n]+\nTry 'lib_users --help' for more information\.\n$/,
      );
    });
  }
});

Deno.test("CLI --help and --version need no permission", async () => {
  const help = await runCli([], ["--help"]);
  assertEquals([help.code, help.stderr], [0, ""]);
  assertStringIncludes(help.stdout, "Usage: lib_users [OPTIONS]");
  const version = await runCli([], ["--version"]);
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  assertEquals(version, { code: 0, stdout: `lib_users ${config.version}\n`, stderr: "" });
});

Deno.test("CLI --check exits 1 when something is stale and 0 when nothing is", async () => {
  const stale = await runCli(READ_TREE, [...TREE, "--check", "-m"]);
  assertEquals([stale.code, stale.stdout], [1, LIBS_MACHINE]);
  const clean = await runCli(READ_TREE, [...TREE, "--check", "--no-default-ignores", "-i", "*"]);
  assertEquals(clean, { code: 0, stdout: "", stderr: "" });
  const plain = await runCli(READ_TREE, [...TREE, "-m"]);
  assertEquals(plain.code, 0);
});

Deno.test("CLI -i and -I add ignores; --no-default-ignores drops the built-in ones", async () => {
  const run = await runCli(READ_TREE, [
    ...TREE,
    "-m",
    "-i",
    "/usr/lib/x86_64-linux-gnu/*",
    "-I",
    "/opt/my app/lib/libfoo 1.so",
  ]);
  assertEquals(run.stdout.split("\n").filter(Boolean).map((l) => l.split(";")[0]), [
    "1234",
    "2000",
    "3000",
    "5000",
  ]);
  const all = await runCli(READ_TREE, [...TREE, "-m", "--no-default-ignores"]);
  assertStringIncludes(all.stdout, "/drm mm object");
  assertStringIncludes(all.stdout, "/memfd:wayland-cursor");
});

/** Runs the CLI on a pseudo-terminal (util-linux `script`), as an admin at a shell would. */
async function runOnTerminal(args: readonly string[], env: Record<string, string>) {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const command = [
    Deno.execPath(),
    "run",
    "--quiet",
    ...READ_TREE,
    `${ROOT}/main.ts`,
    ...TREE,
    ...args,
  ]
    .map(quote).join(" ");
  const output = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

Deno.test("CLI colours human output on a terminal only, never with NO_COLOR or -m", async () => {
  const base = { PATH: "/usr/bin:/bin", TERM: "xterm" };
  const coloured = await runOnTerminal(["-s"], base);
  assertStringIncludes(coloured, "\x1b[1m99,1000\x1b[22m");
  assertEquals((await runOnTerminal(["-s"], { ...base, NO_COLOR: "1" })).includes("\x1b["), false);
  assertEquals((await runOnTerminal(["-m"], base)).includes("\x1b["), false);
  const piped = await runCli(READ_TREE, [...TREE, "-s"], { NO_COLOR: "" });
  assertEquals(piped.stdout, LIBS_SHOW);
});
