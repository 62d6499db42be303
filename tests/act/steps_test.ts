import { assertEquals } from "@std/assert";
import { restartSteps } from "../../lib/act/steps.ts";
import type { Group } from "../../lib/scan/group.ts";
import type { UnitClass, UnitInfo } from "../../lib/proc/cgroup.ts";

function group(pid: number, name: string | null, cls: UnitClass, uid: number | null = null): Group {
  const unit: UnitInfo = { name, class: cls, uid, container: null };
  return {
    pids: [pid],
    argv: [`/usr/bin/p${pid}`],
    cmdline: `/usr/bin/p${pid}`,
    files: [{ path: `/usr/lib/lib${pid}.so`, kind: "library" }],
    unit,
  };
}

const users = new Map([[1000, "alice"]]);

Deno.test("restartSteps() takes safe system services, once each, by name; the rest by hand", () => {
  const { steps, byHand } = restartSteps([
    group(30, "nginx.service", "system-service"),
    group(10, "cron.service", "system-service"),
    group(31, "nginx.service", "system-service"),
    group(20, "dbus.service", "system-service"),
    group(40, "app.service", "user-service", 1000),
    group(50, "init.scope", "manager"),
    group(60, "session-3.scope", "session", 1000),
    group(70, null, "unknown"),
  ], { userNames: users });
  assertEquals(steps.map((s) => [s.argv, s.pids]), [
    [["systemctl", "restart", "--", "cron.service"], [10]],
    [["systemctl", "restart", "--", "nginx.service"], [30, 31]],
  ]);
  assertEquals(steps[1]!.files, ["/usr/lib/lib30.so", "/usr/lib/lib31.so"]);
  assertEquals(byHand.map((l) => [l.what, l.pids, l.why.split(":")[0]]), [
    ["dbus.service", [20], "risky"],
    ["app.service", [40], "a user service"],
    ["init.scope", [50], "the service manager"],
    ["session-3.scope", [60], "a login session"],
    ["?", [70], "no unit known"],
  ]);
});

Deno.test("restartSteps() takes the kinds asked for, never --never's, and a risky unit only by name", () => {
  const groups = [
    group(10, "cron.service", "system-service"),
    group(11, "ssh.service", "system-service"),
    group(20, "dbus.service", "system-service"),
    group(21, "gdm.service", "system-service"),
    group(40, "app.service", "user-service", 1000),
    group(41, "app.service", "user-service", 1001),
    group(50, "init.scope", "manager"),
    group(60, "user@1000.service", "user-manager", 1000),
  ];
  const { steps, byHand } = restartSteps(groups, {
    kinds: new Set(["user-services", "managers"]),
    never: ["ssh*"],
    allowed: ["dbus.service"],
    userNames: users,
  });
  assertEquals(steps.map((s) => s.argv), [
    ["systemctl", "restart", "--", "cron.service"],
    ["systemctl", "restart", "--", "dbus.service"],
    ["systemctl", "--user", "-M", "1001@", "restart", "--", "app.service"],
    ["systemctl", "--user", "-M", "alice@", "restart", "--", "app.service"],
    ["systemctl", "daemon-reexec"],
    ["systemctl", "--user", "-M", "alice@", "daemon-reexec"],
  ]);
  assertEquals(byHand.map((l) => [l.what, l.why.split(":")[0]]), [
    ["ssh.service", "excluded by --never"],
    ["gdm.service", "risky"],
  ]);
});

Deno.test("restartSteps() passes a unit named like an option or a shell line as one argument after --", () => {
  const hostile = "--now;reboot $(id).service";
  const { steps } = restartSteps([group(10, hostile, "system-service")]);
  assertEquals(steps[0]!.argv, ["systemctl", "restart", "--", hostile]);
});

Deno.test("restartSteps() never restarts a unit this run is part of (an apt hook in apt-daily-upgrade.service)", () => {
  const { steps, byHand } = restartSteps([
    group(10, "apt-daily-upgrade.service", "system-service"),
    group(20, "cron.service", "system-service"),
  ], { spare: new Set(["apt-daily-upgrade.service"]) });
  assertEquals(steps.map((s) => s.unit), ["cron.service"]);
  assertEquals(byHand.map((l) => [l.what, l.why]), [[
    "apt-daily-upgrade.service",
    "this run is part of it: restarting it would stop the run",
  ]]);
});

Deno.test("restartSteps() leaves a unit whose only stale files are deleted temporary ones, unless it restarts anyway", () => {
  const jna = (pid: number, name: string) => ({
    ...group(pid, name, "system-service"),
    files: [{
      path: `/tmp/jna-${pid}/jna${pid}.tmp`,
      kind: "library" as const,
      state: "deleted" as const,
    }],
  });
  const { steps, byHand } = restartSteps([
    jna(10, "jenkins.service"),
    group(20, "app.service", "system-service"),
    jna(21, "app.service"),
  ]);
  // app.service restarts for its library: its JIT's process goes with it, and is checked.
  assertEquals(steps.map((s) => [s.unit, s.pids, s.files]), [
    ["app.service", [20, 21], ["/tmp/jna-21/jna21.tmp", "/usr/lib/lib20.so"]],
  ]);
  assertEquals(byHand, [{
    what: "jenkins.service",
    why: "restarting will not help if the program makes them again: its only stale files are " +
      "deleted temporary files",
    pids: [10],
  }]);
});
