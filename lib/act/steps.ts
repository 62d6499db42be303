/**
 * Which of a restart plan's steps `--restart` may take itself: system
 * services that are not risky, and the kinds asked for besides (user
 * services, the managers' `daemon-reexec`). Each as the exact argument vector
 * the plan prints, `--` before the names; never a shell.
 *
 * @module
 */

import type { Group } from "../scan/group.ts";
import { globToRegExp } from "../scan/ignore.ts";
import { hasOnlyTemporaryFiles, riskOf } from "../answers/restart.ts";
import { type ContainerRef, type UnitInfo, unitLabel } from "../proc/cgroup.ts";
import { containerSystemctl } from "../answers/container_systemctl.ts";

/** The kinds of step `--restart` may take; system services always, the others when asked. */
export const RESTART_KINDS = ["services", "user-services", "containers", "managers"] as const;
/** One of {@linkcode RESTART_KINDS}. */
export type RestartKind = typeof RESTART_KINDS[number];

/** One restart the run may take. */
export interface RestartStep {
  /** Which kind of step: a system or user service, a unit in a container, a manager's re-exec. */
  readonly kind: RestartKind;
  /** The unit restarted (`cron.service`), or null for a manager's re-exec. */
  readonly unit: string | null;
  /** The container whose own systemd runs the unit, or null for the host's. */
  readonly container: ContainerRef | null;
  /** The user whose service or manager it is, or null for the system's. */
  readonly user: string | null;
  /** The command, exactly: an argument vector, never a shell line. */
  readonly argv: readonly string[];
  /** How its manager is asked (`systemctl`, or `systemctl --user -M USER@`): the command's start. */
  readonly manager: readonly string[];
  /** The stale processes it is meant to replace, ascending. */
  readonly pids: readonly number[];
  /** Their stale files, by name. */
  readonly files: readonly string[];
}

/** What the run leaves to the admin, and why. */
export interface LeftStep {
  /** The unit, session or container, or a description. */
  readonly what: string;
  /** Its stale processes. */
  readonly pids: readonly number[];
  /** Why the run leaves it, and how to do it all the same where there is a way. */
  readonly why: string;
}

/** The steps to take and those left by hand. */
export interface RestartChoice {
  /** The steps, in the order they are taken. */
  readonly steps: readonly RestartStep[];
  /** What is left to the admin. */
  readonly byHand: readonly LeftStep[];
}

/** What `--restart` may do beyond system services, and what it must not touch. */
export interface StepOptions {
  /** Kinds asked for besides `services`. */
  readonly kinds?: ReadonlySet<RestartKind>;
  /** Unit globs never to restart (`--never`), on top of the risky list. */
  readonly never?: readonly string[];
  /** Risky units to restart all the same, named exactly (`--restart-unit`). */
  readonly allowed?: readonly string[];
  /** User names by uid, for user services and managers. */
  readonly userNames?: ReadonlyMap<number, string>;
  /** The file system root whose container runtimes are looked for. Default `/`. */
  readonly root?: string;
  /**
   * The host's units this run is part of (its own, its callers'): never
   * restarted, or the run (an apt hook inside `apt-daily-upgrade.service`)
   * would stop itself.
   */
  readonly spare?: ReadonlySet<string>;
}

/**
 * The steps of a run: one per unit (at most once), system services first by
 * name, then user services by user and name, then the managers' re-execs;
 * everything else by hand, with why.
 */
export function restartSteps(groups: readonly Group[], options: StepOptions = {}): RestartChoice {
  const kinds = options.kinds ?? new Set<RestartKind>();
  const never = (options.never ?? []).map(globToRegExp);
  const allowed = new Set(options.allowed ?? []);
  const steps = new Map<
    string,
    { step: Omit<RestartStep, "pids" | "files">; pids: Set<number>; files: Set<string> }
  >();
  const left = new Map<string, { what: string; why: string; pids: number[] }>();
  const leave = (what: string, why: string, pids: readonly number[]) => {
    const key = `${what}\0${why}`;
    const entry = left.get(key) ?? { what, why, pids: [] };
    entry.pids.push(...pids);
    left.set(key, entry);
  };
  // Groups whose only stale files are deleted temporary ones: restarted only with a unit
  // restarted for other files anyway, for a restart makes such files again.
  const temporary: Group[] = [];
  for (const group of groups) {
    if (hasOnlyTemporaryFiles(group)) {
      temporary.push(group);
      continue;
    }
    const info = group.unit;
    const target = info === undefined ? null : stepOf(info, kinds, options);
    if (target === null || "why" in target) {
      leave(describe(info), target?.why ?? "no unit known", group.pids);
      continue;
    }
    const unit = target.unit;
    if (unit !== null && target.container === null && options.spare?.has(unit)) {
      leave(describe(info), "this run is part of it: restarting it would stop the run", group.pids);
      continue;
    }
    // A unit inside a container is also named CONTAINER:UNIT, so that naming one names no other.
    const named = unit !== null && target.container !== null
      ? `${target.container.id}:${unit}`
      : unit;
    if (unit !== null && never.some((glob) => glob.test(unit) || glob.test(named!))) {
      leave(describe(info), "excluded by --never", group.pids);
      continue;
    }
    const risk = unit === null ? undefined : riskOf(unit);
    if (risk !== undefined && !allowed.has(named!)) {
      const why = `risky: ${risk} (--restart-unit ${named} restarts it all the same)`;
      leave(describe(info), why, group.pids);
      continue;
    }
    const key = target.argv.join("\0");
    const entry = steps.get(key) ?? { step: target, pids: new Set(), files: new Set() };
    for (const pid of group.pids) entry.pids.add(pid);
    for (const file of group.files) entry.files.add(file.path);
    steps.set(key, entry);
  }
  for (const group of temporary) {
    const target = group.unit === undefined ? null : stepOf(group.unit, kinds, options);
    const entry = target === null || "why" in target
      ? undefined
      : steps.get(target.argv.join("\0"));
    if (entry === undefined) {
      leave(describe(group.unit), TEMPORARY_ONLY, group.pids);
      continue;
    }
    for (const pid of group.pids) entry.pids.add(pid);
    for (const file of group.files) entry.files.add(file.path);
  }
  const order = (step: Omit<RestartStep, "pids" | "files">) =>
    `${RESTART_KINDS.indexOf(step.kind)}\0${step.user ?? step.container?.id ?? ""}\0${
      step.unit ?? ""
    }`;
  return {
    steps: [...steps.values()]
      .sort((a, b) => compare(order(a.step), order(b.step)))
      .map(({ step, pids, files }) => ({
        ...step,
        pids: [...pids].sort((a, b) => a - b),
        files: [...files].sort(compare),
      })),
    byHand: [...left.values()]
      .map((entry) => ({ ...entry, pids: entry.pids.sort((a, b) => a - b) }))
      .sort((a, b) => a.pids[0]! - b.pids[0]!),
  };
}

/** Why a group whose only stale files are deleted temporary files is left. */
const TEMPORARY_ONLY =
  "restarting will not help if the program makes them again: its only stale files are " +
  "deleted temporary files";

/** The step that restarts a group's unit, or why there is none the run may take. */
function stepOf(
  info: UnitInfo,
  kinds: ReadonlySet<RestartKind>,
  options: StepOptions,
): Omit<RestartStep, "pids" | "files"> | { why: string } {
  const user = info.uid === null ? null : options.userNames?.get(info.uid) ?? String(info.uid);
  const asUser = user === null ? [] : ["--user", "-M", `${user}@`];
  switch (info.class) {
    case "system-service":
      return {
        kind: "services",
        container: null,
        unit: info.name!,
        user: null,
        argv: ["systemctl", "restart", "--", info.name!],
        manager: ["systemctl"],
      };
    case "user-service":
      if (!kinds.has("user-services")) {
        return { why: "a user service: --restart-also=user-services" };
      }
      if (user === null) return { why: "a user service of an unknown user" };
      return {
        kind: "user-services",
        container: null,
        unit: info.name!,
        user,
        argv: ["systemctl", ...asUser, "restart", "--", info.name!],
        manager: ["systemctl", ...asUser],
      };
    case "manager":
      if (!kinds.has("managers")) return { why: "the service manager: --restart-also=managers" };
      return {
        kind: "managers",
        container: null,
        unit: null,
        user: null,
        argv: ["systemctl", "daemon-reexec"],
        manager: ["systemctl"],
      };
    case "user-manager":
      if (!kinds.has("managers")) return { why: "a user's manager: --restart-also=managers" };
      if (user === null) return { why: "the manager of an unknown user" };
      return {
        kind: "managers",
        container: null,
        unit: null,
        user,
        argv: ["systemctl", ...asUser, "daemon-reexec"],
        manager: ["systemctl", ...asUser],
      };
    case "session":
      return { why: "a login session: end it by hand" };
    case "container":
      return containerStep(info.container!, kinds, options.root);
    case "unknown":
      return { why: "no unit known" };
  }
}

/** The step that restarts a unit inside a container, or why the container is left by hand. */
function containerStep(
  container: ContainerRef,
  kinds: ReadonlySet<RestartKind>,
  root: string | undefined,
): Omit<RestartStep, "pids" | "files"> | { why: string } {
  const inner = container.unit;
  const systemctl = containerSystemctl(container, root);
  if (inner?.class !== "system-service" || systemctl === undefined) {
    return { why: "a container: restart it by hand" };
  }
  if (!kinds.has("containers")) {
    return { why: `a unit in a container: --restart-also=containers` };
  }
  return {
    kind: "containers",
    unit: inner.name!,
    container,
    user: null,
    argv: [...systemctl, "restart", "--", inner.name!],
    manager: systemctl,
  };
}

/**
 * A step's name for people: its unit (`nginx.service`), with its container
 * (`nginx.service in lxc container web1`), or whose manager it re-executes.
 */
export function stepName(step: Pick<RestartStep, "unit" | "container" | "user">): string {
  if (step.unit === null) return `${step.user ?? "system"} manager`;
  return unitLabel(step.unit, step.container);
}

/** systemd's marker for a unit that needs a restart (systemd 248 and later). */
export const NEEDS_RESTART = "needs-restart";

/**
 * The steps that set systemd's `needs-restart` marker on each unit instead of
 * restarting it, for `systemctl reload-or-restart --marked` later; a manager's
 * re-exec cannot be marked and is left by hand.
 */
export function markingSteps(choice: RestartChoice): RestartChoice {
  const steps = choice.steps.filter((step) => step.unit !== null).map((step) => ({
    ...step,
    argv: [
      ...step.manager,
      "set-property",
      "--runtime",
      "--",
      step.unit!,
      `Markers=+${NEEDS_RESTART}`,
    ],
  }));
  const managers = choice.steps.filter((step) => step.unit === null).map((step) => ({
    what: stepName(step),
    pids: step.pids,
    why: "a manager's re-exec cannot be marked: --restart without --mark does it",
  }));
  return { steps, byHand: [...choice.byHand, ...managers] };
}

function describe(info: UnitInfo | undefined): string {
  if (info === undefined) return "?";
  if (info.container === null) return info.name ?? "?";
  return unitLabel(info.container.unit?.name ?? null, info.container);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
