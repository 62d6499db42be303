/**
 * Takes a run's steps, then proves what they did: the affected processes and
 * the units' processes now are scanned again, and each step is clean, left
 * survivors (with why and what would clear them), failed (with the unit's
 * state and where to read more) or timed out.
 *
 * @module
 */

import type { ProcessFinding } from "../scan/model.ts";
import type { NextStep } from "../answers/next_step.ts";
import { parseMarked } from "../answers/services.ts";
import type { CommandResult, RunCommand } from "./run.ts";
import type { RestartChoice, RestartStep } from "./steps.ts";

/** A process that outlived its restart and still uses stale files. */
export interface Survivor {
  /** Its PID. */
  readonly pid: number;
  /** Its command line. */
  readonly cmdline: string;
  /** The stale files it still uses. */
  readonly files: readonly string[];
}

/** How a step ended, proven by a second scan. */
export interface StepOutcome {
  /** The step taken. */
  readonly step: RestartStep;
  /**
   * `clean`: none of the unit's processes uses a stale file; `survivors`:
   * some outlived the restart; `failed`: the command failed; `timed-out`: it
   * did not end by the deadline (the job may still run in systemd); `marked`:
   * systemd's `needs-restart` marker is set (`--mark`).
   */
  readonly state: "clean" | "survivors" | "failed" | "timed-out" | "marked";
  /** Processes that outlived it (for `survivors`); empty otherwise. */
  readonly survivors: readonly Survivor[];
  /** What the command said, for a failure. */
  readonly message?: string;
  /** The command's exit code, for a failure. */
  readonly code?: number | null;
  /** The unit's state after the step (`systemctl show`), where it could be read. */
  readonly unitState?: Readonly<Record<string, string>>;
  /** Why it is left as it is, and the least disruptive step that would clear it. */
  readonly next?: string;
}

/** A `--restart` run, all told: what it could do, and what each step it took did. */
export interface RestartRun {
  /** `restart`, `mark` (`--mark`), or `dry-run` (nothing run). */
  readonly mode: "restart" | "mark" | "dry-run";
  /** The steps it could take and those left by hand. */
  readonly choice: RestartChoice;
  /** What each step taken did, in order; empty when none was (a dry run, none agreed to). */
  readonly outcomes: readonly StepOutcome[];
  /** The least disruptive step that clears what is left, when it was asked. */
  readonly next?: NextStep;
}

/** What the run may ask of the system besides its commands. */
export interface Probe {
  /** Runs a command (systemctl) within a deadline. */
  readonly run: RunCommand;
  /** Scans these processes again. */
  readonly rescan: (pids: readonly number[]) => Promise<readonly ProcessFinding[]>;
  /**
   * How long after a restart returns its unit is looked at (ms): a service of
   * `Type=simple` is "started" once forked, and one that fails as it starts
   * fails only after. Default {@linkcode SETTLE_MS}.
   */
  readonly settleMs?: number;
  /** The processes of a control group now (cgroup.procs), none when it cannot be read. */
  readonly pidsOfGroup: (controlGroup: string) => number[];
}

/** How long a restarted unit is given to fail as it starts before it is looked at. */
export const SETTLE_MS = 1000;

/** The properties of a unit read after its step. */
const PROPERTIES = "ActiveState,SubState,Result,KillMode,ControlGroup";

/**
 * Takes each step in order, one at a time, then checks it; `onStep` hears
 * each command before it runs.
 */
export function takeSteps(
  steps: readonly RestartStep[],
  probe: Probe,
  timeoutMs: number,
  onStep: (step: RestartStep) => void = () => {},
): Promise<StepOutcome[]> {
  return eachStep(
    steps,
    probe,
    timeoutMs,
    onStep,
    (step, result) => check(step, result, probe, timeoutMs),
  );
}

/** Sets each step's marker in order, one at a time: `marked`, or `failed` with why. */
export function markUnits(
  steps: readonly RestartStep[],
  probe: Probe,
  timeoutMs: number,
  onStep: (step: RestartStep) => void = () => {},
): Promise<StepOutcome[]> {
  return eachStep(
    steps,
    probe,
    timeoutMs,
    onStep,
    (step, result) =>
      result.code === 0 ? { step, state: "marked", survivors: [] } : {
        step,
        state: "failed",
        survivors: [],
        message: result.timedOut ? "it did not end in time" : result.stderr,
        code: result.code,
        // systemd before 248 knows no Markers property.
        next: "systemd 248 or later marks units; restart it instead (--restart without --mark)",
      },
  );
}

/**
 * Runs each step's command in order, one at a time, and judges its result; a
 * command that could not be started is a failed step.
 */
async function eachStep(
  steps: readonly RestartStep[],
  probe: Probe,
  timeoutMs: number,
  onStep: (step: RestartStep) => void,
  judge: (step: RestartStep, result: CommandResult) => StepOutcome | Promise<StepOutcome>,
): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  for (const step of steps) {
    onStep(step);
    let result: CommandResult;
    try {
      result = await probe.run(step.argv, timeoutMs);
    } catch (error) {
      const message = error instanceof Deno.errors.NotFound
        ? `${step.argv[0]} is not installed`
        : error instanceof Deno.errors.NotCapable
        ? `Deno was not given --allow-run=${step.argv[0]}`
        : error instanceof Error
        ? error.message
        : String(error);
      outcomes.push({ step, state: "failed", survivors: [], message, code: null });
      continue;
    }
    outcomes.push(await judge(step, result));
  }
  return outcomes;
}

/**
 * Which of the steps' units carry systemd's `needs-restart` marker already
 * (read, never set): one `show` per manager (the host's, a user's, a
 * container's), each within the deadline.
 */
export async function markedSteps(
  steps: readonly RestartStep[],
  probe: Probe,
  timeoutMs: number,
): Promise<Set<RestartStep>> {
  const byManager = Map.groupBy(steps.filter((s) => s.unit !== null), (s) => s.manager.join("\0"));
  const marked = new Set<RestartStep>();
  for (const same of byManager.values()) {
    const units = same.map((step) => step.unit!);
    try {
      const shown = await probe.run(
        [...same[0]!.manager, "show", "-p", "Id,Markers", "--", ...units],
        timeoutMs,
      );
      if (shown.code !== 0) continue;
      const names = parseMarked(shown.stdout, units);
      for (const step of same) if (names.has(step.unit!)) marked.add(step);
    } catch { /* not known */ }
  }
  return marked;
}

/** What one step did, by its command's result and a second scan. */
async function check(
  step: RestartStep,
  result: CommandResult,
  probe: Probe,
  timeoutMs: number,
): Promise<StepOutcome> {
  if (result.code === 0 && step.unit !== null) {
    await new Promise((resolve) => setTimeout(resolve, probe.settleMs ?? SETTLE_MS));
  }
  const unitState = step.unit === null ? undefined : await showUnit(step, probe, timeoutMs);
  if (result.timedOut) {
    return {
      step,
      state: "timed-out",
      survivors: [],
      ...(unitState ? { unitState } : {}),
      next: `${commandLine(step)} did not end within ${timeoutMs / 1000} s; its job may still ` +
        `run in systemd: see ${step.manager.join(" ")} list-jobs${journalHint(step)}`,
    };
  }
  if (result.code !== 0) {
    const limit = unitState?.Result === "start-limit-hit";
    return {
      step,
      state: "failed",
      survivors: [],
      message: result.stderr,
      code: result.code,
      ...(unitState ? { unitState } : {}),
      next: (limit ? "it hit its start limit: systemctl reset-failed, then start it; " : "") +
        `read why${journalHint(step)}`,
    };
  }
  if (unitState?.ActiveState === "failed") {
    return {
      step,
      state: "failed",
      survivors: [],
      message: "it failed as it started again",
      code: result.code,
      unitState,
      next: `read why${journalHint(step)}`,
    };
  }
  // A container's systemd names its cgroups from its own root, below the host's path to it.
  const group = unitState?.ControlGroup;
  const now = group ? probe.pidsOfGroup(`${step.container?.cgroup ?? ""}${group}`) : [];
  const found = await probe.rescan([...new Set([...step.pids, ...now])]);
  const survivors = found.map((p) => ({
    pid: p.pid,
    cmdline: p.cmdline,
    files: p.files.map((f) => f.path),
  }));
  if (survivors.length === 0) {
    return { step, state: "clean", survivors, ...(unitState ? { unitState } : {}) };
  }
  return {
    step,
    state: "survivors",
    survivors,
    ...(unitState ? { unitState } : {}),
    next: survivorsNext(step, survivors, unitState),
  };
}

/** Why processes outlived the step, and what would clear them. */
function survivorsNext(
  step: RestartStep,
  survivors: readonly Survivor[],
  unitState: Readonly<Record<string, string>> | undefined,
): string {
  const pids = survivors.map((s) => s.pid).join(" ");
  const killMode = unitState?.KillMode;
  if (killMode === "process" || killMode === "none") {
    return `KillMode=${killMode} leaves the unit's other processes running: stop them ` +
      `(kill ${pids}), or set KillMode=control-group`;
  }
  if (step.unit === null) return `${commandLine(step)} did not replace them: a reboot does`;
  return `they outlived the restart: stop them (kill ${pids}), then ${commandLine(step)}`;
}

/** The unit's properties after its step; undefined when they cannot be read. */
async function showUnit(
  step: RestartStep,
  probe: Probe,
  timeoutMs: number,
): Promise<Record<string, string> | undefined> {
  try {
    const shown = await probe.run(
      [...step.manager, "show", "-p", PROPERTIES, "--", step.unit!],
      timeoutMs,
    );
    if (shown.code !== 0) return undefined;
    const properties: Record<string, string> = {};
    for (const line of shown.stdout.split("\n")) {
      const at = line.indexOf("=");
      if (at > 0) properties[line.slice(0, at)] = line.slice(at + 1);
    }
    return properties;
  } catch {
    return undefined;
  }
}

/** The step's command as one line to show (the names are the unit's, shown as they are). */
export function commandLine(step: RestartStep): string {
  return step.argv.join(" ");
}

function journalHint(step: RestartStep): string {
  if (step.unit === null) return "";
  if (step.container !== null) {
    // The container's journal, asked the way its systemd is: systemctl's place taken by journalctl.
    const journalctl = step.manager.map((word) => word === "systemctl" ? "journalctl" : word);
    return `: ${journalctl.join(" ")} -u ${step.unit} -n 20`;
  }
  const user = step.user === null ? "" : " --user";
  return `: journalctl${user} -u ${step.unit} -n 20`;
}
