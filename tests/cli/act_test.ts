/**
 * `--restart` from the command line, against a stand-in `systemctl` that
 * records what it is asked (the real systemd's answers are tested apart): who
 * decides, what runs, in which order, and the exit code of what is left.
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { ROOT, runCli } from "../_helpers.ts";
import { loadSchema, validate } from "../_json_schema.ts";
import { isControlGroupPath } from "../../cli/act.ts";

const UNITS = `${ROOT}/testdata/proc_units`;

/** A directory with a `systemctl` that logs its arguments, one call a line, and answers `show`. */
async function withFakeSystemctl(fn: (path: string, log: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "lib_users_act_" });
  try {
    const log = `${dir}/calls`;
    await Deno.writeTextFile(
      `${dir}/systemctl`,
      `#!/bin/sh
printf '%s\\n' "$*" >> "${log}"
case " $* " in *" show "*) printf 'ActiveState=active\\nResult=success\\nKillMode=control-group\\n' ;; esac
exit 0
`,
      { mode: 0o755 },
    );
    await Deno.writeTextFile(log, "");
    await fn(`${dir}:/usr/bin:/bin`, log);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("--restart refuses without a terminal and without --yes, before it scans: exit 2", async () => {
  const run = await runCli(["-A"], ["--proc", UNITS, "--restart"]);
  assertEquals(run.code, 2);
  assertEquals(run.stdout, "");
  assertStringIncludes(run.stderr, "Cannot restart without asking: there is no terminal");
});

Deno.test("--restart refused in a Nagios run: UNKNOWN with the reason, exit 3", async () => {
  const run = await runCli(["-A"], ["--proc", UNITS, "--restart", "--format=nagios"]);
  assertEquals(run.code, 3);
  assertMatch(
    run.stdout,
    /^UNKNOWN - Cannot restart without asking: there is no terminal[^\n]*\n$/,
  );
});

Deno.test("--restart needs --allow-run=systemctl, and says so", async () => {
  const run = await runCli(["--allow-read"], ["--proc", UNITS, "--restart", "--yes"]);
  assertEquals(run.code, 2);
  assertStringIncludes(run.stderr, "Deno was not given --allow-run=systemctl");
});

Deno.test("--restart --dry-run prints the exact commands and runs none", async () => {
  await withFakeSystemctl(async (path, log) => {
    const run = await runCli(["-A"], ["--proc", UNITS, "--restart", "--dry-run"], { PATH: path });
    assertEquals(run.code, 0, run.stderr);
    assertStringIncludes(
      run.stdout,
      "To restart, one at a time:\n  systemctl restart -- cron.service\n",
    );
    assertStringIncludes(run.stdout, "By hand: dbus.service (PIDs 230): risky:");
    // The last line: the least disruptive next step (the fixture's risky units ask for a reboot).
    assertMatch(run.stdout, /\nNext: reboot\b[^\n]*\n$/);
    assertEquals(await Deno.readTextFile(log), "");
  });
});

Deno.test("--restart --yes restarts each safe unit once, in order, then rescans: survivors exit 5", async () => {
  await withFakeSystemctl(async (path, log) => {
    const run = await runCli(
      ["-A"],
      ["--proc", UNITS, "--restart", "--yes", "--never", "nginx*"],
      { PATH: path },
    );
    const calls = (await Deno.readTextFile(log)).trim().split("\n");
    const restarts = calls.filter((call) => call.startsWith("restart"));
    // One at a time, by name; nginx excluded; the fixture's other units are risky or not services.
    assertEquals(restarts, ["restart -- cron.service", "restart -- ssh.service"]);
    assert(calls.some((call) => call.startsWith("show -p ")), calls.join("\n"));
    // The fixture tree does not change: its processes outlive the "restart".
    assertEquals(run.code, 5, run.stdout + run.stderr);
    assertStringIncludes(run.stdout, "Running: systemctl restart -- cron.service\n");
    assertStringIncludes(run.stdout, "cron.service: survivors\n  PID 110 ");
    assertStringIncludes(run.stdout, "Left: 2 of 2 not clean");
  });
});

Deno.test("--restart --mark sets systemd's needs-restart marker on each safe unit instead", async () => {
  await withFakeSystemctl(async (path, log) => {
    const run = await runCli(
      ["-A"],
      ["--proc", UNITS, "--restart", "--mark", "--yes", "--restart-also=managers"],
      { PATH: path },
    );
    const calls = (await Deno.readTextFile(log)).trim().split("\n");
    assertEquals(calls.filter((call) => !call.startsWith("show ")), [
      "set-property --runtime -- cron.service Markers=+needs-restart",
      "set-property --runtime -- nginx.service Markers=+needs-restart",
      "set-property --runtime -- ssh.service Markers=+needs-restart",
    ]);
    assertEquals(run.code, 0, run.stdout + run.stderr);
    assertStringIncludes(run.stdout, "To mark, one at a time:\n");
    assertStringIncludes(run.stdout, "cron.service: marked needs-restart\n");
    assertStringIncludes(
      run.stdout,
      "By hand: system manager (PIDs 130): a manager's re-exec cannot be marked",
    );
    assertStringIncludes(
      run.stdout,
      "Done: 3 marked; systemctl reload-or-restart --marked restarts them.",
    );
  });
});

Deno.test("--restart --json: one document on stdout, the steps and what came of each; progress on stderr", async () => {
  await withFakeSystemctl(async (path, log) => {
    const dry = await runCli(["-A"], ["--proc", UNITS, "--restart", "--dry-run", "--json"], {
      PATH: path,
    });
    assertEquals(dry.code, 0, dry.stderr);
    const planned = JSON.parse(dry.stdout);
    assertEquals(validate(await loadSchema(), planned), []);
    assertEquals(planned.restart.mode, "dry-run");
    assertEquals(
      planned.restart.steps.map((s: { unit: string; state: string }) => [s.unit, s.state]),
      [["cron.service", "not-run"], ["nginx.service", "not-run"], ["ssh.service", "not-run"]],
    );
    assertStringIncludes(dry.stderr, "To restart, one at a time:\n");
    assertEquals(await Deno.readTextFile(log), "");

    const run = await runCli(
      ["-A"],
      ["--proc", UNITS, "--restart", "--yes", "--json", "--never", "nginx*"],
      { PATH: path },
    );
    // The fixture tree does not change: both units' processes survive, exit 5.
    assertEquals(run.code, 5, run.stderr);
    const report = JSON.parse(run.stdout);
    assertEquals(validate(await loadSchema(), report), []);
    assertEquals(report.restart.mode, "restart");
    assertEquals(report.restart.not_clean, 2);
    assertEquals(report.restart.next_step.kind, "reboot");
    const [cron] = report.restart.steps;
    assertEquals(cron.command, ["systemctl", "restart", "--", "cron.service"]);
    assertEquals(cron.state, "survivors");
    assertEquals(cron.survivors.map((s: { pid: number }) => s.pid), [110]);
    assertEquals(cron.unit_state.KillMode, "control-group");
    assert(
      report.restart.by_hand.some((l: { what: string; why: string }) =>
        l.what === "nginx.service" && l.why === "excluded by --never"
      ),
    );
    // What is left, scanned again: the fixture's groups, all still there.
    assert(report.groups.some((g: { pids: number[] }) => g.pids.includes(110)));
    assertStringIncludes(run.stderr, "Running: systemctl restart -- cron.service\n");
  });
});

Deno.test("--restart --format=nagios: the status line says what the run left, WARNING when a step is not clean", async () => {
  await withFakeSystemctl(async (path) => {
    const run = await runCli(
      ["-A"],
      [
        "--proc",
        UNITS,
        "--restart",
        "--yes",
        "--format=nagios",
        "--never",
        "nginx*",
        "--allow-partial",
      ],
      { PATH: path },
    );
    const [status, ...details] = run.stdout.split("\n");
    assertEquals(run.code, 1, run.stdout + run.stderr);
    assertStringIncludes(
      status!,
      "after --restart: 2 of 2 not clean: cron.service survivors, ssh.service survivors",
    );
    assertStringIncludes(status!, "restart_steps=2;;;0; restart_not_clean=2;;;0;");
    assert(
      details.some((line) => line.startsWith("restart: cron.service: survivors: ")),
      run.stdout,
    );
  });
});

Deno.test("--restart shows each step's packages, where the database knows them", async () => {
  await withFakeSystemctl(async (path, log) => {
    const run = await runCli(
      ["-A"],
      ["--root", `${ROOT}/testdata/root_dpkg`, "--restart", "--dry-run"],
      { PATH: path },
    );
    assertEquals(run.code, 0, run.stderr);
    assertStringIncludes(
      run.stdout,
      "  systemctl restart -- cron.service\n" +
        "    PIDs 110 use /opt/unowned/libz.so, /usr/lib/x86_64-linux-gnu/libssl.so.3\n" +
        "    from libssl3:amd64 3.0.15-1~deb12u1, changed 2026-11-30 10:02:11\n",
    );
    assertEquals(await Deno.readTextFile(log), "");
  });
});

Deno.test("isControlGroupPath() takes systemd's control group paths, never one that climbs out", () => {
  for (const path of ["/system.slice/nginx.service", "/user.slice/user-1000.slice/x.scope"]) {
    assert(isControlGroupPath(path), path);
  }
  for (const path of ["", "/", "system.slice", "/a/../../../tmp/fifo", "/a/./b", "/a//b", "/a/"]) {
    assert(!isControlGroupPath(path), path);
  }
});

Deno.test("--restart --json: the groups come from a second scan, after the restarts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lib_users_act_left_" });
  try {
    // A copy of the fixture whose "restart" of cron.service ends its process (PID 110).
    const proc = `${dir}/proc`;
    const copied = await new Deno.Command("cp", { args: ["-a", UNITS, proc] }).output();
    assert(copied.success);
    await Deno.writeTextFile(
      `${dir}/systemctl`,
      `#!/bin/sh
case " $* " in
  *" restart -- cron.service "*) rm -rf '${proc}/110' ;;
  *" show "*) printf 'ActiveState=active\\nResult=success\\nKillMode=control-group\\n' ;;
esac
exit 0
`,
      { mode: 0o755 },
    );
    const run = await runCli(
      ["-A"],
      ["--proc", proc, "--restart", "--yes", "--json", "--never", "nginx*"],
      { PATH: `${dir}:/usr/bin:/bin` },
    );
    assertEquals(run.code, 5, run.stderr);
    const report = JSON.parse(run.stdout);
    const states = report.restart.steps.map((s: { unit: string; state: string }) => [
      s.unit,
      s.state,
    ]);
    assertEquals(states, [["cron.service", "clean"], ["ssh.service", "survivors"]]);
    assertEquals(report.restart.not_clean, 1);
    const pids = report.groups.flatMap((g: { pids: number[] }) => g.pids);
    assert(!pids.includes(110) && pids.includes(310), String(pids));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
