/**
 * Units inside system containers (LXC, Incus, LXD, Proxmox, nspawn): named
 * with their container in `-S`, restarted inside it by the plan and by
 * `--restart --restart-also=containers`, the whole container the fallback.
 */

import { assertEquals, assertStringIncludes } from "@std/assert";
import { classifyCgroup } from "../../lib/proc/cgroup.ts";
import { containerSystemctl } from "../../lib/answers/container_systemctl.ts";
import { planRestarts } from "../../lib/answers/restart.ts";
import { unitsFromGroups } from "../../lib/answers/services.ts";
import { formatRestartPlan } from "../../lib/format/restart.ts";
import { markingSteps, restartSteps } from "../../lib/act/steps.ts";
import { formatOutcomes, markedCommands } from "../../lib/format/restart_report.ts";
import { type Probe, takeSteps } from "../../lib/act/verify.ts";
import type { Group } from "../../lib/scan/group.ts";

function group(pid: number, cgroup: string): Group {
  return {
    pids: [pid],
    argv: [`/usr/sbin/d${pid}`],
    cmdline: `/usr/sbin/d${pid}`,
    files: [{ path: "/usr/lib/libssl.so.3", kind: "library" }],
    unit: classifyCgroup(cgroup),
  };
}

/** A root where the named runtime directories exist (`var/lib/incus/containers/NAME`, …). */
function rootWith(...dirs: string[]): string {
  const root = Deno.makeTempDirSync({ prefix: "lib_users_containers_" });
  for (const dir of dirs) Deno.mkdirSync(`${root}/${dir}`, { recursive: true });
  return root;
}

const systemctlIn = (cgroup: string, root: string) =>
  containerSystemctl(classifyCgroup(cgroup).container!, root);

Deno.test("containerSystemctl() reaches a container's systemd through the runtime that keeps it", () => {
  const root = rootWith(
    "var/lib/incus/containers/web1",
    "var/snap/lxd/common/lxd/containers/web2",
    "var/lib/lxd/containers/web3",
  );
  try {
    const unit = "system.slice/nginx.service";
    assertEquals(systemctlIn(`/lxc.payload.web1/${unit}`, root), [
      "incus",
      "exec",
      "web1",
      "--",
      "systemctl",
    ]);
    assertEquals(systemctlIn(`/lxc.payload.web2/${unit}`, root)?.slice(0, 2), ["lxc", "exec"]);
    assertEquals(systemctlIn(`/lxc.payload.web3/${unit}`, root)?.slice(0, 2), ["lxc", "exec"]);
    // No front end claims it: LXC's own tool.
    assertEquals(systemctlIn(`/lxc.payload.web4/${unit}`, root), [
      "lxc-attach",
      "-n",
      "web4",
      "--",
      "systemctl",
    ]);
    assertEquals(systemctlIn(`/lxc/101/ns/${unit}`, root), [
      "pct",
      "exec",
      "101",
      "--",
      "systemctl",
    ]);
    assertEquals(
      systemctlIn(`/machine.slice/systemd-nspawn@deb.service/payload/${unit}`, root),
      ["systemctl", "-M", "deb"],
    );
    // No systemd seen inside, another runtime, or a name that could pass for an option: none.
    assertEquals(systemctlIn("/lxc.payload.web1/app", root), undefined);
    assertEquals(systemctlIn(`/lxc.payload.-n/${unit}`, root), undefined);
    assertEquals(systemctlIn(`/lxc.payload.a b/${unit}`, root), undefined);
    assertEquals(systemctlIn(`/docker/${"a".repeat(64)}`, root), undefined);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("-S names a unit with its container; a container without one by itself", () => {
  const units = unitsFromGroups([
    group(10, "/lxc.payload.web1/system.slice/nginx.service"),
    group(11, "/lxc.payload.web1/app"),
    group(12, "/system.slice/nginx.service"),
  ]);
  assertEquals(units.get(10), "nginx.service in lxc container web1");
  assertEquals(units.get(11), "lxc container web1");
  assertEquals(units.get(12), "nginx.service");
});

Deno.test("planRestarts() restarts a safe unit inside its container; the container is the fallback", () => {
  const root = rootWith("var/lib/incus/containers/web1");
  try {
    const plan = planRestarts([
      group(10, "/lxc.payload.web1/system.slice/nginx.service"),
      group(11, "/lxc.payload.web1/system.slice/cron.service"),
      group(12, "/lxc.payload.web1/system.slice/dbus.service"),
      group(20, "/lxc.payload.web2/system.slice/nginx.service"),
      group(30, "/lxc.payload.-x/system.slice/nginx.service"),
    ], { root });
    assertEquals(
      plan.containerUnits.map((c) => [c.container.id, c.unit, c.pids]),
      [["web1", "cron.service", [11]], ["web1", "nginx.service", [10]], [
        "web2",
        "nginx.service",
        [20],
      ]],
    );
    // The risky unit, and a container whose name is not a plain host name: the whole container.
    assertEquals(plan.containers.map((c) => [c.id, c.pids]), [["-x", [30]], ["web1", [12]]]);
    assertEquals(plan.containers[1], { runtime: "lxc", id: "web1", pids: [12] });
    const text = formatRestartPlan(plan);
    assertStringIncludes(
      text,
      "incus exec web1 -- systemctl restart -- cron.service nginx.service\n",
    );
    assertStringIncludes(text, "lxc-attach -n web2 -- systemctl restart -- nginx.service\n");
    assertStringIncludes(text, "lxc restart -- -x  #");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("restartSteps() restarts units inside containers only when containers are asked for", () => {
  const groups = [
    group(10, "/lxc.payload.web1/system.slice/nginx.service"),
    group(11, "/lxc.payload.web1/system.slice/dbus.service"),
    group(12, "/system.slice/nginx.service"),
    group(13, "/lxc.payload.web1/user.slice/user-0.slice/session-1.scope"),
  ];
  const plain = restartSteps(groups, { root: "testdata/root_empty" });
  assertEquals(plain.steps.map((s) => s.argv.join(" ")), ["systemctl restart -- nginx.service"]);
  assertEquals(
    plain.byHand.find((l) => l.pids.includes(10))?.why,
    "a unit in a container: --restart-also=containers",
  );
  const asked = restartSteps(groups, {
    root: "testdata/root_empty",
    kinds: new Set(["containers"]),
  });
  assertEquals(asked.steps.map((s) => [s.kind, s.argv.join(" "), s.pids]), [
    ["services", "systemctl restart -- nginx.service", [12]],
    ["containers", "lxc-attach -n web1 -- systemctl restart -- nginx.service", [10]],
  ]);
  assertEquals(asked.steps[1]!.container?.cgroup, "/lxc.payload.web1");
  assertEquals(asked.byHand.map((l) => [l.what, l.why.split(":")[0]]), [
    ["dbus.service in lxc container web1", "risky"],
    ["session-1.scope in lxc container web1", "a container"],
  ]);
});

Deno.test("takeSteps() looks for a container unit's processes below the container's cgroup", async () => {
  const [step] = restartSteps([group(10, "/lxc.payload.web1/system.slice/nginx.service")], {
    root: "testdata/root_empty",
    kinds: new Set(["containers"]),
  }).steps;
  const ran: string[] = [];
  const looked: string[] = [];
  let state = "ActiveState=failed\nResult=exit-code\n";
  const probe: Probe = {
    run: (argv) => {
      ran.push(argv.join(" "));
      const stdout = argv.includes("show")
        ? `${state}KillMode=control-group\nControlGroup=/system.slice/nginx.service\n`
        : "";
      return Promise.resolve({ code: 0, timedOut: false, stderr: "", stdout });
    },
    rescan: () => Promise.resolve([]),
    pidsOfGroup: (cgroup) => (looked.push(cgroup), []),
    settleMs: 0,
  };
  const [failed] = await takeSteps([step!], probe, 1000);
  assertEquals(ran, [
    "lxc-attach -n web1 -- systemctl restart -- nginx.service",
    "lxc-attach -n web1 -- systemctl show -p ActiveState,SubState,Result,KillMode,ControlGroup " +
    "-- nginx.service",
  ]);
  // Failed as it started: the journal to read is the container's.
  assertEquals(failed!.state, "failed");
  assertStringIncludes(failed!.next!, "lxc-attach -n web1 -- journalctl -u nginx.service -n 20");

  state = "ActiveState=active\n";
  const [clean] = await takeSteps([step!], probe, 1000);
  assertEquals(clean!.state, "clean");
  assertEquals(looked, ["/lxc.payload.web1/system.slice/nginx.service"]);
});

Deno.test("--restart-unit and --never name a container's unit as CONTAINER:UNIT; marks say how to restart them there", () => {
  const groups = [
    group(10, "/lxc.payload.web1/system.slice/dbus.service"),
    group(11, "/system.slice/dbus.service"),
  ];
  const options = { root: "testdata/root_empty", kinds: new Set(["containers"] as const) };
  const host = restartSteps(groups, { ...options, allowed: ["dbus.service"] });
  assertEquals(host.steps.map((s) => s.argv.join(" ")), ["systemctl restart -- dbus.service"]);
  assertStringIncludes(host.byHand[0]!.why, "(--restart-unit web1:dbus.service restarts it");
  const inner = restartSteps(groups, { ...options, allowed: ["web1:dbus.service"] });
  assertEquals(inner.steps.map((s) => s.argv.join(" ")), [
    "lxc-attach -n web1 -- systemctl restart -- dbus.service",
  ]);
  const never = restartSteps(groups, {
    ...options,
    allowed: ["web1:dbus.service", "dbus.service"],
    never: ["web1:*"],
  });
  assertEquals(never.steps.map((s) => s.container), [null]);

  const marking = markingSteps(inner);
  const outcomes = marking.steps.map((step) => ({ step, state: "marked" as const, survivors: [] }));
  assertEquals(markedCommands(outcomes), [
    "lxc-attach -n web1 -- systemctl reload-or-restart --marked",
  ]);
  assertStringIncludes(
    formatOutcomes(outcomes),
    "Done: 1 marked; lxc-attach -n web1 -- systemctl reload-or-restart --marked restarts them.",
  );
});
