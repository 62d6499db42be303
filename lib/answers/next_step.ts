/**
 * The least disruptive next step, named in one line: nothing, the restarts
 * listed, a soft reboot (`systemctl soft-reboot`, systemd 254 and later: a new
 * userspace on the same kernel) or a reboot.
 *
 * @module
 */

import type { RebootCheck, RebootReason } from "./reboot.ts";
import type { RestartPlan } from "./restart.ts";
import { isUnread, readSmallText } from "./bounded_read.ts";

/** What the next step is. */
export type NextStepKind = "nothing" | "restart" | "soft-reboot" | "reboot" | "unknown";

/** The least disruptive step that clears what is left, and why. */
export interface NextStep {
  /**
   * `nothing`: nothing stale, no reboot needed; `restart`: the restarts
   * listed (and those by hand) clear it; `soft-reboot`: the kernel is current
   * and what is left is userspace no restart fixes safely (PID 1, dbus,
   * logind…); `reboot`: a new kernel or CPU microcode, or no soft reboot
   * here; `unknown`: nothing found, but whether a reboot is needed is not known.
   */
  readonly kind: NextStepKind;
  /** The step in one line, with why (`systemctl soft-reboot: the kernel is current; …`). */
  readonly text: string;
}

/** What {@linkcode nextStep} weighs. */
export interface NextStepInput {
  /** How many restarts are left to take (the plan's steps, or those not clean after a run). */
  readonly restarts: number;
  /** How many things are left by hand (sessions, containers, processes of no unit). */
  readonly byHand: number;
  /**
   * Units marked `needs-restart` by this run: how many, and the commands that
   * restart them (`systemctl reload-or-restart --marked`, a container's too).
   */
  readonly marked?: { readonly units: number; readonly commands: readonly string[] };
  /** The reboot check. */
  readonly reboot: RebootCheck;
  /** The running systemd's version (see {@linkcode runningSystemdVersion}), null when unknown. */
  readonly systemd: number | null;
  /** False when the scan saw or listed only part: then never "nothing". Default true. */
  readonly complete?: boolean;
}

/** The first systemd that has `systemctl soft-reboot`. */
export const SOFT_REBOOT_SINCE = 254;

/** Reasons only a new kernel clears: a soft reboot keeps the running one. */
const KERNEL_KINDS: ReadonlySet<string> = new Set(["kernel", "microcode"]);

/** Packages whose update asks for a new kernel or firmware, not just a new userspace. */
const KERNEL_PACKAGE = /^(linux-|kernel|intel-microcode|amd64-microcode|.*-firmware|firmware-)/;

/**
 * The least disruptive next step.
 *
 * @param input What is left: restarts, items by hand, marked units, the reboot check, systemd's version.
 * @returns The step and its line.
 *
 * @example The kernel is current; only dbus is left, on systemd 256: a soft reboot
 * ```ts
 * import { checkReboot } from "@lib-users/lib-users";
 * import { nextStep } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const reboot = { ...checkReboot({ root: "testdata/root_current" }), required: true, reasons: [
 *   { kind: "risky" as const, text: "dbus.service uses deleted files" },
 * ] };
 * assertEquals(nextStep({ restarts: 0, byHand: 0, reboot, systemd: 256 }).kind, "soft-reboot");
 * ```
 */
export function nextStep(input: NextStepInput): NextStep {
  const { reboot, systemd } = input;
  if (reboot.required) {
    const needsKernel = reboot.reasons.find(needsNewKernel);
    const first = (needsKernel ?? reboot.reasons[0])!.text;
    if (needsKernel !== undefined) return { kind: "reboot", text: `reboot: ${first}` };
    if (reboot.kernel.state !== "current") {
      return {
        kind: "reboot",
        text: `reboot (whether the kernel is current is unknown): ${first}`,
      };
    }
    if (systemd !== null && systemd >= SOFT_REBOOT_SINCE) {
      return {
        kind: "soft-reboot",
        text:
          `systemctl soft-reboot (the kernel is current; no restart fixes this safely): ${first}`,
      };
    }
    const why = systemd === null
      ? `soft-reboot needs systemd ${SOFT_REBOOT_SINCE} or later, and the running one's version is unknown`
      : `systemd ${systemd} has no soft-reboot; ${SOFT_REBOOT_SINCE} or later has`;
    return { kind: "reboot", text: `reboot (${why}): ${first}` };
  }
  const marked = input.marked?.units ?? 0;
  if (input.restarts > 0 || input.byHand > 0 || marked > 0) {
    const parts = [
      ...(marked > 0
        ? [`${input.marked!.commands.join(", ")} (${plural(marked, "unit")} marked)`]
        : []),
      ...(input.restarts > 0 ? [`the ${plural(input.restarts, "restart")} above`] : []),
      ...(input.byHand > 0 ? [`the ${plural(input.byHand, "item")} by hand`] : []),
    ];
    return { kind: "restart", text: parts.join(", then ") };
  }
  if ((input.complete ?? true) && reboot.kernel.state !== "unknown") {
    return { kind: "nothing", text: "nothing to do" };
  }
  const why = reboot.kernel.state === "unknown"
    ? `whether a reboot is needed is unknown (${reboot.kernel.reason})`
    : "the scan saw only part of the processes";
  return { kind: "unknown", text: `nothing found, but ${why}` };
}

/** Whether a reason needs a new kernel (or microcode): a flag whose packages are unknown does too. */
function needsNewKernel(reason: RebootReason): boolean {
  if (KERNEL_KINDS.has(reason.kind)) return true;
  if (reason.kind !== "flag") return false;
  const packages = reason.packages ?? [];
  return packages.length === 0 || packages.some((name) => KERNEL_PACKAGE.test(name));
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** Where systemd's version shows in PID 1's mappings: its shared library's name. */
const SYSTEMD_LIBRARY = /\/libsystemd-(?:shared|core)-(\d+)[^/\n]*\.so/;

/** The most of PID 1's maps read (a few KiB for systemd): past it, the version is unknown. */
const MAPS_BYTES = 1 << 20;

/**
 * The running service manager's systemd version, from the name of the
 * library PID 1 maps (`libsystemd-shared-256.so`); null when PID 1 is not
 * systemd or its maps cannot be read. The installed version is no answer:
 * `soft-reboot` is asked of the running one.
 *
 * @param proc The proc root. Default `/proc`.
 * @returns The version, e.g. 256; null when it cannot be told.
 *
 * @example A fixture tree's PID 1 is no systemd
 * ```ts
 * import { runningSystemdVersion } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(runningSystemdVersion("testdata/proc"), null);
 * ```
 */
export function runningSystemdVersion(proc = "/proc"): number | null {
  const maps = readSmallText(`${proc.replace(/\/+$/, "")}/1/maps`, MAPS_BYTES);
  if (isUnread(maps)) return null;
  const found = SYSTEMD_LIBRARY.exec(maps);
  return found ? Number(found[1]) : null;
}

/**
 * The next step after a restart plan: its commands are the restarts, its
 * sessions, risky units and processes of no unit the items by hand.
 *
 * @param plan From `planRestarts`.
 * @param reboot From `checkReboot`, of the same groups.
 * @param systemd From {@linkcode runningSystemdVersion}.
 * @param complete False when the scan saw or listed only part.
 * @returns The step and its line.
 *
 * @example One service to restart, nothing else
 * ```ts
 * import { checkReboot, classifyCgroup, nextStepOfPlan, planRestarts } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const plan = planRestarts([{
 *   pids: [10], argv: ["x"], cmdline: "x", files: [], unit: classifyCgroup("/system.slice/cron.service"),
 * }]);
 * const reboot = checkReboot({ root: "testdata/root_current" });
 * assertEquals(nextStepOfPlan(plan, reboot, null).text, "the 1 restart above");
 * ```
 */
export function nextStepOfPlan(
  plan: RestartPlan,
  reboot: RebootCheck,
  systemd: number | null,
  complete = true,
): NextStep {
  const restarts = plan.systemServices.length +
    plan.userServices.reduce((sum, { units }) => sum + units.length, 0) +
    plan.containerUnits.length + plan.containers.length + (plan.reexecManager ? 1 : 0) +
    plan.reexecUserManagers.length;
  const byHand = plan.sessions.length + plan.risky.length + (plan.unknown.length > 0 ? 1 : 0);
  return nextStep({ restarts, byHand, reboot, systemd, complete });
}
