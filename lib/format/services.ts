/**
 * The `-S` lines: which unit each stale process belongs to.
 *
 * @module
 */

import { escapeForTerminal } from "./escape.ts";
import type { Group } from "../scan/group.ts";
import type { UnitsByPid } from "../answers/services.ts";

/**
 * Formats `PIDS belong to UNIT` lines, one per unit in order of first
 * appearance, PIDs in group order, then `no unit known: PIDs …` for those that
 * `units` cannot place (as the restart plan says it); each line ends in a
 * newline.
 *
 * @param groups The stale processes' groups.
 * @param units The unit of each PID that has one.
 * @param marked Units that carry systemd's `needs-restart` marker (see `markedUnits`): said so.
 * @returns The lines; "" when `groups` hold no PID.
 *
 * @example Two units and a process of none
 * ```ts
 * import { formatServices, groupByArgv } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const files = [{ path: "/usr/lib/libc.so.6", kind: "library" as const }];
 * const groups = groupByArgv([
 *   { pid: 99, argv: ["cron"], cmdline: "cron", files },
 *   { pid: 240, argv: ["daemon"], cmdline: "daemon", files },
 *   { pid: 310, argv: ["sshd"], cmdline: "sshd", files },
 * ]);
 * const units = new Map([[99, "cron.service"], [310, "ssh.service"]]);
 * assertEquals(
 *   formatServices(groups, units),
 *   "99 belong to cron.service\n310 belong to ssh.service\nno unit known: PIDs 240\n",
 * );
 * ```
 */
export function formatServices(
  groups: readonly Group[],
  units: UnitsByPid,
  marked: ReadonlySet<string> = new Set(),
): string {
  const pidsByUnit = new Map<string, number[]>();
  const unknown: number[] = [];
  for (const group of groups) {
    for (const pid of group.pids) {
      const unit = units.get(pid);
      if (unit === undefined) {
        unknown.push(pid);
        continue;
      }
      const list = pidsByUnit.get(unit) ?? [];
      list.push(pid);
      pidsByUnit.set(unit, list);
    }
  }
  let out = "";
  for (const [unit, pids] of pidsByUnit) {
    const note = marked.has(unit) ? " (marked needs-restart)" : "";
    out += `${pids.join(",")} belong to ${escapeForTerminal(unit)}${note}\n`;
  }
  if (unknown.length > 0) out += `no unit known: PIDs ${unknown.join(",")}\n`;
  return out;
}
