import { assert, assertEquals } from "@std/assert";
import { classifyCgroup } from "../lib/cgroup.ts";
import type { Group } from "../lib/group.ts";
import { formatRestartPlan, planRestarts, riskOf, shellWord } from "../lib/restart.ts";
import { escapeForTerminal } from "../lib/escape.ts";
import { encodeName } from "../lib/names.ts";
import { runPlanLines } from "./_helpers.ts";

function group(pid: number, cgroup: string | null): Group {
  return {
    pids: [pid],
    argv: [`p${pid}`],
    cmdline: `p${pid}`,
    files: [{ path: "/lib/x.so", kind: "library" }],
    ...(cgroup === null ? {} : { unit: classifyCgroup(cgroup) }),
  };
}

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

Deno.test("formatRestartPlan() quotes unit names a user could have made up", () => {
  const plan = planRestarts([
    group(5, "/user.slice/user-1000.slice/user@1000.service/app.slice/x;rm -rf ~\x1b[2J.service"),
  ]);
  assertEquals(
    formatRestartPlan(plan),
    "systemctl --user -M 1000@ restart -- $'x;rm -rf ~\\x1b[2J.service'\n",
  );
});

Deno.test("formatRestartPlan() is empty for an empty plan", () => {
  assertEquals(formatRestartPlan(planRestarts([])), "");
});

/** Unit, container and machine names a user could create, each one word that must arrive whole. */
const HOSTILE_UNITS = [
  "--host=attacker@evil.example.service",
  "$(reboot).service",
  "--machine=evil.service",
  "it's!here.service",
  "back\\slash\x1b[31m.service",
  "bidi\u202egnp.service",
  "raw\udcff.service", // the byte 0xff
];
const HOSTILE_LXC = "--force;id";
const HOSTILE_MACHINE = "--host=evil";

Deno.test({
  name:
    "formatRestartPlan() lines, run by bash with stand-in tools, pass every hostile name as one operand after --",
  ignore: !hasBash(),
  async fn() {
    const groups = [
      ...HOSTILE_UNITS.map((unit, i) => group(100 + i, `/system.slice/${unit}`)),
      ...HOSTILE_UNITS.map((unit, i) =>
        group(200 + i, `/user.slice/user-1000.slice/user@1000.service/app.slice/${unit}`)
      ),
      group(300, `/lxc.payload.${HOSTILE_LXC}`),
      group(301, `/machine.slice/machine-${HOSTILE_MACHINE.replaceAll("-", "\\x2d")}.scope`),
    ];
    const text = formatRestartPlan(planRestarts(groups));
    const operands: string[] = [];
    for (const argv of await runPlanLines(text)) {
      const end = argv.indexOf("--");
      assert(end > 0, `no -- in ${JSON.stringify(argv)}`);
      const options = argv.slice(1, end);
      for (const name of [...HOSTILE_UNITS, HOSTILE_LXC, HOSTILE_MACHINE]) {
        assertEquals(options.includes(name), false, `${name} among the options`);
      }
      operands.push(...argv.slice(end + 1));
    }
    assertEquals(
      operands.sort(),
      [...HOSTILE_UNITS, ...HOSTILE_UNITS, HOSTILE_LXC, HOSTILE_MACHINE].sort(),
    );
    // No raw control character reaches the terminal that shows the plan.
    assertEquals([...text].filter((ch) => /[\p{Cc}\p{Cf}]/u.test(ch) && ch !== "\n"), []);
  },
});

Deno.test({
  name: "shellWord() gives the exact name back through bash, and shows no raw control character",
  ignore: !hasBash(),
  async fn() {
    const words = [
      ...HOSTILE_UNITS,
      HOSTILE_LXC,
      "plain.service",
      "a b",
      "é.service",
      "\u{e0041}x",
    ];
    for (const word of words) {
      const quoted = shellWord(word);
      assertEquals(escapeForTerminal(quoted), quoted.replaceAll("\\", "\\\\"), quoted);
      const syntax = await new Deno.Command("bash", { args: ["-n", "-c", `echo ${quoted}`] })
        .output();
      assertEquals(syntax.code, 0, quoted);
      const printed = await new Deno.Command("bash", {
        args: ["-c", `printf %s ${quoted}`],
        env: { LC_ALL: "C" },
      }).output();
      assertEquals(printed.stdout, encodeName(word), quoted);
    }
  },
});

function hasBash(): boolean {
  try {
    return Deno.statSync("/bin/bash").isFile;
  } catch {
    return false;
  }
}
