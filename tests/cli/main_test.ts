import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import {
  type CliRun,
  decodeRun,
  fakeSystemctl,
  findTool,
  FIXTURE_LIBS_MACHINE,
  FIXTURE_PROC,
  NO_CONFIG,
  ROOT,
  runCli,
} from "../_helpers.ts";
import { loadSchema, validate } from "../_json_schema.ts";
import { parseExposition } from "../_exposition.ts";
import { parseMachine } from "../../lib/format/machine.ts";
import { EXIT } from "../../cli/exit.ts";

/** The real footprint of a scan of a tree: read access to that tree, nothing else. */
const READ_TREE = [`--allow-read=${FIXTURE_PROC}`];
const TREE = ["--proc", FIXTURE_PROC];
/** A working directory outside the source tree: where an installed command's user stands. */
const ELSEWHERE = Deno.makeTempDirSync({ prefix: "lib_users_elsewhere_" });
globalThis.addEventListener("unload", () => Deno.removeSync(ELSEWHERE, { recursive: true }));

/** promtool (Debian package prometheus), or undefined: the test that needs it is ignored. */
const PROMTOOL = findTool("promtool");
if (PROMTOOL === undefined) {
  console.warn("main_test: promtool case ignored: no promtool (Debian package prometheus)");
}

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
const LIBS_MACHINE = FIXTURE_LIBS_MACHINE;

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
      `${LIBS_HUMAN}\n99 belong to cron.service\n1000 belong to ssh.service\n` +
        "no unit known: PIDs 1234,1235,2000,3000,5000\n",
    );
    const refused = await runCli(READ_TREE, [...TREE, "-m", "--services=systemctl"], env);
    // Said on stderr, once; stdout stays the records alone.
    assertEquals(refused, {
      code: 0,
      stdout: LIBS_MACHINE,
      stderr:
        "lib_users: Cannot run systemctl for -S: not permitted (run with --allow-run=systemctl or -A)\n",
    });
    const missing = await runCli(["-A"], [...TREE, "--services=systemctl"], {
      PATH: dir.replace(/$/, "/empty"),
    });
    assertEquals([missing.code, missing.stdout], [0, LIBS_HUMAN]);
    assertEquals(missing.stderr, "lib_users: Cannot run systemctl for -S: not installed\n");
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
  // An installed command is not told to run main.ts: it is told to install again with -A.
  const installed = await runCli([], ["-s"], {}, ELSEWHERE);
  assertStringIncludes(installed.stderr, "deno install -g -A -f -n lib_users");
  assertEquals(installed.stderr.includes("main.ts"), false, installed.stderr);
});

Deno.test("CLI says a full list needs root only when it knows the user is not root", async () => {
  const tree = Deno.makeTempDirSync();
  try {
    // One entry unreadable (its maps is a directory): the warning is due.
    Deno.mkdirSync(`${tree}/7/maps`, { recursive: true });
    Deno.writeTextFileSync(`${tree}/7/cmdline`, "x\0");
    // Without --allow-sys=uid the user is unknown: which processes and why, rather than a guess.
    const unknown = await runCli([`--allow-read=${tree}`], ["--proc", tree]);
    assertEquals(
      unknown.stderr,
      "Warning: Some files could not be read.\n" +
        `Warning: 1 process could not be read: PID 7 (cannot read "${tree}/7/maps": not a regular file).\n`,
    );
    const known = await runCli([`--allow-read=${tree}`, "--allow-sys=uid"], ["--proc", tree]);
    const note = "Note that lib_users has to be run as root";
    assertEquals(known.stderr.includes(note), Deno.uid() !== 0);
  } finally {
    Deno.removeSync(tree, { recursive: true });
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
        /^lib_users: [^\n]+\nTry 'deno run -A main\.ts --help' for more information\.\n$/,
      );
    });
  }
});

Deno.test("CLI run from source with its npm package neither cached nor fetchable says so in one line, exit 2", async () => {
  // A user whose Deno cache is empty (another user's run from source, a cleared cache) on a
  // host where npm cannot be reached: here a registry that answers every request with 503.
  const home = Deno.makeTempDirSync({ prefix: "lib_users_home_" });
  const registry = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("unavailable", { status: 503 }),
  );
  try {
    const env = {
      HOME: home,
      DENO_DIR: `${home}/deno`,
      NPM_CONFIG_REGISTRY: `http://127.0.0.1:${registry.addr.port}/`,
    };
    const run = await runCli(["-A"], ["--check"], env);
    // Exit 1 would be --check's "stale found".
    assertEquals([run.code, run.stdout], [EXIT.USAGE, ""]);
    assertMatch(
      run.stderr,
      /^lib_users: Cannot load the command: Failed caching npm package 'deno-std@[^']+': [^\n]+\. Run from its source files, it needs the package in the Deno cache of the user who runs it: run it once where npm can be reached, or install the single-file build \(docs\/install\.md\)\n$/,
    );
  } finally {
    await registry.shutdown();
    Deno.removeSync(home, { recursive: true });
  }
});

Deno.test("CLI --help and --version need no permission", async () => {
  const help = await runCli([], ["--help"]);
  assertEquals([help.code, help.stderr], [0, ""]);
  assertStringIncludes(help.stdout, "Usage: deno run -A main.ts [OPTIONS]");
  assertStringIncludes(help.stdout, "\n  deno run -A main.ts -s ");
  // Run from elsewhere (as an installed command is), it is named as one.
  const elsewhere = await runCli([], ["--help"], {}, ELSEWHERE);
  assertStringIncludes(elsewhere.stdout, "Usage: lib_users [OPTIONS]");
  assertStringIncludes(elsewhere.stdout, "\n  lib_users -s ");
  assertEquals(elsewhere.stdout.includes("main.ts"), false);
  const hint = await runCli([], ["--bogus"], {}, ELSEWHERE);
  assertStringIncludes(hint.stderr, "Try 'lib_users --help' for more information.");
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
async function runOnTerminal(
  args: readonly string[],
  env: Record<string, string>,
  permissions: readonly string[] = READ_TREE,
) {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const command = [
    Deno.execPath(),
    "run",
    "--quiet",
    ...permissions,
    `${ROOT}/main.ts`,
    ...TREE,
    ...args,
  ]
    .map(quote).join(" ");
  const output = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    env: { ...NO_CONFIG, ...env },
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
  // no-color.org: NO_COLOR set to an empty string does not turn colour off.
  const withEnv = [...READ_TREE, "--allow-env=NO_COLOR"];
  for (const permissions of [READ_TREE, withEnv]) {
    const empty = await runOnTerminal(["-s"], { ...base, NO_COLOR: "" }, permissions);
    assertStringIncludes(empty, "\x1b[1m99,1000\x1b[22m");
    const set = await runOnTerminal(["-s"], { ...base, NO_COLOR: "1" }, permissions);
    assertEquals(set.includes("\x1b["), false);
  }
  // --color decides, whatever NO_COLOR and the terminal say.
  assertEquals((await runOnTerminal(["-s", "--color=never"], base)).includes("\x1b["), false);
  const always = await runCli(READ_TREE, [...TREE, "-s", "--color=always"], { NO_COLOR: "1" });
  assertStringIncludes(always.stdout, "\x1b[1m99,1000\x1b[22m");
  const auto = await runCli(READ_TREE, [...TREE, "-s", "--color=auto"]);
  assertEquals(auto.stdout, LIBS_SHOW);
});

Deno.test("CLI -t: a Nagios scan that does not finish in time is UNKNOWN with what it knows", async () => {
  // --allow-partial: the fixture's unknown kernel must not be what makes it UNKNOWN.
  const late = await runCli(READ_UNITS, [
    ...UNITS_TREE,
    "--format=nagios",
    "-t",
    "0.001",
    "--allow-partial",
  ]);
  assertEquals(late.code, 3);
  assertMatch(
    late.stdout,
    /^UNKNOWN - whether a reboot is needed is unknown \([^)]*\); the scan did not finish within 0\.001 s \(0 processes checked\); of the processes read, none uses deleted libraries \| .*scanned_processes=0;;;0;\n/,
  );
  const inTime = await runCli(READ_UNITS, [...UNITS_TREE, "--format=nagios", "--timeout=60"]);
  assertEquals([inTime.code, inTime.stdout.slice(0, 10)], [1, "WARNING - "]);
});

Deno.test("CLI --format=prometheus of the libs and the fds scan share no series (node_exporter reads both as one)", async () => {
  const series = async (args: string[]) => {
    const run = await runCli(READ_UNITS, [...UNITS_TREE, "--format=prometheus", ...args]);
    assertEquals(run.code, 0, run.stderr);
    return new Set(parseExposition(run.stdout).keys());
  };
  const [libs, fds] = [await series([]), await series(["--fds"])];
  assertEquals([...fds].filter((name) => libs.has(name)), []);
  // The host's own series are the libs scan's.
  assert([...libs].some((name) => name.startsWith("lib_users_reboot_known")));
  assert([...libs].some((name) => name.startsWith("lib_users_info{")));
  assert(
    ![...fds].some((name) => /^lib_users_(info|kernel_info|microcode_info|reboot_)/.test(name)),
  );
  assert(fds.has('lib_users_scan_success{scan="fds"}'));
  // Asked for, the fds scan answers the reboot question too.
  const asked = await series(["--fds", "--reboot"]);
  assert(asked.has("lib_users_reboot_known{}"), [...asked].join("\n"));
});

Deno.test("CLI output passes promtool check metrics (the Prometheus project's own parser)", {
  ignore: PROMTOOL === undefined,
}, async () => {
  const outputs = [
    await runCli(READ_UNITS, [...UNITS_TREE, "--format=prometheus"]),
    await runCli(READ_TREE, [...TREE, "--format=prometheus", "--fds"]),
    await runCli([], ["--format=prometheus", "--proc", "/nonexistent"]),
    await runCli([`--allow-read=${ROOT}/testdata`], [
      "--format=prometheus",
      "--root",
      `${ROOT}/testdata/root_newer`,
    ]),
  ];
  for (const run of outputs) {
    const child = new Deno.Command(PROMTOOL!, {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(run.stdout));
    await writer.close();
    const checked = decodeRun(await child.output());
    assertEquals(checked.code, 0, `${checked.stdout}${checked.stderr}\n${run.stdout}`);
    // Lint warnings (naming, units) are printed too, with exit 0 in some versions.
    assertEquals(checked.stdout + checked.stderr, "", run.stdout);
  }
});

const UNITS = `${ROOT}/testdata/proc_units`;
const READ_UNITS = [`--allow-read=${UNITS}`];
const UNITS_TREE = ["--proc", UNITS];

Deno.test("CLI -S names units from cgroups (v1 and v2) with only --allow-read", async () => {
  const run = await runCli(READ_UNITS, [...UNITS_TREE, "-m", "-S"]);
  assertEquals([run.code, run.stderr], [0, ""]);
  // Machine records end at the blank line before the section: still parseable.
  const records = parseMachine(run.stdout);
  assertEquals(records.length, run.stdout.split("\n\n")[0]!.split("\n").length);
  assertEquals(records.length > 20, true);
  const services = run.stdout.split("\n\n")[1];
  assertEquals(
    services,
    `100,101 belong to nginx.service
110 belong to cron.service
120 belong to getty@tty1.service
130 belong to init.scope
140 belong to user@1000.service
141 belong to pipewire.service
150,151 belong to session-3.scope
160 belong to run-r2c4.scope
170,171 belong to docker-${"0123456789abcdef".repeat(4)}.scope
180 belong to libpod-${"fedcba9876543210".repeat(4)}.scope
190 belong to cri-containerd-aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeee1234.scope
200 belong to crio-1111111111112222222222223333333333334444444444445555555555556666.scope
210 belong to nginx.service in lxc container web01
220 belong to cron.service in machined container debian
221 belong to machine-qemu\\\\x2d1\\\\x2dvm1.scope
230 belong to dbus.service
260 belong to docker container 9999999999998888888888887777777777776666666666665555555555554444
270 belong to kubernetes container abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdef0000
280 belong to user@1001.service
290 belong to gdm.service
291 belong to NetworkManager.service
300 belong to x;rm -rf ~\\x1b[2J.service
310 belong to ssh.service
no unit known: PIDs 240,250
`,
  );
});

Deno.test("CLI -s -S shows the unit next to the PIDs", async () => {
  const run = await runCli(READ_UNITS, [...UNITS_TREE, "-s", "-S"]);
  assertStringIncludes(
    run.stdout,
    '100 (nginx.service) "nginx: master process /usr/sbin/nginx" uses /usr/lib/x86_64-linux-gnu/libssl.so.3\n',
  );
  assertStringIncludes(run.stdout, '240 "/opt/legacy/daemon" uses');
});

Deno.test("CLI --restart-hints prints the plan: commands per kind, risky units apart", async () => {
  const run = await runCli(READ_UNITS, [...UNITS_TREE, "-m", "--restart-hints"]);
  assertEquals([run.code, run.stderr], [0, ""]);
  const [, plan, rebootAndNext] = run.stdout.split("\n\n");
  // Last, the least disruptive next step (the host's kernel decides which: not judged here).
  const [reboot, next] = rebootAndNext!.split(/(?=^# Next: )/m);
  assert(/^# Next: (reboot|systemctl soft-reboot)\b.*\n$/.test(next!), next);
  // After the plan, whether to reboot, as shell comments: `| sh` runs nothing more.
  assertEquals(
    reboot,
    `# Reboot needed:
#   dbus.service uses deleted files (the message bus: a restart breaks running sessions)
#   gdm.service uses deleted files (a display manager: a restart ends graphical sessions)
#   NetworkManager.service uses deleted files (networking: a restart may cut remote sessions)
`,
  );
  assertEquals(
    `${plan}\n`,
    `systemctl restart -- cron.service nginx.service ssh.service
systemctl --user -M 1000@ restart -- pipewire.service $'x;rm -rf ~\\x1b[2J.service'
systemctl -M debian restart -- cron.service
lxc-attach -n web01 -- systemctl restart -- nginx.service
docker restart -- 0123456789ab
crictl stop -- 1111111111112222222222223333333333334444444444445555555555556666  # pod UID 0000abcd-5678-90ab-cdef-1234567890ab
docker restart -- 999999999999
crictl stop -- aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeee1234  # pod UID 1234abcd-5678-90ab-cdef-1234567890ab
crictl stop -- abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdef0000  # pod UID 4321abcd-5678-90ab-cdef-1234567890ab
podman restart -- fedcba987654
machinectl reboot -- qemu-1-vm1
systemctl daemon-reexec
systemctl --user -M 1000@ daemon-reexec
systemctl --user -M 1001@ daemon-reexec
# end or restart by hand: session-3.scope of user 1000 (PIDs 150,151)
# end or restart by hand: run-r2c4.scope (PIDs 160)
# WARNING: not restarted, risky: NetworkManager.service is networking: a restart may cut remote sessions (PIDs 291)
# WARNING: not restarted, risky: dbus.service is the message bus: a restart breaks running sessions (PIDs 230)
# WARNING: not restarted, risky: gdm.service is a display manager: a restart ends graphical sessions (PIDs 290)
# WARNING: not restarted, risky: getty@tty1.service is a login prompt: restart by hand (PIDs 120)
# no unit known, restart by hand: PIDs 240,250
`,
  );
  // Nothing risky ever stands in a plain restart line.
  for (const line of run.stdout.split("\n").filter((l) => l.startsWith("systemctl restart"))) {
    for (const risky of ["dbus", "gdm", "getty", "NetworkManager", "user@"]) {
      assertEquals(line.includes(risky), false, line);
    }
  }
});

Deno.test("CLI --json carries unit, class, user and container for every group", async () => {
  const run = await runCli(READ_UNITS, [...UNITS_TREE, "--json"]);
  assertEquals(run.code, 0);
  const report = JSON.parse(run.stdout);
  assertEquals(validate(await loadSchema(), report), []);
  const byPid = (pid: number) =>
    report.groups.find((g: { pids: number[] }) => g.pids.includes(pid));
  const pick = (g: Record<string, unknown>) => ({
    unit: g.unit,
    class: g.class,
    user: g.user,
    container: g.container,
  });
  assertEquals(pick(byPid(100)), {
    unit: "nginx.service",
    class: "system-service",
    user: null,
    container: null,
  });
  assertEquals(pick(byPid(141)), {
    unit: "pipewire.service",
    class: "user-service",
    user: { uid: 1000, name: null },
    container: null,
  });
  assertEquals(byPid(150).class, "session");
  assertEquals(byPid(130).class, "manager");
  assertEquals(byPid(140).class, "user-manager");
  assertEquals(byPid(170).container, { runtime: "docker", id: "0123456789abcdef".repeat(4) });
  assertEquals(byPid(190).container.pod, "1234abcd-5678-90ab-cdef-1234567890ab");
  // A unit of a system container's own systemd: named with its kind inside the container.
  assertEquals(byPid(210).container, {
    runtime: "lxc",
    id: "web01",
    unit: "nginx.service",
    unit_class: "system-service",
  });
  assertEquals(pick(byPid(250)), { unit: null, class: "unknown", user: null, container: null });
});

Deno.test("CLI --format=nagios follows the plugin API: states, perfdata, exit 0 to 3", async () => {
  const warn = await runCli(READ_UNITS, [...UNITS_TREE, "--format=nagios"]);
  assertEquals(warn.code, 1);
  assertMatch(
    warn.stdout,
    // Risky units use deleted files: a reboot is the safe way out, named first.
    /^WARNING - reboot needed: dbus\.service uses deleted files \(the message bus: a restart breaks running sessions\) and 2 more; 28 processes use deleted libraries: nginx\.service, .* and 20 more \| stale_processes=28;0;;0; stale_groups=28;;;0; stale_files=1;;;0; unreadable_processes=0;;;0; scanned_processes=\d+;;;0; reboot_required=1;;;0;1\n/,
  );
  // The long output: one line per group, after the status line.
  const lines = warn.stdout.trimEnd().split("\n");
  // 28 groups, the 3 reasons to reboot, then how the kernel and the microcode stand (unknown here).
  assertEquals(lines.length, 34);
  assertEquals(
    lines[29],
    "reboot: dbus.service uses deleted files (the message bus: a restart breaks running sessions)",
  );
  assertMatch(lines[32]!, /^kernel: unknown: /);
  assertMatch(lines[33]!, /^microcode: unknown: .*cpuinfo cannot be read: it does not exist$/);
  assertEquals(lines[1], "nginx.service: PIDs 100 nginx: master process /usr/sbin/nginx");
  const critical = await runCli(READ_UNITS, [...UNITS_TREE, "--format=nagios", "--critical", "20"]);
  assertEquals([critical.code, critical.stdout.slice(0, 11)], [2, "CRITICAL - "]);
  // Above the threshold of stale processes, the reboot still speaks: WARNING, or CRITICAL if asked.
  const rebootOnly = await runCli(READ_UNITS, [...UNITS_TREE, "--format=nagios", "--warning=30"]);
  assertEquals([rebootOnly.code, rebootOnly.stdout.slice(0, 25)], [1, "WARNING - reboot needed: "]);
  const rebootCritical = await runCli(READ_UNITS, [
    ...UNITS_TREE,
    "--format=nagios",
    "--warning=30",
    "--reboot-critical",
  ]);
  assertEquals(rebootCritical.code, 2);
  // No kernel image in the fixture: whether to reboot is unknown, which is no OK…
  const unknownReboot = await runCli(READ_TREE, [...TREE, "--format=nagios", "--warning=30"]);
  assertEquals(unknownReboot.code, 3);
  assertMatch(
    unknownReboot.stdout,
    /^UNKNOWN - whether a reboot is needed is unknown \(the running kernel's release cannot be read in [^)]*\); 7 processes use deleted libraries: [^|]* \| [^\n]*scanned_processes=\d+;;;0;\n/,
  );
  // … unless asked to take it as one.
  const ok = await runCli(READ_TREE, [
    ...TREE,
    "--format=nagios",
    "--warning=30",
    "--allow-partial",
  ]);
  assertEquals([ok.code, ok.stdout.slice(0, 5)], [0, "OK - "]);
  // The status line is the reason's whole sentence, not its first line on stderr.
  for (const permissions of [[], ["--allow-read=/proc"]]) {
    const unknown = await runCli(permissions, ["--format=nagios"]);
    assertEquals(unknown, {
      code: 3,
      stdout: 'UNKNOWN - Cannot read "/proc": Deno allows reads under /proc, /sys and /dev only ' +
        "with --allow-all, even when --allow-read names them\n",
      stderr: "",
    });
  }
  const usage = await runCli([], ["--format=nagios", "--warning=x"]);
  assertEquals(usage, {
    code: 3,
    stdout: 'UNKNOWN - Cannot use "x" for --warning: a range is N, N:, ~:N, N:M or @N:M\n',
    stderr: "",
  });
  // The word "nagios" as another option's value makes no Nagios run of a usage error.
  const other = await runCli([], ["-I", "nagios", "--bogus"]);
  assertEquals(other, {
    code: 2,
    stdout: "",
    stderr:
      `lib_users: Cannot use "--bogus": there is no such option\nTry 'deno run -A main.ts --help' for more information.\n`,
  });
});

Deno.test("CLI --format=prometheus prints textfile-collector metrics, and scan_success 0 on failure", async () => {
  const run = await runCli(READ_UNITS, [...UNITS_TREE, "--format=prometheus"]);
  assertEquals([run.code, run.stderr], [0, ""]);
  const samples = parseExposition(run.stdout);
  assertEquals(
    samples.get(
      'lib_users_stale_processes{scan="libs",class="system-service",unit="nginx.service"}',
    ),
    2,
  );
  assertEquals(samples.get('lib_users_stale_processes{scan="libs",class="unknown",unit=""}'), 2);
  assertEquals(samples.get('lib_users_scan_success{scan="libs"}'), 1);
  const checked = await runCli(READ_UNITS, [...UNITS_TREE, "--format=prometheus", "--check"]);
  // The same metrics, but when each run scanned.
  const untimed = (text: string) =>
    text.replace(/^(lib_users_last_scan_timestamp_seconds\S*) [0-9]+$/m, "$1 T");
  assertEquals([checked.code, untimed(checked.stdout)], [1, untimed(run.stdout)]);
  const failed = await runCli([], ["--format=prometheus", "--fds"]);
  assertEquals(failed.code, 2);
  assertEquals(parseExposition(failed.stdout).get('lib_users_scan_success{scan="fds"}'), 0);
  assertStringIncludes(failed.stderr, "Deno allows reads under /proc");
});

/** Characters that must never reach a terminal raw from any output (the newline ends lines). */
function unsafeCharacters(text: string): string[] {
  return [...text].filter((ch) => {
    const code = ch.codePointAt(0)!;
    return (code < 0x20 && ch !== "\n") || (code >= 0x7f && code <= 0x9f) ||
      /[\p{Cf}\p{Zl}\p{Zp}]/u.test(ch);
  });
}

Deno.test("CLI prints no raw control or format character in any output mode", async (t) => {
  const dir = Deno.makeTempDirSync();
  try {
    const evil = "x\x1b[2J\u009b31m\u202eabc\u200b\u2028\ufeff\x7f\u{e0041}";
    Deno.mkdirSync(`${dir}/42/fd`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/42/cmdline`, `/usr/bin/${evil}\0--name=${evil}\0`);
    Deno.writeTextFileSync(
      `${dir}/42/maps`,
      `7f00-7f21 r-xp 00000000 fd:01 42 /usr/lib/lib${evil}.so (deleted)\n`,
    );
    Deno.writeTextFileSync(
      `${dir}/42/cgroup`,
      `0::/user.slice/user-1000.slice/user@1000.service/app.slice/${evil}.service\n`,
    );
    Deno.symlinkSync(`/var/log/${evil}.log (deleted)`, `${dir}/42/fd/3`);
    const modes = [
      [],
      ["-s"],
      ["-m"],
      ["--json"],
      ["--format=nagios"],
      ["--format=prometheus"],
      ["-s", "-S"],
      ["-m", "--restart-hints"],
    ];
    for (const mode of modes) {
      for (const scan of [[], ["--fds"]]) {
        const args = [...scan, ...mode];
        await t.step(args.join(" ") || "(human)", async () => {
          const run = await runCli([`--allow-read=${dir}`], ["--proc", dir, ...args]);
          // The name is there, escaped (JSON as \u001b, the others as \x1b; the
          // exposition format doubles the backslash).
          assertMatch(run.stdout, /x\\{1,2}(x1b|u001b)\[2J/);
          assertEquals(unsafeCharacters(run.stdout), []);
          assertEquals(unsafeCharacters(run.stderr), []);
        });
      }
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Runs the CLI through sh, so that its stdout or stderr can be /dev/full. */
async function runRedirected(args: string[], redirect: string): Promise<CliRun> {
  const output = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      `exec "$0" run --quiet "$@" ${redirect}`,
      Deno.execPath(),
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return decodeRun(output);
}

Deno.test("CLI: a full disk on stdout is one line and exit 2; on stderr it changes nothing", async (t) => {
  const garbage = `${ROOT}/testdata/proc_garbage`;
  const cli = (tree: string, ...args: string[]) => [
    `--allow-read=${tree}`,
    `${ROOT}/main.ts`,
    "--proc",
    tree,
    ...args,
  ];
  await t.step("stdout", async () => {
    const run = await runRedirected(cli(FIXTURE_PROC, "-m"), ">/dev/full");
    assertEquals(run.code, 2);
    assertMatch(
      run.stderr,
      /^lib_users: Cannot write the output: No space left on device[^\n]*\n$/,
    );
  });
  for (const format of ["--json", "--format=nagios", "--format=prometheus"]) {
    await t.step(`stdout, ${format}`, async () => {
      const run = await runRedirected(cli(FIXTURE_PROC, format), ">/dev/full");
      assertEquals(run.code, 2);
      assertMatch(
        run.stderr,
        /^lib_users: Cannot write the output: No space left on device[^\n]*\n$/,
      );
    });
  }
  await t.step("stderr, with a warning to write", async () => {
    const run = await runRedirected(cli(garbage, "-m"), "2>/dev/full");
    assertEquals(run.code, 0);
    assertStringIncludes(run.stdout, "10;/lib/ok.so,/lib/tail.so;garbage-owner\n");
  });
  await t.step("stderr, --check with nothing stale keeps exit 0", async () => {
    // Nothing stale, one entry unreadable (its maps is a directory): a warning to write.
    const tree = Deno.makeTempDirSync();
    try {
      Deno.mkdirSync(`${tree}/7/maps`, { recursive: true });
      Deno.writeTextFileSync(`${tree}/7/cmdline`, "x\0");
      const run = await runRedirected(cli(tree, "--check", "-m"), "2>/dev/full");
      assertEquals([run.code, run.stdout], [0, ""]);
    } finally {
      Deno.removeSync(tree, { recursive: true });
    }
  });
  await t.step("stderr, a usage error keeps exit 2", async () => {
    const run = await runRedirected(cli(garbage, "--bogus"), "2>/dev/full");
    assertEquals(run.code, 2);
  });
});

Deno.test("CLI --root answers the reboot question in every format, with only --allow-read", async () => {
  const at = (name: string) => `${ROOT}/testdata/${name}`;
  const read = (name: string) => [`--allow-read=${at(name)}`];
  const newer = await runCli(read("root_newer"), ["--root", at("root_newer"), "--reboot"]);
  assertEquals(newer, {
    code: 0,
    stdout: "Reboot needed:\n  kernel 6.1.0-10-amd64 is installed, 6.1.0-9-amd64 is running " +
      "(the boot loader's default is not known: no GRUB or systemd-boot configuration found)\n" +
      "  the package system asks for a reboot (/run/reboot-required): linux-image-6.1.0-10-amd64, libc6\n",
    stderr: "",
  });
  // --check counts a needed reboot only when the reboot question is asked.
  const check = (name: string, ...args: string[]) =>
    runCli(read(name), ["--root", at(name), "--check", ...args]);
  assertEquals((await check("root_newer", "--reboot")).code, 1);
  assertEquals((await check("root_newer")).code, 0);
  assertEquals((await check("root_current", "--reboot")).code, 0);
  // Not asked, the default and machine outputs are what they always were.
  assertEquals(await runCli(read("root_newer"), ["--root", at("root_newer"), "-m"]), {
    code: 0,
    stdout: "",
    stderr: "",
  });

  const report = JSON.parse(
    (await runCli(read("root_newer"), ["--root", at("root_newer"), "--json"])).stdout,
  );
  assertEquals(validate(await loadSchema(), report), []);
  assertEquals([report.schema_version, report.verdict], [2, "reboot"]);
  assertEquals(report.reboot.kernel.state, "newer");
  assertEquals(report.reboot.kernel.newest.release, "6.1.0-10-amd64");
  assertEquals(report.reboot.reasons[1].packages, ["linux-image-6.1.0-10-amd64", "libc6"]);

  const metrics = parseExposition(
    (await runCli(read("root_rebuilt"), ["--root", at("root_rebuilt"), "--format=prometheus"]))
      .stdout,
  );
  assertEquals(metrics.get('lib_users_reboot_required{reason="kernel"}'), 1);
  assertEquals(
    metrics.get(
      'lib_users_kernel_info{running="6.1.0-29-amd64",newest="6.1.0-29-amd64",boots="",state="rebuilt"}',
    ),
    1,
  );

  const current = await runCli(read("root_current"), [
    "--root",
    at("root_current"),
    "--format=nagios",
  ]);
  assertEquals(current.code, 0);
  assertEquals(
    current.stdout,
    "OK - no process uses deleted libraries | stale_processes=0;0;;0; stale_groups=0;;;0; " +
      "stale_files=0;;;0; unreadable_processes=0;;;0; scanned_processes=1;;;0; reboot_required=0;;;0;1\n" +
      "kernel: current: the running kernel 6.1.0-29-amd64 is the newest installed " +
      "(the boot loader's default is not known: no GRUB or systemd-boot configuration found)\n" +
      `microcode: unknown: ${at("root_current")}/proc/cpuinfo cannot be read: it does not exist\n`,
  );
  const garbage = await runCli(read("root_garbage"), [
    "--root",
    at("root_garbage"),
    "--format=nagios",
    "--reboot-critical",
  ]);
  assertEquals(garbage.code, 2);
  assertMatch(garbage.stdout, /^CRITICAL - reboot needed: kernel 6\.1\.0-44-amd64 is installed/);
});

Deno.test("CLI --root: a pinned kernel asks no reboot, newer microcode does, with only --allow-read", async () => {
  const at = (name: string) => `${ROOT}/testdata/${name}`;
  const check = (name: string) =>
    runCli([`--allow-read=${at(name)}`], ["--root", at(name), "--check", "--reboot"]);
  const pinned = await check("root_grub_pinned");
  assertEquals([pinned.code, pinned.stderr], [0, ""]);
  assertMatch(
    pinned.stdout,
    /^No reboot needed: the running kernel 6\.1\.0-9-amd64 is the one the boot loader \(GRUB\) boots; a newer kernel 6\.1\.0-10-amd64 is installed/,
  );
  const intel = await check("root_ucode_intel");
  assertEquals(intel, {
    code: 1,
    stdout:
      "Reboot needed:\n  CPU microcode 0xf0 is running, 0xf4 is installed (intel-ucode/06-8e-0a)\n",
    stderr: "",
  });
  const submenu = await runCli([`--allow-read=${at("root_grub_submenu")}`], [
    "--root",
    at("root_grub_submenu"),
    "--format=nagios",
  ]);
  assertEquals(submenu.code, 1);
  assertMatch(
    submenu.stdout,
    /^WARNING - reboot needed: the boot loader \(GRUB\) boots kernel 6\.1\.0-10-amd64, 6\.1\.0-9-amd64 is running; /,
  );
});

Deno.test("CLI --json names the host and when it scanned; the host is null where Deno may not ask", async () => {
  const before = Date.now();
  const run = await runCli(["-A"], [...UNITS_TREE, "--json"]);
  const report = JSON.parse(run.stdout);
  assertEquals(report.host, Deno.hostname());
  const at = Date.parse(report.scanned_at);
  assert(
    /Z$/.test(report.scanned_at) && at >= before - 1000 && at <= Date.now(),
    report.scanned_at,
  );
  const restricted = await runCli(READ_UNITS, [...UNITS_TREE, "--json"]);
  assertEquals(JSON.parse(restricted.stdout).host, null);
});
