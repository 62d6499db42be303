/**
 * Which packages the stale files come from (`--packages`): one line per
 * package, naming what to restart, for people, for scripts and for the plan.
 *
 * @module
 */

import type { Group } from "../scan/group.ts";
import type { PackageOwner } from "../answers/packages.ts";
import type { ProcessPackages } from "../answers/package_roots.ts";
import { escapeField, escapeForTerminal } from "./escape.ts";

/**
 * The packages of the stale files: by path, for processes that all see one
 * tree (as `findPackageOwners` gives them), or process by process, each from
 * its own tree's database (as `findProcessPackages` gives them), where a
 * process's may be unknown.
 */
export type PackageOwners = ReadonlyMap<string, readonly PackageOwner[]> | ProcessPackages;

/** What is known of the packages of one file, as some processes use it. */
export interface FilePackages {
  /** The packages that own it, by name; empty (and no `unknown`): no package owns it. */
  readonly owners: readonly PackageOwner[];
  /** Why its package is not known, for some or all of the processes; absent when it is known. */
  readonly unknown?: string;
}

/** Said of a process whose packages were not looked up at all. */
const NOT_LOOKED_UP = "its packages were not looked up";

/**
 * The packages of the file `path` as the processes `pids` use it: each
 * process's from its own tree's database, all together.
 *
 * @example A file of a container whose database cannot be read, beside the host's
 * ```ts
 * import { filePackages } from "./packages.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const owner = { name: "libx1", version: "1", changed: null, changedFrom: null };
 * const byPid = new Map([
 *   [7, { owners: new Map([["/lib/x.so", [owner]]]) }],
 *   [8, { unknown: "no database in its root", paths: new Set(["/lib/x.so"]) }],
 * ]);
 * assertEquals(filePackages({ byPid }, { pids: [7], path: "/lib/x.so" }), { owners: [owner] });
 * assertEquals(filePackages({ byPid }, { pids: [8], path: "/lib/x.so" }), { owners: [], unknown: "no database in its root" });
 * ```
 */
export function filePackages(
  packages: PackageOwners,
  file: { readonly pids: readonly number[]; readonly path: string },
): FilePackages {
  return lookUpFile(packages, file.pids, file.path) ?? { owners: [] };
}

/** {@linkcode filePackages}, or null when none of `pids` uses `path` (as far as the lookups tell). */
function lookUpFile(
  packages: PackageOwners,
  pids: readonly number[],
  path: string,
): FilePackages | null {
  if (!("byPid" in packages)) return { owners: packages.get(path) ?? [] };
  const owners = new Map<string, PackageOwner>();
  const unknown = new Set<string>();
  let used = false;
  for (const pid of pids) {
    const lookup = packages.byPid.get(pid);
    if (lookup === undefined || "unknown" in lookup) {
      if (lookup !== undefined && !lookup.paths.has(path)) continue;
      unknown.add(lookup?.unknown ?? NOT_LOOKED_UP);
      used = true;
      continue;
    }
    const found = lookup.owners.get(path);
    if (found === undefined) continue;
    used = true;
    for (const owner of found) owners.set(ownerKey(owner), owner);
  }
  if (!used) return null;
  const sorted = [...owners.entries()].sort(([a], [b]) => a < b ? -1 : 1).map(([, o]) => o);
  return unknown.size === 0
    ? { owners: sorted }
    : { owners: sorted, unknown: [...unknown].join("; ") };
}

/** A package as one tree's database has it: the same name in two trees may be two versions. */
function ownerKey(owner: PackageOwner): string {
  return `${owner.name}\0${owner.version ?? ""}`;
}

/** One package and the processes that use its deleted files. */
export interface PackageUse {
  /** The package, or null for files no package owns, or whose package is not known. */
  readonly owner: PackageOwner | null;
  /** For `owner: null`: why the package of `files` is not known; absent when no package owns them. */
  readonly unknown?: string;
  /** The processes, ascending. */
  readonly pids: readonly number[];
  /** Their units (or, without one, command lines), in the groups' order, each once. */
  readonly names: readonly string[];
  /** For `owner: null`: the files. */
  readonly files: readonly string[];
}

/**
 * Groups the stale processes by the package of their files: a process using
 * files of two packages counts for both. Packages by name, then the files no
 * package owns, then those whose package is not known (each process's looked
 * up in its own tree's database).
 *
 * @example One package, one file no package owns
 * ```ts
 * import { packageUses } from "./packages.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const files = [{ path: "/lib/x.so", kind: "library" as const }, { path: "/opt/y.so", kind: "library" as const }];
 * const owners = new Map([["/lib/x.so", [{ name: "libx1", version: "1", changed: null, changedFrom: null }]]]);
 * const uses = packageUses([{ pids: [7], argv: ["a"], cmdline: "a", files }], owners);
 * assertEquals(uses.map((use) => [use.owner?.name ?? null, use.files]), [["libx1", []], [null, ["/opt/y.so"]]]);
 * ```
 */
export function packageUses(groups: readonly Group[], owners: PackageOwners): PackageUse[] {
  interface Building {
    owner: PackageOwner | null;
    reasons: Set<string>;
    pids: Set<number>;
    names: Set<string>;
    files: Set<string>;
  }
  // Keys: "P" and the package for a package, "N" for no package, "U" for not known.
  const uses = new Map<string, Building>();
  const add = (key: string, owner: PackageOwner | null, group: Group, pids: readonly number[]) => {
    let use = uses.get(key);
    if (use === undefined) {
      use = { owner, reasons: new Set(), pids: new Set(), names: new Set(), files: new Set() };
      uses.set(key, use);
    }
    for (const pid of pids) use.pids.add(pid);
    use.names.add(group.unit?.name ?? group.cmdline);
    return use;
  };
  for (const group of groups) {
    for (const file of group.files) {
      // Process by process where each has its own tree; the group at once otherwise.
      const each = "byPid" in owners ? group.pids.map((pid) => [pid]) : [group.pids];
      for (const pids of each) {
        const found = lookUpFile(owners, pids, file.path);
        if (found === null) continue;
        if (found.unknown !== undefined) {
          const use = add("U", null, group, pids);
          use.reasons.add(found.unknown);
          use.files.add(file.path);
        }
        if (found.owners.length === 0 && found.unknown === undefined) {
          add("N", null, group, pids).files.add(file.path);
        }
        for (const owner of found.owners) add(`P${ownerKey(owner)}`, owner, group, pids);
      }
    }
  }
  return [...uses.entries()].sort(([a], [b]) => {
    // Packages first, by name: "P…" < "N" < "U" would not hold for every name.
    const rank = (key: string) => key[0] === "P" ? 0 : key === "N" ? 1 : 2;
    return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
  }).map(([, use]) => ({
    owner: use.owner,
    ...(use.reasons.size > 0 ? { unknown: [...use.reasons].join("; ") } : {}),
    pids: [...use.pids].sort((a, b) => a - b),
    names: [...use.names],
    files: [...use.files].sort(),
  }));
}

/**
 * A package as the sections name it.
 *
 * @example With its version and when it changed
 * ```ts
 * import { packageLabel } from "./packages.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const owner = { name: "libssl3:amd64", version: "3.0.15-1~deb12u1", changed: "2026-11-30 10:02:11", changedFrom: "dpkg.log" as const };
 * assertEquals(packageLabel(owner), "libssl3:amd64 3.0.15-1~deb12u1, changed 2026-11-30 10:02:11");
 * ```
 */
export function packageLabel(owner: PackageOwner): string {
  const changed = owner.changed === null
    ? ""
    : `, changed ${owner.changed}${
      owner.changedFrom === "list-mtime" ? " (file list's time)" : ""
    }`;
  return `${owner.name} ${owner.version ?? "(no status entry)"}${changed}`;
}

/**
 * The packages section: one line per package, what to restart for it, names
 * escaped for the terminal; `comment` makes each line a shell comment (for
 * the restart plan).
 *
 * @example Two processes of one package
 * ```ts
 * import { formatPackages } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const groups = [{ pids: [7], argv: ["a"], cmdline: "a", files: [{ path: "/lib/x.so", kind: "library" as const }] }];
 * const owners = new Map([["/lib/x.so", [{ name: "libx1", version: "1.2-3", changed: null, changedFrom: null }]]]);
 * assertEquals(formatPackages(groups, owners), "Packages:\n  libx1 1.2-3: a (PIDs 7)\n");
 * ```
 */
export function formatPackages(
  groups: readonly Group[],
  owners: PackageOwners,
  comment = false,
): string {
  const lines = packageUses(groups, owners).map((use) => {
    const head = use.owner !== null
      ? packageLabel(use.owner)
      : use.unknown !== undefined
      ? `package unknown (${use.unknown}): ${use.files.join(", ")}`
      : `no package: ${use.files.join(", ")}`;
    return `  ${
      escapeForTerminal(`${head}: ${use.names.join(", ")} (PIDs ${use.pids.join(",")})`)
    }\n`;
  });
  const text = `Packages:\n${lines.join("")}`;
  return comment ? text.replace(/^(?=.)/gm, "# ") : text;
}

/**
 * The packages section for scripts, after the machine records and a blank
 * line: `PACKAGE;VERSION;CHANGED;PIDS` (empty fields where unknown; the
 * package field empty for files no package owns, and `?` for files whose
 * package is not known), fields escaped as the records' are.
 *
 * @example One line per package
 * ```ts
 * import { formatPackagesMachine } from "./packages.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const groups = [{ pids: [7, 9], argv: ["a"], cmdline: "a", files: [{ path: "/x.so", kind: "library" as const }] }];
 * assertEquals(formatPackagesMachine(groups, new Map([["/x.so", []]])), ";;;7,9\n");
 * ```
 */
export function formatPackagesMachine(groups: readonly Group[], owners: PackageOwners): string {
  return packageUses(groups, owners).map((use) =>
    [
      use.unknown !== undefined ? "?" : escapeField(use.owner?.name ?? "", ";"),
      escapeField(use.owner?.version ?? "", ";"),
      escapeField(use.owner?.changed ?? "", ";"),
      use.pids.join(","),
    ].join(";") + "\n"
  ).join("");
}
