/**
 * A `--restart` run in the JSON report (`restart`): per step what it ran and
 * what came of it, what was left by hand, and whether all is clean.
 *
 * @module
 */

import type { ContainerRuntime } from "../proc/cgroup.ts";
import type { RestartKind } from "../act/steps.ts";
import type { RestartRun, StepOutcome } from "../act/verify.ts";
import { replaceRawBytes } from "../proc/names.ts";
import type { NextStepKind } from "../answers/next_step.ts";

/** A name as valid Unicode: each byte that is not UTF-8 becomes U+FFFD (as the groups show it). */
const text = (name: string) => replaceRawBytes(name, () => "\ufffd");

/** One step of a `--restart` run in the JSON report. */
export interface JsonRestartStep {
  /** The unit, or null for a manager's re-exec. */
  unit: string | null;
  /** The container whose own systemd runs the unit, or null for the host's. */
  container: { runtime: ContainerRuntime; id: string } | null;
  /** The user whose service or manager it is, or null for the system's. */
  user: string | null;
  /** Which kind of step (`--restart-also`). */
  kind: RestartKind;
  /** The command, as an argument vector. */
  command: string[];
  /** The stale processes it was to replace. */
  pids: number[];
  /** Their stale files. */
  files: string[];
  /**
   * What came of it: `clean`, `survivors`, `failed`, `timed-out`, `marked`,
   * or `not-run` (a dry run, or not agreed to).
   */
  state: StepOutcome["state"] | "not-run";
  /** Processes that outlived it and still use stale files. */
  survivors: { pid: number; cmdline: string; files: string[] }[];
  /** The command's exit code, for a failure (null: it ended by a signal or the deadline). */
  code?: number | null;
  /** What the command said, for a failure. */
  message?: string;
  /** The unit's properties after the step (`ActiveState`, `Result`, `KillMode`, …). */
  unit_state?: Record<string, string>;
  /** Why it is left as it is, and the least disruptive step that would clear it. */
  next?: string;
}

/** A `--restart` run in the JSON report. */
export interface JsonRestart {
  /** `restart`, `mark` or `dry-run`. */
  mode: RestartRun["mode"];
  /** Every step it could take, in order. */
  steps: JsonRestartStep[];
  /** What it leaves to the admin, and why. */
  by_hand: { what: string; pids: number[]; why: string }[];
  /** How many steps taken are not clean (nor marked): what made the exit code 5. */
  not_clean: number;
  /** The least disruptive step that clears what is left (see `NextStep`), when known. */
  next_step?: { kind: NextStepKind; text: string };
}

/**
 * The run as the JSON report's `restart` member.
 *
 * @param run From `--restart`.
 * @returns The member, ready for `JSON.stringify`.
 */
export function toJsonRestart(run: RestartRun): JsonRestart {
  const outcomes = new Map(run.outcomes.map((outcome) => [outcome.step, outcome]));
  return {
    mode: run.mode,
    steps: run.choice.steps.map((step) => {
      const outcome = outcomes.get(step);
      const json: JsonRestartStep = {
        unit: step.unit === null ? null : text(step.unit),
        container: step.container && { runtime: step.container.runtime, id: step.container.id },
        user: step.user,
        kind: step.kind,
        command: step.argv.map(text),
        pids: [...step.pids],
        files: step.files.map(text),
        state: outcome?.state ?? "not-run",
        survivors: (outcome?.survivors ?? []).map((s) => ({
          pid: s.pid,
          cmdline: text(s.cmdline),
          files: s.files.map(text),
        })),
      };
      if (outcome?.code !== undefined) json.code = outcome.code;
      if (outcome?.message !== undefined) json.message = text(outcome.message);
      if (outcome?.unitState !== undefined) json.unit_state = { ...outcome.unitState };
      if (outcome?.next !== undefined) json.next = text(outcome.next);
      return json;
    }),
    by_hand: run.choice.byHand.map((left) => ({
      what: text(left.what),
      pids: [...left.pids],
      why: text(left.why),
    })),
    not_clean: run.outcomes.filter((o) => o.state !== "clean" && o.state !== "marked").length,
    ...(run.next === undefined
      ? {}
      : { next_step: { kind: run.next.kind, text: text(run.next.text) } }),
  };
}
