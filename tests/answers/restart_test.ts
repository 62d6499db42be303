import { assertEquals } from "@std/assert";
import { planRestarts, riskOf } from "../../lib/answers/restart.ts";
import { restartSteps } from "../../lib/act/steps.ts";
import { formatRestartPlan } from "../../lib/format/restart.ts";
import { unitGroup as group } from "../_helpers.ts";

const H = "0123456789abcdef".repeat(4);

const BUS = "the message bus: a restart breaks running sessions";
const DISPLAY = "a display manager: a restart ends graphical sessions";
const GETTY = "a login prompt: restart by hand";
const MANAGER = "a user's service manager: use daemon-reexec";
const NETWORK = "networking: a restart may cut remote sessions";
const GUESTS = "a container or VM manager: a restart may stop its guests";
const LOGIN = "the login manager: a restart may end sessions";

/** Every alternative of every risky pattern, one unit each, spelled out (never derived from them). */
const RISKY: readonly [string, string][] = [
  ["dbus.service", BUS],
  ["dbus-broker.service", BUS],
  ["display-manager.service", DISPLAY],
  ["gdm.service", DISPLAY],
  ["gdm3.service", DISPLAY],
  ["sddm.service", DISPLAY],
  ["lightdm.service", DISPLAY],
  ["xdm.service", DISPLAY],
  ["lxdm.service", DISPLAY],
  ["slim.service", DISPLAY],
  ["getty@tty1.service", GETTY],
  ["serial-getty@ttyS0.service", GETTY],
  ["container-getty@1.service", GETTY],
  ["console-getty@.service", GETTY],
  ["user@1000.service", MANAGER],
  ["user@0.service", MANAGER],
  ["NetworkManager.service", NETWORK],
  ["systemd-networkd.service", NETWORK],
  ["networking.service", NETWORK],
  ["wpa_supplicant.service", NETWORK],
  ["connman.service", NETWORK],
  ["iwd.service", NETWORK],
  ["systemd-resolved.service", NETWORK],
  ["docker.service", GUESTS],
  ["containerd.service", GUESTS],
  ["podman.service", GUESTS],
  ["crio.service", GUESTS],
  ["kubelet.service", GUESTS],
  ["libvirtd.service", GUESTS],
  ["virtqemud.service", GUESTS],
  ["lxd.service", GUESTS],
  ["incus.service", GUESTS],
  ["lxc.service", GUESTS],
  ["lxc-net.service", GUESTS],
  ["systemd-machined.service", GUESTS],
  ["snap.lxd.daemon.service", GUESTS],
  ["systemd-logind.service", LOGIN],
];

/** Near misses: each pattern is anchored, and its optional parts are the only ones. */
const NOT_RISKY = [
  "nginx.service",
  "cron.service",
  "ssh.service",
  "dbus-user.service",
  "xdbus.service",
  "dbus.service.d",
  "dbus.socket",
  "gdm2.service",
  "mygdm.service",
  "other-getty@tty1.service",
  "getty.service",
  "user@alice.service",
  "user-runtime-dir@1000.service",
  "networkingx.service",
  "docker.socket",
  "snap.lxd.activate.service",
  "systemd-logind-extra.service",
];

Deno.test("riskOf() flags every unit that must not be restarted blindly, with its reason", async (t) => {
  for (const [unit, reason] of RISKY) {
    await t.step(unit, () => assertEquals(riskOf(unit), reason));
  }
  for (const unit of NOT_RISKY) {
    await t.step(`not ${unit}`, () => assertEquals(riskOf(unit), undefined));
  }
});

Deno.test("planRestarts() leaves every risky unit out of the restart lines", () => {
  // A user's manager is a kind of its own (daemon-reexec), never restarted.
  const system = RISKY.filter(([unit]) => !unit.startsWith("user@"));
  const plan = planRestarts(system.map(([unit], i) => group(100 + i, `/system.slice/${unit}`)));
  assertEquals(plan.systemServices, []);
  assertEquals(
    plan.risky.map((r) => [r.unit, r.reason]),
    [...system].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
  );
});

Deno.test("planRestarts() sets apart groups whose only stale files are deleted temporary files", () => {
  const files = (...entries: [string, "replaced" | "deleted" | undefined][]) =>
    entries.map(([path, state]) => ({
      path,
      kind: "library" as const,
      ...(state === undefined ? {} : { state }),
    }));
  const userNames = new Map([[1000, "alice"]]);
  const groups = [
    {
      ...group(10, "/system.slice/jenkins.service"),
      files: files(["/tmp/jna-9/jna42.tmp", "deleted"]),
    },
    // A temporary file and an updated library: the restart helps.
    {
      ...group(20, "/system.slice/app.service"),
      files: files(["/tmp/jna7.tmp", "deleted"], ["/usr/lib/libz.so.1", "replaced"]),
    },
    // Deleted, but where packages put code (a removed package's): old code all the same.
    { ...group(30, "/system.slice/old.service"), files: files(["/usr/lib/libgone.so", "deleted"]) },
    // Not known to be deleted: not set apart.
    { ...group(40, "/system.slice/odd.service"), files: files(["/tmp/x.so", undefined]) },
    {
      ...group(50, "/user.slice/user-1000.slice/session-3.scope"),
      files: files(["/home/a/.cache/orcexec.ab12", "deleted"]),
    },
    // Another process of a unit restarted anyway: not said apart.
    {
      ...group(60, "/system.slice/app.service"),
      argv: ["q"],
      files: files(["/run/user/0/x", "deleted"]),
    },
    // Alice's own app.service is not the system's: apart. Her bar.service restarts for a
    // library: its JIT's process goes with it, as --restart's steps take it.
    {
      ...group(70, "/user.slice/user-1000.slice/user@1000.service/app.slice/app.service"),
      files: files(["/tmp/jna70.tmp", "deleted"]),
    },
    {
      ...group(80, "/user.slice/user-1000.slice/user@1000.service/app.slice/bar.service"),
      files: files(["/tmp/jna80.tmp", "deleted"]),
    },
    {
      ...group(81, "/user.slice/user-1000.slice/user@1000.service/app.slice/bar.service"),
      files: files(["/usr/lib/libz.so.1", "replaced"]),
    },
  ];
  const plan = planRestarts(groups, { userNames });
  assertEquals(plan.systemServices, ["app.service", "odd.service", "old.service"]);
  assertEquals(plan.userServices, [{ user: "alice", units: ["bar.service"] }]);
  assertEquals(plan.sessions, []);
  assertEquals(plan.temporaryOnly, [
    { unit: "jenkins.service", user: null, pids: [10], files: ["/tmp/jna-9/jna42.tmp"] },
    { unit: "session-3.scope", user: "alice", pids: [50], files: ["/home/a/.cache/orcexec.ab12"] },
    { unit: "app.service", user: "alice", pids: [70], files: ["/tmp/jna70.tmp"] },
  ]);
  // --restart's steps agree: what the plan sets apart, they leave by hand, saying why.
  const { steps, byHand } = restartSteps(groups, { kinds: new Set(["user-services"]), userNames });
  assertEquals(steps.map((step) => [step.unit, step.pids]), [
    ["app.service", [20, 60]],
    ["odd.service", [40]],
    ["old.service", [30]],
    ["bar.service", [80, 81]],
  ]);
  assertEquals(
    byHand.filter((left) => left.why.startsWith("restarting will not help")).map((l) => l.pids),
    plan.temporaryOnly.map((apart) => apart.pids),
  );
  assertEquals(
    formatRestartPlan(plan).split("\n").filter((line) => line.includes("will not help")),
    [
      "# restarting will not help if the program makes them again: jenkins.service: PIDs 10 " +
      "use only deleted temporary files: /tmp/jna-9/jna42.tmp",
      "# restarting will not help if the program makes them again: session-3.scope of user " +
      "alice: PIDs 50 use only deleted temporary files: /home/a/.cache/orcexec.ab12",
      "# restarting will not help if the program makes them again: app.service of user alice: " +
      "PIDs 70 use only deleted temporary files: /tmp/jna70.tmp",
    ],
  );
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
    containerUnits: [],
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
    temporaryOnly: [],
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
