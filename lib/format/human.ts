/**
 * The human format of the Python tools: `PIDS "CMDLINE"`, or with files
 * `PIDS "CMDLINE" uses FILE1,FILE2`, made terminal-safe.
 *
 * @module
 */

import { escapeForTerminal } from "./escape.ts";
import { fileNames, type Group } from "../scan/group.ts";
import { filePackages, type PackageOwners } from "./packages.ts";
import { formatAge } from "./age.ts";
import type { DeletedFile } from "../scan/model.ts";

/** Decorations for the parts of a human line, e.g. terminal colours. */
export interface HumanStyle {
  /** Styles the comma-joined PIDs. */
  readonly pids: (text: string) => string;
  /** Styles the quoted command line. */
  readonly cmdline: (text: string) => string;
  /** Styles the comma-joined file names. */
  readonly files: (text: string) => string;
}

/** Options of {@linkcode formatHuman}. */
export interface HumanFormatOptions {
  /** Append ` uses FILE1,FILE2` (the `-s` flag). Default false. */
  readonly showFiles?: boolean;
  /** Show the unit after the PIDs, `PIDS (UNIT) "CMDLINE"`, for groups that carry one. Default false. */
  readonly showUnits?: boolean;
  /** Decorations; default none. */
  readonly style?: HumanStyle;
  /** With `showFiles`, each file's packages after it: `FILE [PACKAGE VERSION]` (`--packages`). */
  readonly packages?: PackageOwners;
  /** The time ages count to with `showFiles` (`replaced 3 days ago`), ms since the epoch. Default now. */
  readonly now?: number;
}

/**
 * What stands at a file's path now, and since when, where known:
 * ` (replaced 3 days ago)`, ` (deleted)`, ` (2 hours ago)`; "" when neither is.
 */
function since(file: DeletedFile, now: number): string {
  const age = file.replacedAt === undefined
    ? ""
    : `${formatAge(Math.max(0, now - file.replacedAt))} ago`;
  if (file.state === undefined) return age === "" ? "" : ` (${age})`;
  return ` (${file.state}${age === "" ? "" : ` ${age}`})`;
}

const PLAIN: HumanStyle = { pids: (t) => t, cmdline: (t) => t, files: (t) => t };

/**
 * Formats groups one per line, each line ending in a newline; "" for none.
 * Control characters, bidirectional controls and undecodable bytes in names and
 * command lines are escaped (`\n`, `\x1b`, `\xff`, `\\`), so no process can add
 * lines or colour the screen.

 *
 * @param groups From {@linkcode groupByArgv}.
 * @param options Whether to show files, and a style.
 * @returns The lines.
 *
 * @example Names are escaped, one line per group
 * ```ts
 * import { formatHuman } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const group = {
 *   pids: [7],
 *   argv: ["evil\x1b[2J"],
 *   cmdline: "evil\x1b[2J",
 *   files: [{ path: "/tmp/a\nb", kind: "fd" as const }],
 * };
 * assertEquals(formatHuman([group], { showFiles: true }), '7 "evil\\x1b[2J" uses /tmp/a\\nb\n');
 * ```
 */
export function formatHuman(groups: readonly Group[], options: HumanFormatOptions = {}): string {
  const style = options.style ?? PLAIN;
  let out = "";
  for (const group of groups) {
    out += style.pids(group.pids.join(","));
    const unit = group.unit?.name;
    if (options.showUnits && unit) out += ` (${escapeForTerminal(unit)})`;
    out += ` ${style.cmdline(`"${escapeForTerminal(group.cmdline)}"`)}`;
    if (options.showFiles) {
      const packages = options.packages;
      const label = (name: string) => {
        if (packages === undefined) return "";
        const { owners, unknown } = filePackages(packages, { pids: group.pids, path: name });
        const named = owners.map((owner) => `${owner.name} ${owner.version ?? "?"}`);
        if (unknown !== undefined) named.push("package unknown");
        return ` [${named.length === 0 ? "no package" : named.join(", ")}]`;
      };
      const now = options.now ?? Date.now();
      const byName = new Map<string, DeletedFile>();
      for (const file of group.files) if (!byName.has(file.path)) byName.set(file.path, file);
      const files = fileNames(group).map((name) =>
        escapeForTerminal(name + label(name) + since(byName.get(name)!, now))
      );
      out += ` uses ${style.files(files.join(","))}`;
      if (group.notListed) out += ` and ${group.notListed} more not listed`;
    }
    out += "\n";
  }
  return out;
}
