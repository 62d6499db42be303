/**
 * One update's reach across a fleet: the JSON reports many hosts wrote
 * (`--json`), read defensively and merged per package (or file, where no
 * package is known) and per host. A report that cannot be used is a problem
 * with its reason, never a crash and never silently dropped.
 *
 * @module
 */

/** The JSON report version this reads (`schema_version`). */
export const FLEET_SCHEMA_VERSION = 2;

/** One host's report, as far as the fleet needs it. */
export interface HostReport {
  /** Where the report came from (a file name), for messages. */
  readonly source: string;
  /** The host's name. */
  readonly host: string;
  /** When it scanned (ISO 8601), or null. */
  readonly scannedAt: string | null;
  /** Its stale process groups: PIDs, unit, and each file with its package where known. */
  readonly groups: readonly {
    readonly pids: readonly number[];
    readonly unit: string | null;
    readonly files: readonly {
      readonly path: string;
      readonly package: string | null;
      /** When it was replaced (ISO 8601 UTC), or null when the report does not say. */
      readonly replacedAt: string | null;
    }[];
  }[];
  /** The reboot verdict (`nothing`, `restart`, `reboot`, `unknown`), or null when not reported. */
  readonly verdict: string | null;
  /** What the scan could not see: unreadable processes, why it was limited, unfinished, cut. */
  readonly coverage: {
    readonly unreadable: number;
    readonly limited: string | null;
    readonly finished: boolean;
    readonly truncated: boolean;
  };
}

/** Why a report was not used. */
export interface ReportProblem {
  /** Where the report came from (a file name). */
  readonly source: string;
  /** What is wrong with it, in a few words. */
  readonly why: string;
}

/**
 * Reads one report's text; a problem, with what is wrong, when it is no
 * report this version reads (not JSON, another `schema_version`, no `host`,
 * a field of the wrong shape).
 *
 * @param text The report's text.
 * @param source Its name, for messages.
 * @returns The report, or why it cannot be used.
 *
 * @example Another version's report
 * ```ts
 * import { readReport } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(readReport('{"schema_version": 1}', "old.json"), {
 *   source: "old.json",
 *   why: "schema_version 1, and this lib_users reads 2",
 * });
 * ```
 */
export function readReport(text: string, source: string): HostReport | ReportProblem {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { source, why: `not JSON (${(error as Error).message})` };
  }
  const wrong = (what: string): ReportProblem => ({
    source,
    why: `not a lib_users report: ${what}`,
  });
  if (!isObject(data)) return wrong("not an object");
  if (data.schema_version !== FLEET_SCHEMA_VERSION) {
    return {
      source,
      why: `schema_version ${JSON.stringify(data.schema_version)}, and this lib_users reads ` +
        `${FLEET_SCHEMA_VERSION}`,
    };
  }
  if (typeof data.host !== "string" || data.host === "") {
    return { source, why: "it names no host (written before 0.17, or without --allow-sys)" };
  }
  if (!Array.isArray(data.groups)) return wrong("groups is not a list");
  const groups: HostReport["groups"][number][] = [];
  for (const [i, group] of data.groups.entries()) {
    const read = readGroup(group, scannedBy(data.scanned_at));
    if (typeof read === "string") return wrong(`groups[${i}]: ${read}`);
    groups.push(read);
  }
  return {
    source,
    host: data.host,
    scannedAt: typeof data.scanned_at === "string" ? data.scanned_at : null,
    groups,
    verdict: typeof data.verdict === "string" ? data.verdict : null,
    coverage: {
      unreadable: typeof data.unreadable === "number" ? data.unreadable : 0,
      limited: typeof data.limited === "string" ? data.limited : null,
      finished: data.finished !== false,
      truncated: data.truncated === true,
    },
  };
}

/** One group, or what is wrong with it. */
function readGroup(group: unknown, notAfter: number): HostReport["groups"][number] | string {
  if (!isObject(group)) return "not an object";
  const { pids, files, unit } = group;
  if (!Array.isArray(pids) || !pids.every((pid) => Number.isSafeInteger(pid) && pid >= 0)) {
    return "pids is not a list of PIDs";
  }
  if (unit !== null && unit !== undefined && typeof unit !== "string") return "unit is no name";
  if (!Array.isArray(files)) return "files is not a list";
  const read: { path: string; package: string | null; replacedAt: string | null }[] = [];
  for (const file of files) {
    if (!isObject(file) || typeof file.path !== "string") return "a file has no path";
    const owner = isObject(file.package) && typeof file.package.name === "string"
      ? `${file.package.name}${
        typeof file.package.version === "string" ? ` ${file.package.version}` : ""
      }`
      : null;
    read.push({
      path: file.path,
      package: owner,
      replacedAt: isoTime(file.replaced_at, notAfter),
    });
  }
  return { pids: pids as number[], unit: typeof unit === "string" ? unit : null, files: read };
}

/** A date and time as RFC 3339 writes it: four-digit years, an offset or Z. */
const RFC_3339 =
  /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$/;

/** The latest time a report's files may say they were replaced: its scan's, else now. */
function scannedBy(scannedAt: unknown): number {
  const ms = typeof scannedAt === "string" && RFC_3339.test(scannedAt)
    ? Date.parse(scannedAt)
    : NaN;
  return Number.isFinite(ms) ? ms : Date.now();
}

/**
 * A time the report gives, as ISO 8601 UTC with a four-digit year (which
 * sorts as it runs); null when it gives none, or none a scan could have seen
 * (after the scan, or not RFC 3339: `"1"`, `"+275760-09-13T00:00:00Z"`).
 */
function isoTime(value: unknown, notAfter: number): string | null {
  if (typeof value !== "string" || !RFC_3339.test(value)) return null;
  const ms = Date.parse(value);
  // A minute's slack: `scanned_at` is when the run began, a few milliseconds before the scan.
  return Number.isFinite(ms) && ms <= notAfter + 60_000 ? new Date(ms).toISOString() : null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What one package (or file) left stale across the fleet. */
export interface FleetItem {
  /** The package (`libssl3 3.0.15-1~deb12u1`), or null where no package is known. */
  readonly package: string | null;
  /** The file, where no package is known; null for a package. */
  readonly file: string | null;
  /** The hosts where it is in use, sorted. */
  readonly hosts: readonly string[];
  /** How many stale processes use it, all hosts together. */
  readonly processes: number;
  /** How many units, all hosts together (each host's units counted apart). */
  readonly units: number;
  /** The earliest time one of its files was replaced on any host (ISO 8601 UTC), or null. */
  readonly oldestReplacedAt: string | null;
}

/** One host in the fleet report. */
export interface FleetHost {
  /** The host's name. */
  readonly host: string;
  /** The report it came from. */
  readonly source: string;
  /** When it scanned (ISO 8601), or null. */
  readonly scannedAt: string | null;
  /** How many stale processes it has. */
  readonly processes: number;
  /** Its reboot verdict, or null when its report had none. */
  readonly verdict: string | null;
  /** What its scan could not see. */
  readonly coverage: HostReport["coverage"];
}

/** The fleet report: per package or file, per host, and the reports not used. */
export interface Fleet {
  /** By number of hosts, then processes, then name. */
  readonly items: readonly FleetItem[];
  /** By host name. */
  readonly hosts: readonly FleetHost[];
  /** Reports not used (or replaced by a newer one of the same host), each with why. */
  readonly problems: readonly ReportProblem[];
}

/**
 * Merges hosts' reports. Two reports of one host: the later `scanned_at`
 * is used (the first given, when they do not say), the other is a problem.
 *
 * @param reports Each report as {@linkcode readReport} read it, or its problem.
 * @returns The fleet report.
 */
export function mergeReports(reports: readonly (HostReport | ReportProblem)[]): Fleet {
  const problems: ReportProblem[] = [];
  const byHost = new Map<string, HostReport>();
  for (const report of reports) {
    if ("why" in report) {
      problems.push(report);
      continue;
    }
    const earlier = byHost.get(report.host);
    if (earlier === undefined) {
      byHost.set(report.host, report);
      continue;
    }
    const newer = (report.scannedAt ?? "") > (earlier.scannedAt ?? "") ? report : earlier;
    const older = newer === report ? earlier : report;
    byHost.set(report.host, newer);
    problems.push({
      source: older.source,
      why: `a second report of host ${report.host}: ${newer.source} is used (the later scan, ` +
        "or the first given)",
    });
  }
  const items = new Map<string, { item: Omit<FleetItem, "hosts">; hosts: Set<string> }>();
  for (const report of byHost.values()) addHost(items, report);
  return {
    items: [...items.values()]
      .map(({ item, hosts }) => ({ ...item, hosts: [...hosts].sort() }))
      .sort((a, b) =>
        b.hosts.length - a.hosts.length || b.processes - a.processes ||
        compare(a.package ?? a.file ?? "", b.package ?? b.file ?? "")
      ),
    hosts: [...byHost.values()].sort((a, b) => compare(a.host, b.host)).map((report) => ({
      host: report.host,
      source: report.source,
      scannedAt: report.scannedAt,
      processes: report.groups.reduce((sum, group) => sum + group.pids.length, 0),
      verdict: report.verdict,
      coverage: report.coverage,
    })),
    problems,
  };
}

/** Counts one host's processes and units under each package (or file) they use. */
function addHost(
  items: Map<string, { item: Omit<FleetItem, "hosts">; hosts: Set<string> }>,
  report: HostReport,
): void {
  const seen = new Map<
    string,
    { pids: Set<number>; units: Set<string>; oldest: string | null }
  >();
  for (const group of report.groups) {
    for (const file of group.files) {
      const key = file.package === null ? `file\0${file.path}` : `package\0${file.package}`;
      const entry = seen.get(key) ?? { pids: new Set(), units: new Set(), oldest: null };
      for (const pid of group.pids) entry.pids.add(pid);
      if (group.unit !== null) entry.units.add(group.unit);
      entry.oldest = earlier(entry.oldest, file.replacedAt);
      seen.set(key, entry);
    }
  }
  for (const [key, { pids, units, oldest }] of seen) {
    const [kind, name] = key.split("\0") as [string, string];
    const entry = items.get(key) ?? {
      item: {
        package: kind === "package" ? name : null,
        file: kind === "file" ? name : null,
        processes: 0,
        units: 0,
        oldestReplacedAt: null,
      },
      hosts: new Set<string>(),
    };
    entry.item = {
      ...entry.item,
      processes: entry.item.processes + pids.size,
      units: entry.item.units + units.size,
      oldestReplacedAt: earlier(entry.item.oldestReplacedAt, oldest),
    };
    entry.hosts.add(report.host);
    items.set(key, entry);
  }
}

/** The earlier of two ISO 8601 UTC times, either of which may be unknown. */
function earlier(a: string | null, b: string | null): string | null {
  return a === null ? b : b === null ? a : b < a ? b : a;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
