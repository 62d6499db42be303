/**
 * `--restart` against a real systemd (tests/_systemd.ts): the CLI runs inside
 * the booted system, restarts its units and proves what each restart did —
 * clean, a child that outlives it (`KillMode=process`), a unit that fails to
 * start again — and a risky unit is never touched.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  bootSystemd,
  cannotBootSystemd,
  cliInside,
  waitForMapped,
  waitForPids,
  withCliBoot,
} from "../_systemd.ts";
import { realLibrary } from "../_live.ts";
import { runningSystemdVersion } from "../../lib/answers/next_step.ts";
import { ROOT, runCli, waitFor } from "../_helpers.ts";

const CANNOT = await cannotBootSystemd();
if (CANNOT !== undefined) console.warn(`act_systemd_test: ignored: ${CANNOT}`);

/** A unit that runs `sleep` with a copy of a library preloaded, so it maps that copy. */
function sleeper(lib: string, extra = ""): string {
  return `[Service]\nEnvironment=LD_PRELOAD=${lib}\nExecStart=/bin/sleep 1000\n${extra}`;
}

Deno.test({
  name: "--restart against systemd: clean, a surviving child, a failed start; dbus never touched",
  ignore: CANNOT !== undefined,
  async fn() {
    await withCliBoot("lib_users_act_systemd_", async (booted, dir) => {
      const tag = booted.tag;
      const lib = (name: string) => `${dir}/${name}.so`;
      for (const name of ["clean", "child", "fail", "risky"]) {
        Deno.copyFileSync(realLibrary(), lib(name));
      }
      const units = {
        clean: `lu-clean-${tag}.service`,
        // Its main process forks a child that maps the library too; KillMode=process spares it.
        child: `lu-child-${tag}.service`,
        // Starts only while its flag file is there.
        fail: `lu-fail-${tag}.service`,
      };
      await booted.installUnit(units.clean, sleeper(lib("clean")));
      await booted.installUnit(
        units.child,
        `[Service]\nEnvironment=LD_PRELOAD=${lib("child")}\nKillMode=process\n` +
          `ExecStart=/bin/sh -c '/bin/sleep 1000 & exec /bin/sleep 1001'\n`,
      );
      await Deno.writeTextFile(`${dir}/may-start`, "");
      await booted.installUnit(
        units.fail,
        `[Service]\nEnvironment=LD_PRELOAD=${lib("fail")}\n` +
          `ExecStart=/bin/sh -c 'test -e ${dir}/may-start && exec /bin/sleep 1000'\n`,
      );
      // dbus.service is on the risky list: named so, it must stay as it is.
      await booted.installUnit("dbus.service", sleeper(lib("risky")));
      for (const unit of [...Object.values(units), "dbus.service"]) {
        const started = await booted.systemctl("start", "--", unit);
        assertEquals(started.code, 0, started.stderr);
      }
      const childPids = await waitForPids(booted, units.child, 2);
      const riskyPids = await waitForPids(booted, "dbus.service", 1);
      for (const [name, unit] of [...Object.entries(units), ["risky", "dbus.service"]]) {
        await waitForMapped(booted, unit!, lib(name!));
      }
      // An update: each library replaced by a new file renamed over it.
      for (const name of ["clean", "child", "fail", "risky"]) {
        Deno.copyFileSync(realLibrary(), `${lib(name)}.new`);
        Deno.renameSync(`${lib(name)}.new`, lib(name));
      }
      await Deno.remove(`${dir}/may-start`);

      const run = await cliInside(booted, "--restart", "--yes", "--restart-timeout=20");
      const out = run.stdout;
      // Each safe unit once, by name, one at a time; the risky one only listed.
      const running = out.split("\n").filter((line) => line.startsWith("Running: "));
      assertEquals(running, [
        `Running: systemctl restart -- ${units.child}`,
        `Running: systemctl restart -- ${units.clean}`,
        `Running: systemctl restart -- ${units.fail}`,
      ], out + run.stderr);
      assertStringIncludes(out, `By hand: dbus.service (PIDs ${riskyPidsInside(out)}`);
      assertStringIncludes(out, `${units.clean}: clean\n`);
      assertStringIncludes(out, `${units.child}: survivors\n`);
      assertStringIncludes(out, "KillMode=process leaves the unit's other processes running");
      assertStringIncludes(
        out,
        `${units.fail}: failed (failed, exit-code): it failed as it started again\n`,
      );
      assertStringIncludes(out, `journalctl -u ${units.fail} -n 20`);
      assertStringIncludes(out, "Left: 2 of 3 not clean");
      // Last, the next step: dbus is left, which systemd 252 cannot soft-reboot away (or the
      // host's kernel is not known to be current, or is not: a reboot all the same).
      const next = /\nNext: (.*)\n$/.exec(out)?.[1] ?? "";
      assert(
        next.includes(`systemd ${booted.version} has no soft-reboot`) ||
          /^reboot(: | \(whether the kernel is current is unknown\))/.test(next),
        next,
      );
      // The running systemd's version, as the next step reads it: from what PID 1 maps.
      const view = await Deno.makeTempDir({ dir, prefix: "proc_" });
      Deno.symlinkSync(`/proc/${booted.pid}`, `${view}/1`);
      assertEquals(runningSystemdVersion(view), booted.version);
      assertEquals(run.code, 5, out + run.stderr);
      // The survivor is the old child; the risky unit's process was never restarted.
      const childNow = await booted.unitPids(units.child);
      assert(childPids.some((pid) => childNow.includes(pid)), "the old child lives on");
      assertEquals(await booted.unitPids("dbus.service"), riskyPids);
    });
  },
});

/** The PIDs the output gives for dbus.service (the booted system's own numbers). */
function riskyPidsInside(out: string): string {
  return /By hand: dbus\.service \(PIDs ([0-9,]+)\)/.exec(out)?.[1] ?? "?";
}

Deno.test({
  name:
    "--restart --mark against systemd: the marker is set, said while the unit is stale, and --marked restarts it",
  ignore: CANNOT !== undefined,
  async fn() {
    await withCliBoot("lib_users_act_systemd_", async (booted, dir) => {
      const unit = `lu-mark-${booted.tag}.service`;
      const lib = `${dir}/mark.so`;
      Deno.copyFileSync(realLibrary(), lib);
      await booted.installUnit(unit, sleeper(lib));
      assertEquals((await booted.systemctl("start", "--", unit)).code, 0);
      const before = await waitForPids(booted, unit, 1);
      await waitForMapped(booted, unit, lib);
      Deno.copyFileSync(realLibrary(), `${lib}.new`);
      Deno.renameSync(`${lib}.new`, lib);
      const cli = (...args: string[]) => cliInside(booted, ...args);
      const first = await cli("--restart", "--mark", "--yes");
      assertEquals(first.code, 0, first.stdout + first.stderr);
      assertStringIncludes(first.stdout, `${unit}: marked needs-restart\n`);
      assertEquals(await booted.property(unit, "Markers"), "needs-restart");
      // Marked, not restarted: the same process, still stale, and the next run says it is marked.
      assertEquals(await booted.unitPids(unit), before);
      const again = await cli("--restart", "--mark", "--yes");
      assertStringIncludes(again.stdout, "; marked needs-restart\n");
      // A plain scan says it too: -S beside the unit, the plan in a comment.
      const services = await cli("-S");
      assert(
        new RegExp(
          `^[0-9,]+ belong to ${unit.replaceAll(".", "\\.")} \\(marked needs-restart\\)$`,
          "m",
        )
          .test(services.stdout),
        services.stdout + services.stderr,
      );
      const hints = await cli("--restart-hints");
      assertStringIncludes(
        hints.stdout,
        `# marked needs-restart already: ${unit} (systemctl reload-or-restart --marked restarts them)\n`,
      );
      // The admin's later step: systemd restarts what is marked, and the marker goes.
      assertEquals((await booted.systemctl("reload-or-restart", "--marked")).code, 0);
      await waitFor(async () => {
        const now = await booted.unitPids(unit);
        return now.length > 0 && !now.includes(before[0]!);
      }, `${unit} restarted`);
      assertEquals(await booted.property(unit, "Markers"), "");
      const after = await cli("--restart", "--dry-run");
      assertStringIncludes(after.stdout, "Nothing to restart safely.\n");
    });
  },
});

/**
 * Stand-ins on PATH for every program `--restart` could run on the host: each
 * writes its argv to `ran.log`; `lxc-attach -n NAME --` enters the booted
 * system named NAME, anything else refuses, so no real unit or container of
 * the machine running the suite is touched.
 */
function standIns(dir: string, booted: Awaited<ReturnType<typeof bootSystemd>>, name: string) {
  const bin = `${dir}/bin`;
  Deno.mkdirSync(bin);
  const log = `echo "$(basename "$0") $*" >> '${dir}/ran.log'`;
  for (const program of ["systemctl", "incus", "lxc", "pct"]) {
    Deno.writeTextFileSync(
      `${bin}/${program}`,
      `#!/bin/sh\n${log}\necho "refused: a test's stand-in" >&2\nexit 1\n`,
      { mode: 0o755 },
    );
  }
  Deno.writeTextFileSync(
    `${bin}/lxc-attach`,
    `#!/bin/sh\n${log}\n` +
      `[ "$1" = -n ] && [ "$2" = '${name}' ] && [ "$3" = -- ] || { echo "no such container" >&2; exit 1; }\n` +
      `shift 3\nexec ${
        booted.enter.join(" ")
      } /usr/bin/env PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"\n`,
    { mode: 0o755 },
  );
  return { PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`, log: `${dir}/ran.log` };
}

Deno.test({
  name:
    "a unit in an LXC container's own systemd: -S names both, --restart-also=containers restarts it inside",
  ignore: CANNOT !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "lib_users_act_container_" });
    const booted = await bootSystemd({ cgroupLayout: "lxc", share: [dir] });
    try {
      const name = `lib_users_systemd_${booted.tag}`;
      const unit = `lu-inner-${booted.tag}.service`;
      const lib = `${dir}/inner.so`;
      Deno.copyFileSync(realLibrary(), lib);
      await booted.installUnit(unit, sleeper(lib));
      const started = await booted.systemctl("start", "--", unit);
      assertEquals(started.code, 0, started.stderr);
      const [old] = await waitForPids(booted, unit, 1);
      await waitForMapped(booted, unit, lib);
      Deno.copyFileSync(realLibrary(), `${lib}.new`);
      Deno.renameSync(`${lib}.new`, lib);
      const { PATH, log } = standIns(dir, booted, name);
      const env = { PATH, LIB_USERS_CONFIG: "" };

      // From the host: the unit, named with its container.
      const seen = await runCli(["-A"], ["-S"], env);
      assertStringIncludes(seen.stdout, `${old} belong to ${unit} in lxc container ${name}\n`);
      const hints = await runCli(["-A"], ["--restart-hints"], env);
      assertStringIncludes(
        hints.stdout,
        `lxc-attach -n ${name} -- systemctl restart -- ${unit}\n`,
      );
      // Not asked for by kind: left by hand, and nothing run for it.
      const dry = await runCli(["-A"], ["--restart", "--dry-run"], env);
      assertStringIncludes(
        dry.stdout,
        `By hand: ${unit} in lxc container ${name} (PIDs ${old}): a unit in a container: ` +
          "--restart-also=containers",
      );

      const run = await runCli(
        ["-A"],
        ["--restart", "--restart-also=containers", "--yes", "--restart-timeout=20"],
        env,
      );
      const out = run.stdout;
      assertStringIncludes(out, `Running: lxc-attach -n ${name} -- systemctl restart -- ${unit}\n`);
      assertStringIncludes(out, `${unit} in lxc container ${name}: clean\n`, out + run.stderr);
      // Restarted inside: a new process in the container's unit, the old one gone.
      const now = await waitForPids(booted, unit, 1);
      assert(!now.includes(old!), `${old} was restarted: ${now}`);
      const ran = Deno.readTextFileSync(log).split("\n");
      assert(ran.includes(`lxc-attach -n ${name} -- systemctl restart -- ${unit}`), ran.join("\n"));
      // The host's systemctl was never asked to restart it.
      assert(
        !ran.some((line) => line.startsWith("systemctl") && line.includes(unit)),
        ran.join("\n"),
      );
      // Only other processes of the machine (none of this test's) can leave the run not clean.
      if (run.code !== 0) assertEquals(run.code, 5, out + run.stderr);
    } finally {
      await booted.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "--restart with --json and --format=nagios against systemd: they answer with what is left",
  ignore: CANNOT !== undefined,
  async fn() {
    await withCliBoot("lib_users_act_left_", async (booted, dir) => {
      const tag = booted.tag;
      const lib = (name: string) => `${dir}/${name}.so`;
      const update = (name: string) => {
        Deno.copyFileSync(realLibrary(), `${lib(name)}.new`);
        Deno.renameSync(`${lib(name)}.new`, lib(name));
      };
      const clean = `lu-left-clean-${tag}.service`;
      const fail = `lu-left-fail-${tag}.service`;
      for (const name of ["clean", "fail"]) Deno.copyFileSync(realLibrary(), lib(name));
      await booted.installUnit(clean, sleeper(lib("clean")));
      await Deno.writeTextFile(`${dir}/may-start`, "");
      await booted.installUnit(
        fail,
        `[Service]\nEnvironment=LD_PRELOAD=${lib("fail")}\n` +
          `ExecStart=/bin/sh -c 'test -e ${dir}/may-start && exec /bin/sleep 1000'\n`,
      );
      for (const unit of [clean, fail]) {
        assertEquals((await booted.systemctl("start", "--", unit)).code, 0);
      }
      await waitForPids(booted, fail, 1);
      await waitForMapped(booted, clean, lib("clean"));
      await waitForMapped(booted, fail, lib("fail"));
      update("clean");
      update("fail");

      // JSON: the clean unit restarted, the other excluded; what is left is the excluded one.
      const json = await cliInside(
        booted,
        "--restart",
        "--yes",
        "--json",
        `--never=${fail}`,
        "--restart-timeout=20",
      );
      assertEquals(json.code, 0, json.stdout + json.stderr);
      const report = JSON.parse(json.stdout);
      assertEquals(
        report.restart.steps.map((s: { unit: string; state: string }) => [s.unit, s.state]),
        [[clean, "clean"]],
      );
      const left = report.groups.map((g: { unit: string }) => g.unit);
      assert(left.includes(fail) && !left.includes(clean), JSON.stringify(left));

      // Nagios: the clean unit stale again, the other now fails to start: WARNING for the
      // failure, while nothing stale is left (the failed unit has no process).
      await waitForMapped(booted, clean, lib("clean"));
      update("clean");
      await Deno.remove(`${dir}/may-start`);
      const nagios = await cliInside(
        booted,
        "--restart",
        "--yes",
        "--format=nagios",
        "--allow-partial",
        "--restart-timeout=20",
      );
      const [status, ...details] = nagios.stdout.split("\n");
      assertEquals(nagios.code, 1, nagios.stdout + nagios.stderr);
      // (A host that needs a reboot says so first, WARNING too.)
      assert(status!.startsWith("WARNING - "), status);
      assertStringIncludes(status!, `after --restart: 1 of 2 not clean: ${fail} failed`);
      assertStringIncludes(status!, "stale_processes=0;");
      assert(details.includes(`restart: ${clean}: clean`), nagios.stdout);
    });
  },
});

Deno.test({
  name:
    "--restart against systemd: the refusal without a terminal, a stop past the deadline, the start limit, a unit named like an option",
  ignore: CANNOT !== undefined,
  async fn() {
    await withCliBoot("lib_users_act_edges_", async (booted, dir) => {
      const tag = booted.tag;
      const lib = (name: string) => `${dir}/${name}.so`;
      const units = {
        // Its stop outlasts the run's deadline: systemd's job goes on.
        hang: `lu-hang-${tag}.service`,
        // Restarted twice before the run: the run's restart is past StartLimitBurst.
        limit: `lu-limit-${tag}.service`,
        // A valid unit name that systemctl would take for its --no-block option without "--".
        option: `--no-block-${tag}.service`,
      };
      for (const name of Object.keys(units)) Deno.copyFileSync(realLibrary(), lib(name));
      await booted.installUnit(
        units.hang,
        sleeper(lib("hang"), "ExecStop=/bin/sleep 1000\nTimeoutStopSec=60\n"),
      );
      await booted.installUnit(
        units.limit,
        `[Unit]\nStartLimitIntervalSec=300\nStartLimitBurst=2\n${sleeper(lib("limit"))}`,
      );
      await booted.installUnit(units.option, sleeper(lib("option")));
      for (const unit of Object.values(units)) {
        const started = await booted.systemctl("start", "--", unit);
        assertEquals(started.code, 0, started.stderr);
      }
      assertEquals((await booted.systemctl("restart", "--", units.limit)).code, 0);
      // Each unit's process has mapped its library before the "update" replaces it.
      for (const [name, unit] of Object.entries(units)) {
        await waitForMapped(booted, unit, lib(name));
      }
      for (const name of Object.keys(units)) {
        Deno.copyFileSync(realLibrary(), `${lib(name)}.new`);
        Deno.renameSync(`${lib(name)}.new`, lib(name));
      }
      const before = await waitForPids(booted, units.option, 1);

      // No terminal, no --yes: refused before anything runs.
      const refused = await cliInside(booted, "--restart");
      assertEquals(refused.code, 2, refused.stdout + refused.stderr);
      assertStringIncludes(refused.stderr, "there is no terminal to ask on");
      assertEquals(await booted.unitPids(units.option), before);

      const run = await cliInside(booted, "--restart", "--yes", "--restart-timeout=3");
      const out = run.stdout;
      assertEquals(run.code, 5, out + run.stderr);
      assertStringIncludes(out, `Running: systemctl restart -- ${units.option}\n`);
      assertStringIncludes(out, `${units.option}: clean\n`);
      assert(!(await booted.unitPids(units.option)).some((pid) => before.includes(pid)));
      assertStringIncludes(out, `${units.hang}: timed out\n`);
      assertStringIncludes(out, "did not end within 3 s; its job may still run in systemd");
      assertEquals(await booted.property(units.hang, "ActiveState"), "deactivating");
      assertStringIncludes(out, `${units.limit}: failed with exit 1 (failed, start-limit-hit)`);
      assertStringIncludes(out, "it hit its start limit: systemctl reset-failed, then start it");
    });
  },
});

Deno.test({
  name:
    "--restart inside a unit (an apt hook in apt-daily-upgrade.service) never restarts that unit",
  ignore: CANNOT !== undefined,
  async fn() {
    await withCliBoot("lib_users_act_self_", async (booted, dir) => {
      const unit = `lu-self-${booted.tag}.service`;
      const lib = `${dir}/self.so`;
      Deno.copyFileSync(realLibrary(), lib);
      Deno.copyFileSync(realLibrary(), `${dir}/spare.so`);
      // The unit's own sleep maps the library, the "update" replaces it, then the CLI runs in it.
      const script = `env LD_PRELOAD=${lib} /bin/sleep 1000 &
until grep -q ${lib} /proc/$!/maps 2>/dev/null; do sleep 0.05; done
cp ${dir}/spare.so ${lib}.new && mv ${lib}.new ${lib}
exec env HOME=/root LIB_USERS_CONFIG= NO_COLOR=1 ${Deno.execPath()} run --quiet -A ${ROOT}/main.ts --restart --yes`;
      Deno.writeTextFileSync(`${dir}/self.sh`, `${script} > ${dir}/out.txt 2>&1\n`);
      await booted.installUnit(
        unit,
        `[Service]\nType=oneshot\nExecStart=/bin/sh ${dir}/self.sh\nTimeoutStartSec=90\n`,
      );
      // A oneshot's start returns once it has run: the CLI's whole run, inside the unit.
      const started = await booted.run(["systemctl", "start", "--", unit], { deadlineMs: 90_000 });
      const run = { stdout: Deno.readTextFileSync(`${dir}/out.txt`), stderr: started.stderr };
      assertStringIncludes(
        run.stdout,
        `By hand: ${unit} (PIDs `,
        run.stdout + run.stderr,
      );
      assertStringIncludes(run.stdout, "this run is part of it: restarting it would stop the run");
      assert(!run.stdout.includes(`Running: systemctl restart -- ${unit}`), run.stdout);
    });
  },
});
