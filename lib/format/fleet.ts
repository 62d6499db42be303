/**
 * The fleet report (`lib_users fleet`) for people, scripts and as JSON.
 *
 * @module
 */

import type { Fleet } from "../answers/fleet.ts";
import { escapeField, escapeForTerminal } from "./escape.ts";
import { escapeInvisible } from "./json.ts";

/**
 * For people: per package (or file), how many hosts and which, processes and
 * units; then per host its stale processes, verdict and what its scan could
 * not see. Names are escaped for the terminal.
 *
 * @param fleet From `mergeReports`.
 * @returns The lines, each ending in a newline.
 */
export function formatFleetHuman(fleet: Fleet): string {
  const lines: string[] = [];
  const hostCount = fleet.hosts.length;
  lines.push(`${hostCount} host${hostCount === 1 ? "" : "s"}; by package (or file):`);
  for (const item of fleet.items) {
    const name = item.package ?? `${item.file} (no package known)`;
    const since = item.oldestReplacedAt === null ? "" : `, replaced ${item.oldestReplacedAt}`;
    lines.push(
      `  ${escapeForTerminal(name)}: ${item.hosts.length} of ${hostCount} hosts, ` +
        `${item.processes} processes, ${item.units} units${since}: ${
          item.hosts.map(escapeForTerminal).join(", ")
        }`,
    );
  }
  if (fleet.items.length === 0) lines.push("  nothing stale");
  lines.push("By host:");
  for (const host of fleet.hosts) {
    const seen = coverageText(host.coverage);
    lines.push(
      `  ${escapeForTerminal(host.host)}: ${host.processes} stale processes, ` +
        `verdict ${escapeForTerminal(host.verdict ?? "not reported")}${seen}` +
        (host.scannedAt === null ? "" : `, scanned ${escapeForTerminal(host.scannedAt)}`),
    );
  }
  return lines.map((line) => `${line}\n`).join("");
}

/** What a host's scan could not see, as words after its line; "" when it saw everything. */
function coverageText(coverage: Fleet["hosts"][number]["coverage"]): string {
  const gaps = [
    ...(coverage.unreadable > 0 ? [`${coverage.unreadable} unreadable`] : []),
    ...(coverage.limited !== null ? [`limited: ${escapeForTerminal(coverage.limited)}`] : []),
    ...(coverage.finished ? [] : ["unfinished"]),
    ...(coverage.truncated ? ["lists cut"] : []),
  ];
  return gaps.length === 0 ? "" : ` (${gaps.join("; ")})`;
}

/**
 * For scripts: `package;file;hosts;processes;units;host,host…;oldest` records
 * (the package empty and the file given for one of no package; `oldest` the
 * earliest replacement, ISO 8601 UTC, or empty), then a blank line,
 * then `host;processes;verdict;unreadable;complete` records.
 *
 * @param fleet From `mergeReports`.
 * @returns The records, each ending in a newline.
 */
export function formatFleetMachine(fleet: Fleet): string {
  const field = (text: string) => escapeField(text, ";,");
  const items = fleet.items.map((item) =>
    [
      item.package === null ? "" : field(item.package),
      item.file === null ? "" : field(item.file),
      item.hosts.length,
      item.processes,
      item.units,
      item.hosts.map(field).join(","),
      item.oldestReplacedAt ?? "",
    ].join(";")
  );
  const hosts = fleet.hosts.map((host) =>
    [
      field(host.host),
      host.processes,
      field(host.verdict ?? ""),
      host.coverage.unreadable,
      host.coverage.finished && !host.coverage.truncated && host.coverage.limited === null
        ? "complete"
        : "partial",
    ].join(";")
  );
  return [...items, "", ...hosts].map((line) => `${line}\n`).join("");
}

/**
 * The fleet report as JSON, with the reports not used and why.
 *
 * @param fleet From `mergeReports`.
 * @returns The document, ending in a newline.
 */
export function formatFleetJson(fleet: Fleet): string {
  return escapeInvisible(JSON.stringify(
    {
      items: fleet.items.map((item) => ({
        package: item.package,
        file: item.file,
        hosts: item.hosts,
        processes: item.processes,
        units: item.units,
        oldest_replaced_at: item.oldestReplacedAt,
      })),
      hosts: fleet.hosts.map((host) => ({
        host: host.host,
        source: host.source,
        scanned_at: host.scannedAt,
        processes: host.processes,
        verdict: host.verdict,
        coverage: host.coverage,
      })),
      problems: fleet.problems,
    },
    null,
    2,
  )) + "\n";
}
