/**
 * The `PIDS belong to UNIT` lines of `-S`, with units from cgroups (see
 * `cgroup.ts`, the default) or from `systemctl status PID` as the Python tools
 * did it (`--services=systemctl`).
 *
 * @module
 */

import type { Group } from "../scan/group.ts";
import { unitLabel } from "../proc/cgroup.ts";

/** Maps PIDs to the name of the unit they belong to. */
export type UnitsByPid = ReadonlyMap<number, string>;

/**
 * Reads the unit name from the first line of `systemctl status PID`
 * (`unit - description` or `● unit - description`); undefined when systemd
 * knows no unit for the PID.
 */
export function parseSystemctlStatus(output: string): string | undefined {
  if (/^No unit for PID \d+ is loaded\./m.test(output)) return undefined;
  const header = output.split("\n", 1)[0] ?? "";
  const fields = header.split(" - ", 1)[0]!.trim().split(/\s+/).filter(Boolean);
  const unit = fields.length === 1 ? fields[0] : fields[1];
  return unit && /^[^\s]+\.[a-z]+$/.test(unit) ? unit : undefined;
}

/** Options of {@linkcode unitsFromSystemctl}. */
export interface SystemctlOptions {
  /** The systemctl program. Default `systemctl`. */
  readonly command?: string;
  /** How many systemctl processes run at once. Default 4. */
  readonly concurrency?: number;
}

/**
 * Asks `systemctl status PID` for the unit of each PID (needs
 * `--allow-run=systemctl`).
 *
 * @throws {Deno.errors.NotFound} when systemctl is not installed
 * @throws {Deno.errors.NotCapable} when running it is not permitted
 */
export async function unitsFromSystemctl(
  pids: readonly number[],
  options: SystemctlOptions = {},
): Promise<Map<number, string>> {
  const units = new Map<number, string>();
  const queue = [...pids];
  const worker = async () => {
    for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
      const output = await new Deno.Command(options.command ?? "systemctl", {
        args: ["status", "--no-pager", String(pid)],
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
        env: { LC_ALL: "C", SYSTEMD_COLORS: "0" },
      }).output();
      const unit = parseSystemctlStatus(
        new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr),
      );
      if (unit) units.set(pid, unit);
    }
  };
  const workers = Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker);
  await Promise.all(workers);
  return units;
}

/**
 * The unit of each PID, from groups that carry units (a scan with
 * `units: true`); a unit a container's own systemd runs is named with it
 * (`nginx.service in lxc container web1`), and a container without a unit of
 * its own `RUNTIME container ID`, so its processes are listed together.
 */
export function unitsFromGroups(groups: readonly Group[]): Map<number, string> {
  const units = new Map<number, string>();
  for (const group of groups) {
    const container = group.unit?.container ?? null;
    const inner = container?.unit?.name ?? null;
    const unit = inner !== null
      ? unitLabel(inner, container)
      : group.unit?.name ?? (container === null ? undefined : unitLabel(null, container));
    if (unit === undefined) continue;
    for (const pid of group.pids) units.set(pid, unit);
  }
  return units;
}

/** How long `systemctl show` may take to say which units are marked before the answer goes without. */
const MARKERS_DEADLINE_MS = 5000;

/**
 * Which of the host's units carry systemd's `needs-restart` marker (set by
 * `--restart --mark`, systemd 248 and later): one `systemctl show` for all,
 * read only. None when systemctl is missing, refuses, knows no markers or
 * does not answer within 5 s: the marker is a note, never a finding.
 *
 * @param units System units, as `-S` names them.
 * @param command The systemctl program. Default `systemctl`.
 */
export async function markedUnits(
  units: readonly string[],
  command = "systemctl",
): Promise<Set<string>> {
  const marked = new Set<string>();
  if (units.length === 0) return marked;
  try {
    const output = await new Deno.Command(command, {
      args: ["show", "-p", "Id,Markers", "--", ...units],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
      env: { LC_ALL: "C", SYSTEMD_COLORS: "0" },
      signal: AbortSignal.timeout(MARKERS_DEADLINE_MS),
    }).output();
    if (output.success) return parseMarked(new TextDecoder().decode(output.stdout), units);
  } catch { /* not installed, not permitted, or too slow: no note */ }
  return marked;
}

/**
 * The units among `units` whose `needs-restart` marker is set, from
 * `systemctl show -p Id,Markers -- UNIT…` (one block per unit, blank lines
 * between).
 */
export function parseMarked(output: string, units: readonly string[]): Set<string> {
  const marked = new Set<string>();
  for (const block of output.split("\n\n")) {
    const id = /^Id=(.+)$/m.exec(block)?.[1];
    const markers = /^Markers=(.*)$/m.exec(block)?.[1]?.split(/\s+/) ?? [];
    if (id !== undefined && units.includes(id) && markers.includes("needs-restart")) marked.add(id);
  }
  return marked;
}
