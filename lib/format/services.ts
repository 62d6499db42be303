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
 * appearance, PIDs in group order; each line ends in a newline.
 */
export function formatServices(groups: readonly Group[], units: UnitsByPid): string {
  const pidsByUnit = new Map<string, number[]>();
  for (const group of groups) {
    for (const pid of group.pids) {
      const unit = units.get(pid);
      if (unit === undefined) continue;
      const list = pidsByUnit.get(unit) ?? [];
      list.push(pid);
      pidsByUnit.set(unit, list);
    }
  }
  let out = "";
  for (const [unit, pids] of pidsByUnit) {
    out += `${pids.join(",")} belong to ${escapeForTerminal(unit)}\n`;
  }
  return out;
}
