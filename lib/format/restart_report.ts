/**
 * What `--restart` says: the steps it may take and those left by hand, then
 * what each step did.
 *
 * @module
 */

import { escapeForTerminal } from "./escape.ts";
import { shellWord } from "./restart.ts";
import { type RestartChoice, type RestartStep, stepName } from "../act/steps.ts";
import { filePackages, packageLabel, type PackageOwners } from "./packages.ts";
import type { StepOutcome } from "../act/verify.ts";

/** The most stale files named for one step before "and N more". */
const FILES_SHOWN = 3;

/**
 * The steps, each with its stale PIDs and files, then what is left by hand.
 * `packages`: the packages of the stale files, each named once under its step.
 * `marked`: the names ({@linkcode stepName}) of units that carry systemd's `needs-restart` marker already (set by
 * an earlier `--mark`) and are still stale: the restart it asked for has not come.
 */
export function formatSteps(
  choice: RestartChoice,
  options: {
    readonly marking?: boolean;
    readonly marked?: ReadonlySet<string>;
    readonly packages?: PackageOwners;
  } = {},
): string {
  const lines: string[] = [];
  if (choice.steps.length === 0) lines.push("Nothing to restart safely.");
  else lines.push(`To ${options.marking ? "mark" : "restart"}, one at a time:`);
  for (const step of choice.steps) {
    const files = step.files.slice(0, FILES_SHOWN).map(escapeForTerminal).join(", ");
    const more = step.files.length > FILES_SHOWN
      ? ` and ${step.files.length - FILES_SHOWN} more`
      : "";
    const still = step.unit !== null && options.marked?.has(stepName(step))
      ? "; marked needs-restart"
      : "";
    lines.push(`  ${step.argv.map(shellWord).join(" ")}`);
    lines.push(`    PIDs ${step.pids.join(",")} use ${files}${more}${still}`);
    const from = options.packages === undefined ? [] : packagesOf(step, options.packages);
    if (from.length > 0) lines.push(`    from ${from.map(escapeForTerminal).join("; ")}`);
  }
  for (const left of choice.byHand) {
    lines.push(
      `By hand: ${escapeForTerminal(left.what)} (PIDs ${left.pids.join(",")}): ${
        escapeForTerminal(left.why)
      }`,
    );
  }
  return lines.map((line) => `${line}\n`).join("");
}

/** What each step did, then one line: done, or what is left. */
export function formatOutcomes(outcomes: readonly StepOutcome[]): string {
  const lines: string[] = [];
  for (const outcome of outcomes) {
    const what = escapeForTerminal(stepName(outcome.step));
    switch (outcome.state) {
      case "clean":
        lines.push(`${what}: clean`);
        break;
      case "marked":
        lines.push(`${what}: marked needs-restart`);
        break;
      case "survivors":
        lines.push(`${what}: survivors`);
        for (const s of outcome.survivors) {
          lines.push(
            `  PID ${s.pid} ${escapeForTerminal(s.cmdline)} still uses ${
              s.files.map(escapeForTerminal).join(", ")
            }`,
          );
        }
        break;
      case "failed": {
        // The unit's state is what its manager said: a container's may say anything.
        const state = outcome.unitState
          ? ` (${escapeForTerminal(outcome.unitState.ActiveState ?? "?")}, ${
            escapeForTerminal(outcome.unitState.Result ?? "?")
          })`
          : "";
        // systemctl's own failure; a unit that failed after it said 0 is told by its state.
        const code = outcome.code ? ` with exit ${outcome.code}` : "";
        lines.push(`${what}: failed${code}${state}: ${escapeForTerminal(outcome.message ?? "")}`);
        break;
      }
      case "timed-out":
        lines.push(`${what}: timed out`);
        break;
    }
    if (outcome.next) lines.push(`  next: ${escapeForTerminal(outcome.next)}`);
  }
  const left = outcomes.filter((o) => o.state !== "clean" && o.state !== "marked").length;
  const marks = outcomes.filter((o) => o.state === "marked").length;
  lines.push(
    left > 0
      ? `Left: ${left} of ${outcomes.length} not ${
        marks > 0 ? "marked" : "clean"
      } (see each "next").`
      : marks > 0
      ? `Done: ${marks} marked; ${markedCommands(outcomes).join(", ")} restarts them.`
      : `Done: ${outcomes.length} restarted, none uses a stale file now.`,
  );
  return lines.map((line) => `${line}\n`).join("");
}

/** The packages a step's stale files belong to, where known, each once, by name. */
function packagesOf(step: RestartStep, packages: PackageOwners): string[] {
  const labels = new Set<string>();
  for (const path of step.files) {
    for (const owner of filePackages(packages, { pids: step.pids, path }).owners) {
      labels.add(packageLabel(owner));
    }
  }
  return [...labels].sort();
}

/**
 * The commands that restart the marked units, one per manager that holds
 * some (the host's `systemctl`, a container's through its runtime).
 */
export function markedCommands(outcomes: readonly StepOutcome[]): string[] {
  const commands = outcomes.filter((o) => o.state === "marked")
    .map((o) => [...o.step.manager, "reload-or-restart", "--marked"].map(shellWord).join(" "));
  return [...new Set(commands)];
}
