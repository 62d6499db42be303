/**
 * Which packages the stale files come from (`--packages`): one line per
 * package, naming what to restart, for people, for scripts and for the plan.
 *
 * @module
 */

import type { Group } from "../group.ts";
import type { PackageOwner } from "../packages.ts";
import { escapeField, escapeForTerminal } from "./escape.ts";

/** The owners of each stale file's path, as `findPackageOwners` gives them. */
export type PackageOwners = ReadonlyMap<string, readonly PackageOwner[]>;

/** One package and the processes that use its deleted files. */
export interface PackageUse {
  /** The package, or null for files no package owns. */
  readonly owner: PackageOwner | null;
  /** The processes, ascending. */
  readonly pids: readonly number[];
  /** Their units (or, without one, command lines), in the groups' order, each once. */
  readonly names: readonly string[];
  /** For `owner: null`: the files no package owns. */
  readonly files: readonly string[];
}

/**
 * Groups the stale processes by the package of their files: a process using
 * files of two packages counts for both. Packages by name, the unowned last.
 *
 * @example One package, one file no package owns
 * ```ts
 * import { packageUses } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const files = [{ path: "/lib/x.so", kind: "library" as const }, { path: "/opt/y.so", kind: "library" as const }];
 * const owners = new Map([["/lib/x.so", [{ name: "libx1", version: "1", changed: null, changedFrom: null }]]]);
 * const uses = packageUses([{ pids: [7], argv: ["a"], cmdline: "a", files }], owners);
 * assertEquals(uses.map((use) => [use.owner?.name ?? null, use.files]), [["libx1", []], [null, ["/opt/y.so"]]]);
 * ```
 */
export function packageUses(groups: readonly Group[], owners: PackageOwners): PackageUse[] {
  const uses = new Map<
    string,
    { owner: PackageOwner | null; pids: Set<number>; names: Set<string>; files: Set<string> }
  >();
  for (const group of groups) {
    for (const file of group.files) {
      const found = owners.get(file.path) ?? [];
      for (const owner of found.length > 0 ? found : [null]) {
        const key = owner?.name ?? "";
        const use = uses.get(key) ??
          { owner, pids: new Set<number>(), names: new Set<string>(), files: new Set<string>() };
        group.pids.forEach((pid) => use.pids.add(pid));
        use.names.add(group.unit?.name ?? group.cmdline);
        if (owner === null) use.files.add(file.path);
        uses.set(key, use);
      }
    }
  }
  return [...uses.entries()].sort(([a], [b]) => a === "" ? 1 : b === "" ? -1 : a < b ? -1 : 1)
    .map(([, use]) => ({
      owner: use.owner,
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
 * import { packageLabel } from "@lib-users/lib-users";
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
    const head = use.owner === null
      ? `no package: ${use.files.join(", ")}`
      : packageLabel(use.owner);
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
 * package field empty for files no package owns), fields escaped as the
 * records' are.
 *
 * @example One line per package
 * ```ts
 * import { formatPackagesMachine } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const groups = [{ pids: [7, 9], argv: ["a"], cmdline: "a", files: [{ path: "/x.so", kind: "library" as const }] }];
 * assertEquals(formatPackagesMachine(groups, new Map([["/x.so", []]])), ";;;7,9\n");
 * ```
 */
export function formatPackagesMachine(groups: readonly Group[], owners: PackageOwners): string {
  return packageUses(groups, owners).map((use) =>
    [
      escapeField(use.owner?.name ?? "", ";"),
      escapeField(use.owner?.version ?? "", ";"),
      escapeField(use.owner?.changed ?? "", ";"),
      use.pids.join(","),
    ].join(";") + "\n"
  ).join("");
}
