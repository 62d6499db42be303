import { assertEquals } from "@std/assert";
import { planRestarts, riskOf } from "../lib/restart.ts";
import { formatRestartPlan } from "../lib/format/restart.ts";
import { unitGroup as group } from "./_helpers.ts";

const H = "0123456789abcdef".repeat(4);

Deno.test("riskOf() flags units that must not be restarted blindly", () => {
  for (
    const unit of [
      "dbus.service",
      "dbus-broker.service",
      "gdm.service",
      "display-manager.service",
      "getty@tty1.service",
      "serial-getty@ttyS0.service",
      "user@1000.service",
      "NetworkManager.service",
      "systemd-networkd.service",
      "docker.service",
      "containerd.service",
      "libvirtd.service",
      "systemd-logind.service",
    ]
  ) {
    assertEquals(typeof riskOf(unit), "string", unit);
  }
  for (const unit of ["nginx.service", "cron.service", "ssh.service", "dbus-user.service"]) {
    assertEquals(riskOf(unit), undefined, unit);
  }
});

Deno.test("planRestarts() sorts every kind apart, de-duplicated", () => {
  const plan = planRestarts([
    group(1, "/init.scope"),
    group(10, "/system.slice/nginx.service"),
    group(11, "/system.slice/nginx.service"),
    group(12, "/system.slice/cron.service"),
    group(20, "/system.slice/dbus.service"),
    group(30, "/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service"),
    group(31, "/user.slice/user-1000.slice/user@1000.service/init.scope"),
    group(40, "/user.slice/user-1000.slice/session-3.scope"),
    group(41, "/user.slice/user-1000.slice/session-3.scope"),
    group(50, `/system.slice/docker-${H}.scope`),
    group(51, `/system.slice/docker-${H}.scope`),
    group(60, "/"),
    group(61, null),
  ], { userNames: new Map([[1000, "alice"]]) });
  assertEquals(plan, {
    systemServices: ["cron.service", "nginx.service"],
    userServices: [{ user: "alice", units: ["pipewire.service"] }],
    containers: [{ runtime: "docker", id: H, pids: [50, 51] }],
    reexecManager: true,
    reexecUserManagers: ["alice"],
    sessions: [{ unit: "session-3.scope", user: "alice", pids: [40, 41] }],
    risky: [{
      unit: "dbus.service",
      user: null,
      reason: "the message bus: a restart breaks running sessions",
      pids: [20],
    }],
    unknown: [60, 61],
  });
  assertEquals(
    formatRestartPlan(plan),
    `systemctl restart -- cron.service nginx.service
systemctl --user -M alice@ restart -- pipewire.service
docker restart -- 0123456789ab
systemctl daemon-reexec
systemctl --user -M alice@ daemon-reexec
# end or restart by hand: session-3.scope of user alice (PIDs 40,41)
# WARNING: not restarted, risky: dbus.service is the message bus: a restart breaks running sessions (PIDs 20)
# no unit known, restart by hand: PIDs 60,61
`,
  );
});
