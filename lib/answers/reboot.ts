/**
 * Does this host need a reboot? The kernel (against the one the boot loader
 * starts), the CPU's microcode, the flag Debian and Ubuntu leave
 * (`/run/reboot-required`), and the stale processes no restart can fix
 * safely: one verdict, with its reasons.
 *
 * @module
 */

import { checkKernel, type KernelOptions, type KernelStatus } from "./kernel.ts";
import { checkMicrocode, type MicrocodeStatus } from "./microcode.ts";
import type { Group } from "../scan/group.ts";
import { riskOnlyRebootClears } from "./restart.ts";
import { existsIfGranted, isGranted } from "../proc/permissions.ts";

/** One reason to reboot. */
export interface RebootReason {
  /**
   * `kernel`: the boot loader starts a newer kernel, or a rebuild of the
   * running one (where its default is not known: one is installed);
   * `microcode`: newer CPU microcode is installed; `flag`: the package system
   * asked (`/run/reboot-required`); `pid1`: PID 1 uses deleted files;
   * `risky`: a unit that cannot be restarted safely does.
   */
  readonly kind: "kernel" | "microcode" | "flag" | "pid1" | "risky";
  /** The reason in a few words. */
  readonly text: string;
  /** For `flag`: the packages that asked (`/run/reboot-required.pkgs`). */
  readonly packages?: readonly string[];
}

/** The answer to "does this host need a reboot?". */
export interface RebootCheck {
  /** Whether a reboot is needed (some reason holds). */
  readonly required: boolean;
  /** Why, one entry per reason; empty when no reboot is needed. */
  readonly reasons: readonly RebootReason[];
  /** How the running kernel stands, whatever the verdict. */
  readonly kernel: KernelStatus;
  /** How the CPU's microcode stands, whatever the verdict (its `unknown` leaves the answer known). */
  readonly microcode: MicrocodeStatus;
}

/**
 * What to do, all told: nothing, restart what is listed, or reboot; `unknown`
 * where "nothing" cannot be said (the running kernel's state is unknown, or
 * the scan saw or listed only part).
 */
export type RebootVerdict = "nothing" | "restart" | "reboot" | "unknown";

/** Options of {@linkcode checkReboot}. */
export interface RebootOptions extends KernelOptions {
  /**
   * The groups of a libs scan, when there was one: a stale PID 1, or a stale
   * unit that cannot be restarted safely (`riskOnlyRebootClears`), makes a reboot the safe
   * way out. Default: none (the question is asked of the files alone).
   */
  readonly groups?: readonly Group[];
}

/**
 * Answers the reboot question from the files alone (and the scan's groups,
 * when given): no process is read here, so it can be asked on its own.
 *
 * @example On a fixture root where a newer kernel and the Debian flag are present
 * ```ts
 * import { checkReboot } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const check = checkReboot({ root: "testdata/root_newer" });
 * assertEquals(check.required, true);
 * assertEquals(check.microcode.state, "unknown"); // the fixture has no cpuinfo
 * assertEquals(check.reasons.map((r) => r.kind), ["kernel", "flag"]);
 * assertEquals(check.reasons[1]!.packages, ["linux-image-6.1.0-10-amd64", "libc6"]);
 * ```
 */
export function checkReboot(options: RebootOptions = {}): RebootCheck {
  const root = (options.root ?? "/").replace(/\/+$/, "");
  const kernel = checkKernel(options);
  const microcode = checkMicrocode(options);
  const reasons: RebootReason[] = [];
  if (kernel.state === "newer" || kernel.state === "rebuilt") {
    reasons.push({ kind: "kernel", text: kernel.reason });
  }
  if (microcode.state === "newer") reasons.push({ kind: "microcode", text: microcode.reason });
  const flag = `${root}/run/reboot-required`;
  if (existsIfGranted(flag)) {
    const packages = readLines(`${flag}.pkgs`);
    reasons.push({
      kind: "flag",
      text: `the package system asks for a reboot (${flag.slice(root.length) || flag})`,
      ...(packages.length > 0 ? { packages } : {}),
    });
  }
  for (const group of options.groups ?? []) {
    if (group.pids.includes(1)) {
      reasons.push({
        kind: "pid1",
        text: "PID 1 uses deleted files (systemctl daemon-reexec, or a reboot)",
      });
    }
    const unit = group.unit?.name;
    const risk = unit ? riskOnlyRebootClears(unit) : undefined;
    if (unit && risk) reasons.push({ kind: "risky", text: `${unit} uses deleted files (${risk})` });
  }
  return { required: reasons.length > 0, reasons: dedupe(reasons), kernel, microcode };
}

/**
 * The verdict of a scan's groups and a reboot check; `complete` false when
 * the scan saw or listed only part (then never "nothing").
 *
 * @example Nothing stale and no reboot needed
 * ```ts
 * import { checkReboot } from "@lib-users/lib-users";
 * import { verdictOf } from "./reboot.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(verdictOf([], checkReboot({ root: "testdata/root_current" })), "nothing");
 * ```
 */
export function verdictOf(
  groups: readonly Group[],
  reboot: RebootCheck,
  complete = true,
): RebootVerdict {
  if (reboot.required) return "reboot";
  if (groups.length > 0) return "restart";
  return complete && rebootKnown(reboot) ? "nothing" : "unknown";
}

/**
 * Whether the reboot question has an answer: some reason asks for a reboot,
 * or the running kernel's state is known. An unknown kernel state with no
 * other reason is no "no". Unknown microcode does not make the answer
 * unknown: most hosts (containers, other architectures, no microcode
 * package) cannot tell it, and a reboot would load nothing that is not there.
 *
 * @example No kernel image found: unknown, not "no reboot"
 * ```ts
 * import { checkReboot } from "@lib-users/lib-users";
 * import { rebootKnown } from "./reboot.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(rebootKnown(checkReboot({ root: "testdata/root_current" })), true);
 * ```
 */
export function rebootKnown(reboot: RebootCheck): boolean {
  return reboot.required || reboot.kernel.state !== "unknown";
}

function dedupe(reasons: RebootReason[]): RebootReason[] {
  const seen = new Set<string>();
  return reasons.filter((reason) => !seen.has(reason.text) && seen.add(reason.text) !== undefined);
}

/** The non-empty lines of a small file, each once, in order; none when it cannot be read. */
function readLines(path: string): string[] {
  if (!isGranted({ name: "read", path })) return [];
  try {
    const info = Deno.lstatSync(path);
    if (!info.isFile || info.size > 1 << 20) return [];
    const lines = Deno.readTextFileSync(path).split("\n").map((line) => line.trim());
    return [...new Set(lines.filter(Boolean))];
  } catch {
    return [];
  }
}
