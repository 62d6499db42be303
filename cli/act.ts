/**
 * `--restart`: shows the plan's safe steps, asks (or not), takes them one at
 * a time, scans again and says of each what it did. Never through a shell,
 * never a prompt without a terminal.
 *
 * @module
 */

import { EXIT, NAGIOS_UNKNOWN } from "./exit.ts";
import type { CliOptions, RestartOptions } from "./parse.ts";
import { warn, writeDocument, writeTo } from "./output.ts";
import type { Group } from "../lib/scan/group.ts";
import { isGranted, SYSTEMCTL_PERMISSION } from "../lib/proc/permissions.ts";
import { rebootCheck } from "./render.ts";
import { escapeForTerminal } from "../lib/format/escape.ts";
import type { NextStep } from "../lib/answers/next_step.ts";
import type { PackageOwners } from "../lib/format/packages.ts";
import {
  markingSteps,
  type RestartChoice,
  type RestartStep,
  restartSteps,
  stepName,
} from "../lib/act/steps.ts";
import { runCommand } from "../lib/act/run.ts";
import {
  commandLine,
  markedSteps,
  markUnits,
  type Probe,
  type RestartRun,
  type StepOutcome,
  takeSteps,
} from "../lib/act/verify.ts";
import { scanLibs } from "../lib/scan/scan.ts";
import { classifyCgroup, parseCgroupFile } from "../lib/proc/cgroup.ts";
import { formatOutcomes, formatSteps, markedCommands } from "../lib/format/restart_report.ts";

/**
 * Why `--restart` cannot run as asked, before anything is scanned; undefined
 * when it can: a dry run always can.
 */
export function cannotRestart(restart: RestartOptions): string | undefined {
  if (restart.dryRun) return undefined;
  if (!isGranted(SYSTEMCTL_PERMISSION)) {
    return "Cannot restart: Deno was not given --allow-run=systemctl (or -A)";
  }
  if (!restart.yes && !Deno.stdin.isTerminal()) {
    return "Cannot restart without asking: there is no terminal to ask on (add --yes to " +
      "restart unasked, or --dry-run to see the commands)";
  }
  return undefined;
}

/** What `--restart` is told of the scan it acts on. */
export interface ScanFacts {
  /** False when the scan saw or listed only part: the next step is then never "nothing". */
  readonly complete?: boolean;
  /** The packages of the stale files, shown under each step. */
  readonly packages?: PackageOwners;
  /**
   * False when the scanned tree is no procfs (a fixture): its units are
   * still restarted on this system's systemd, which a warning says.
   */
  readonly procfs?: boolean;
}

/** What `--restart` did, and its exit code (0: every step taken is clean, 5: something is left). */
export interface Acted {
  /** The steps, what each did, and the next step. */
  readonly run: RestartRun;
  /** 0 when every step taken is clean (or marked), 5 (`EXIT.LEFT`) otherwise. */
  readonly code: number;
}

/**
 * Shows the steps, takes those agreed to, proves what they did. For people
 * all of it goes to stdout; with `--json` or `--format=nagios` the steps,
 * the question and the progress go to stderr, and the caller prints the
 * document (what is left, and `run`).
 */
export async function act(
  groups: readonly Group[],
  options: CliOptions & { readonly restart: RestartOptions },
  scan: ScanFacts = {},
): Promise<Acted> {
  const { complete = true, packages } = scan;
  const { restart } = options;
  const forPeople = options.format === "human";
  const say = forPeople ? writeDocument : (text: string) => void writeTo(Deno.stderr, text);
  const planned = restartSteps(groups, {
    kinds: restart.also,
    never: restart.never,
    allowed: restart.allowed,
    userNames: await userNames(),
    root: options.root,
    spare: ownUnits(),
  });
  const choice = restart.mark ? markingSteps(planned) : planned;
  const mode = restart.dryRun ? "dry-run" : restart.mark ? "mark" : "restart";
  // Every ending names the least disruptive step that clears what is left.
  const done = async (outcomes: StepOutcome[] = []): Promise<Acted> => {
    const next = await nextAfter(groups, choice, outcomes, options, complete);
    if (forPeople) writeDocument(`Next: ${escapeForTerminal(next.text)}\n`);
    return {
      run: { mode, choice, outcomes, next },
      code: outcomes.every((o) => o.state === "clean" || o.state === "marked")
        ? EXIT.OK
        : EXIT.LEFT,
    };
  };
  const probe: Probe = {
    run: runCommand,
    rescan: async (pids) =>
      (await scanLibs({ proc: options.proc, ignore: options.ignore, pids, kinds: false }))
        .processes,
    pidsOfGroup,
  };
  // Which are marked already: read, never set, where systemctl may run; a dry run runs nothing.
  const marked = !restart.dryRun && isGranted(SYSTEMCTL_PERMISSION)
    ? await markedSteps(planned.steps, probe, restart.timeoutMs)
    : new Set<RestartStep>();
  say(
    formatSteps(choice, {
      marking: restart.mark,
      marked: new Set(planned.steps.filter((s) => marked.has(s)).map(stepName)),
      ...(packages === undefined ? {} : { packages }),
    }),
  );
  if (choice.steps.length === 0 || restart.dryRun) return await done();
  if (scan.procfs === false) {
    writeTo(
      Deno.stderr,
      `Warning: ${options.proc} is no procfs: the units it names are restarted on this ` +
        "system's systemd.\n",
    );
  }
  const agreed = restart.yes ? choice.steps : await ask(choice.steps, restart.mark, say);
  if (agreed.length === 0) {
    say(restart.mark ? "Nothing marked.\n" : "Nothing restarted.\n");
    return await done();
  }
  const announce = (verb: string) => (step: RestartStep) => say(`${verb}: ${commandLine(step)}\n`);
  const outcomes: StepOutcome[] = restart.mark
    ? await markUnits(agreed, probe, restart.timeoutMs, announce("Marking"))
    : await takeSteps(agreed, probe, restart.timeoutMs, announce("Running"));
  if (forPeople) writeDocument(formatOutcomes(outcomes));
  return await done(outcomes);
}

/**
 * The next step once the run is over: what its clean steps cleared is gone,
 * the rest (steps not taken or not clean, marked units, what is by hand, a
 * reboot the files or the remaining units ask for) is left.
 */
async function nextAfter(
  groups: readonly Group[],
  choice: RestartChoice,
  outcomes: readonly StepOutcome[],
  options: CliOptions,
  complete: boolean,
): Promise<NextStep> {
  const cleared = new Set(outcomes.filter((o) => o.state === "clean").flatMap((o) => o.step.pids));
  const left = groups.filter((group) => group.pids.some((pid) => !cleared.has(pid)));
  const taken = new Set(outcomes.map((o) => o.step));
  const { nextStep, runningSystemdVersion } = await import("../lib/answers/next_step.ts");
  return nextStep({
    restarts: choice.steps.filter((step) => !taken.has(step)).length +
      outcomes.filter((o) => o.state !== "clean" && o.state !== "marked").length,
    byHand: choice.byHand.length,
    marked: {
      units: outcomes.filter((o) => o.state === "marked").length,
      commands: markedCommands(outcomes),
    },
    reboot: await rebootCheck(left, options),
    systemd: runningSystemdVersion(options.proc),
    complete,
  });
}

/** Asks once on the terminal: all, choose, or none (the default). */
async function ask(
  steps: readonly RestartStep[],
  mark: boolean,
  say: (text: string) => void,
): Promise<RestartStep[]> {
  const lines = readLines();
  const verb = mark ? "Mark" : "Restart";
  const answer = await prompt(`${verb} these? [a]ll, [c]hoose, [N]one: `, lines, say);
  if (/^a(ll)?$/i.test(answer)) return [...steps];
  if (!/^c(hoose)?$/i.test(answer)) return [];
  const chosen: RestartStep[] = [];
  for (const step of steps) {
    const yes = await prompt(`${commandLine(step)}? [y/N]: `, lines, say);
    if (/^y(es)?$/i.test(yes)) chosen.push(step);
  }
  return chosen;
}

async function prompt(
  question: string,
  lines: AsyncIterator<string>,
  say: (text: string) => void,
): Promise<string> {
  say(question);
  const next = await lines.next();
  return next.done ? "" : next.value.trim();
}

/** Lines typed on stdin, one at a time. */
async function* readLines(): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of Deno.stdin.readable) {
    buffer += decoder.decode(chunk, { stream: true });
    let at: number;
    while ((at = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
    }
  }
  if (buffer !== "") yield buffer;
}

/** The processes of a control group now, from the cgroup mounts; none when unreadable. */
function pidsOfGroup(controlGroup: string): number[] {
  // The path comes from systemctl, a container's own among them: no "..", nothing but
  // cgroupfs, whose files are never FIFOs, may be reached.
  if (!isControlGroupPath(controlGroup)) return [];
  for (const mount of ["/sys/fs/cgroup/unified", "/sys/fs/cgroup", "/sys/fs/cgroup/systemd"]) {
    try {
      const text = Deno.readTextFileSync(`${mount}${controlGroup}/cgroup.procs`);
      return text.split("\n").filter((line) => /^[1-9][0-9]*$/.test(line)).map(Number);
    } catch { /* not this mount */ }
  }
  return [];
}

/**
 * The units of this process and its callers, up to PID 1: what the run is
 * part of. Read from the live `/proc`; none where it cannot be read.
 */
function ownUnits(): Set<string> {
  const units = new Set<string>();
  let pid = Deno.pid;
  for (let depth = 0; pid > 1 && depth < 64; depth++) {
    try {
      const cgroup = parseCgroupFile(Deno.readTextFileSync(`/proc/${pid}/cgroup`));
      const name = cgroup === null ? null : classifyCgroup(cgroup).name;
      if (name !== null) units.add(name);
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      pid = Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1] ?? 0);
    } catch {
      break;
    }
  }
  return units;
}

/** A control group's path as systemd writes it: absolute, no empty, `.` or `..` component. */
export function isControlGroupPath(path: string): boolean {
  return /^(\/[^/\0]+)+$/.test(path) &&
    !path.split("/").some((part) => part === "." || part === "..");
}

/** User names by uid where the passwd file may be read (loaded only when names are needed). */
async function userNames(): Promise<Map<number, string>> {
  const { grantedUserNames } = await import("./passwd.ts");
  return grantedUserNames();
}

/**
 * Says why `--restart` cannot run; the exit code: 2, or in a Nagios run
 * UNKNOWN with the reason as its status line (an empty CRITICAL says nothing).
 */
export function refuse(reason: string, options: CliOptions): number {
  if (options.format === "nagios") {
    writeDocument(`UNKNOWN - ${reason}\n`);
    return NAGIOS_UNKNOWN;
  }
  warn(reason);
  return EXIT.USAGE;
}
