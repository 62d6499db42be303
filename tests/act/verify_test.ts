import { assertEquals, assertStringIncludes } from "@std/assert";
import { type Probe, takeSteps } from "../../lib/act/verify.ts";
import type { RestartStep } from "../../lib/act/steps.ts";
import type { CommandResult } from "../../lib/act/run.ts";
import type { ProcessFinding } from "../../lib/scan/model.ts";

function step(unit: string, pids: number[]): RestartStep {
  return {
    kind: "services",
    unit,
    container: null,
    user: null,
    argv: ["systemctl", "restart", "--", unit],
    manager: ["systemctl"],
    pids,
    files: ["/usr/lib/libssl.so.3"],
  };
}

function finding(pid: number): ProcessFinding {
  return {
    pid,
    argv: ["/usr/sbin/daemon"],
    cmdline: "/usr/sbin/daemon",
    files: [{ path: "/usr/lib/libssl.so.3", kind: "library" }],
  };
}

/** A system where each unit answers as `units` says; records every command. */
function fakeProbe(
  units: Record<
    string,
    { restart: Partial<CommandResult>; show: string; now: number[]; stale: number[] }
  >,
) {
  const ran: string[][] = [];
  const rescanned: number[][] = [];
  const probe: Probe = {
    run: (argv) => {
      ran.push([...argv]);
      const unit = units[argv[argv.length - 1]!]!;
      const result = argv.includes("show")
        ? { code: 0, stdout: unit.show }
        : { code: 0, stdout: "", ...unit.restart };
      return Promise.resolve({ timedOut: false, stderr: "", ...result } as CommandResult);
    },
    rescan: (pids) => {
      rescanned.push([...pids]);
      const stale = Object.values(units).flatMap((u) => u.stale);
      return Promise.resolve(pids.filter((pid) => stale.includes(pid)).map(finding));
    },
    pidsOfGroup: (group) => units[group.slice(group.lastIndexOf("/") + 1)]?.now ?? [],
    settleMs: 0,
  };
  return { probe, ran, rescanned };
}

const show = (unit: string, killMode = "control-group", result = "success", state = "active") =>
  `ActiveState=${state}\nSubState=running\nResult=${result}\nKillMode=${killMode}\n` +
  `ControlGroup=/system.slice/${unit}\n`;

Deno.test("takeSteps() runs each step once, in order, then proves it: clean or survivors", async () => {
  const { probe, ran, rescanned } = fakeProbe({
    "a.service": { restart: {}, show: show("a.service"), now: [12], stale: [] },
    "b.service": {
      restart: {},
      show: show("b.service", "process"),
      now: [22],
      stale: [21],
    },
  });
  const outcomes = await takeSteps(
    [step("a.service", [11]), step("b.service", [20, 21])],
    probe,
    1000,
  );
  assertEquals(ran.filter((argv) => argv[1] === "restart"), [
    ["systemctl", "restart", "--", "a.service"],
    ["systemctl", "restart", "--", "b.service"],
  ]);
  // The old PIDs and the unit's processes now are scanned again.
  assertEquals(rescanned, [[11, 12], [20, 21, 22]]);
  assertEquals(outcomes.map((o) => o.state), ["clean", "survivors"]);
  assertEquals(outcomes[1]!.survivors.map((s) => s.pid), [21]);
  assertStringIncludes(outcomes[1]!.next!, "KillMode=process");
  assertStringIncludes(outcomes[1]!.next!, "kill 21");
});

Deno.test("takeSteps() says why a step failed, the start limit, a timeout, a missing systemctl", async () => {
  const { probe } = fakeProbe({
    "fails.service": {
      restart: { code: 1, stderr: "Job for fails.service failed." },
      show: show("fails.service", "control-group", "start-limit-hit"),
      now: [],
      stale: [],
    },
    "hangs.service": {
      restart: { code: null, timedOut: true },
      show: show("hangs.service"),
      now: [],
      stale: [],
    },
  });
  const [failed, hung] = await takeSteps(
    [step("fails.service", [1]), step("hangs.service", [2])],
    probe,
    5000,
  );
  assertEquals([failed!.state, failed!.code, failed!.message], [
    "failed",
    1,
    "Job for fails.service failed.",
  ]);
  assertEquals(failed!.unitState?.Result, "start-limit-hit");
  assertStringIncludes(failed!.next!, "start limit");
  assertStringIncludes(failed!.next!, "journalctl -u fails.service -n 20");
  assertEquals(hung!.state, "timed-out");
  assertStringIncludes(hung!.next!, "did not end within 5 s");
  const missing: Probe = {
    ...probe,
    run: () => Promise.reject(new Deno.errors.NotFound("systemctl")),
  };
  const [none] = await takeSteps([step("a.service", [1])], missing, 1000);
  assertEquals([none!.state, none!.message], ["failed", "systemctl is not installed"]);
});

Deno.test("takeSteps() calls a unit that failed as it started again failed, though systemctl said 0", async () => {
  const { probe } = fakeProbe({
    "late.service": {
      restart: {},
      show: show("late.service", "control-group", "exit-code", "failed"),
      now: [],
      stale: [],
    },
  });
  const [outcome] = await takeSteps([step("late.service", [1])], probe, 1000);
  assertEquals([outcome!.state, outcome!.code, outcome!.message], [
    "failed",
    0,
    "it failed as it started again",
  ]);
  assertStringIncludes(outcome!.next!, "journalctl -u late.service -n 20");
});
