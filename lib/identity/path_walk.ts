/**
 * What is at a path inside a process's root, found one component at a time
 * without ever asking a file system that may not answer, and without leaving
 * that root. Each directory and link met is resolved once per tree (view) for
 * the whole scan: processes of one tree share their walks.
 *
 * @module
 */

import { isLocalType, type Mount, mountOf, type MountTable } from "../proc/mounts.ts";
import { classifyReadError, readLinkName } from "../proc/procfs.ts";
import { hasRawBytes } from "../proc/names.ts";

/** How a lookup inside a process's root ended. */
export type Lookup =
  | {
    readonly found: true;
    /** The object's device and inode, as `stat` reports them. */
    readonly dev: number;
    readonly ino: number;
    /** The type of the file system it lies on, by the tree's mount table. */
    readonly type: string;
    /** When it last changed, in ms (see `lastChange`), or null. */
    readonly changedMs: number | null;
    /**
     * Its change time alone (ctime), in ms, or null: what its owner cannot
     * set, unlike the modification time (`touch -d`).
     */
    readonly ctimeMs: number | null;
  }
  | {
    readonly found: false;
    /** Why the lookup could not tell; absent when nothing is at the path. */
    readonly unresolvable?: string;
  };

/**
 * How many more path components walks may ask for: each component not
 * remembered from an earlier walk takes one. Shared by the walks of one
 * process, so no process can cost the scan more than that.
 */
export interface WalkBudget {
  steps: number;
}

/** Why a lookup stopped when its process's budget ran out. */
export const OUT_OF_STEPS =
  "not checked: its process used up its share of the scan (time or lookups)";

/** Why a lookup stopped because the process it looked through exited. */
export const EXITED = "the process exited while it was read";

const MISSING: Lookup = Object.freeze({ found: false });
/** The most symbolic links a lookup follows, as the kernel does. */
export const MAX_LINKS = 40;

type Found = Lookup & { found: true };

/** A directory, file or link as one `lstat` saw it, by its resolved path inside the root. */
type Entry =
  | {
    readonly link: false;
    readonly mount: Mount;
    readonly found: Found;
    readonly isDirectory: boolean;
    /** Its size in bytes, which tells roughly how many entries a directory holds. */
    readonly size: number;
    /** Owned by root. */
    readonly rootOwned: boolean;
    /** Whether others than root may add, remove or rename its entries (a directory). */
    readonly openToOthers: boolean;
    /** Whether only an entry's owner may remove or rename it (the sticky bit, as on /tmp). */
    readonly sticky: boolean;
  }
  | { readonly link: true; readonly target: string; readonly rootOwned: boolean };

/** Who may change a directory's entries. */
interface Guard {
  readonly rootOwned: boolean;
  readonly openToOthers: boolean;
  readonly sticky: boolean;
}

/** Where a walk stands: a directory (the root at first) or the file it ended on. */
interface Place {
  readonly dir: string;
  readonly mount: Mount;
  /** Undefined for the root, which was not looked up. */
  readonly entry: (Entry & { link: false }) | undefined;
  /** Who may change its entries; null for the root, asked only when it matters. */
  readonly guard: Guard | null;
  /**
   * Whether no one but root can swap this place, or anything above it, for
   * something else (a link to another tree, or to a mount that may not answer).
   */
  readonly fixed: boolean;
}

/** Looks names up inside one tree (see {@linkcode PathWalker}; `PinnedWalker` does it on descriptors). */
export interface Walker {
  /** What `name` (as the scanner's `/proc` prints it) leads to inside the root. */
  lookUp(anchor: string, name: string, budget?: WalkBudget): Lookup;
  /** The names in the directory `name` leads to, or null (not worth listing, or unlistable). */
  names(
    anchor: string,
    name: string,
    maxBytes: number,
    budget?: WalkBudget,
  ): ReadonlySet<string> | null;
}

/**
 * Walks names inside one tree: one mount namespace seen from one root. The
 * tree's mount table tells which file system each component lies on; a chroot
 * in the scanner's own namespace also has the scanner's table (`outer`) for
 * the mounts above its root.
 *
 * Directories and links that only root could change (root's own, in
 * directories no one else may write) are resolved once per tree for the whole
 * scan, since processes of one tree share their paths (`/usr/lib/…`). Those a
 * user could swap for a link while the scan runs are asked again on every walk.
 */
export class PathWalker implements Walker {
  readonly #rootLink: string;
  readonly #table: MountTable;
  readonly #outer: MountTable | null;
  readonly #entries = new Map<string, Entry>();
  /** The mount holding the root itself, or undefined when no table tells. */
  readonly #rootMount: Mount | undefined;
  /** Who may change the root directory's entries; read once, on the first walk. */
  #rootGuard: Guard | undefined;

  /**
   * @param rootLink The root as the scanner names it (`/proc/PID/root`'s target).
   * @param table The tree's own mount table.
   * @param outer The scanner's table when the tree is a chroot in its namespace.
   */
  constructor(rootLink: string, table: MountTable, outer: MountTable | null) {
    this.#rootLink = rootLink;
    this.#table = table;
    this.#outer = outer;
    this.#rootMount = mountOf(table, "/") ?? (outer ? mountOf(outer, rootLink) : undefined);
  }

  /**
   * Looks `name` (as the scanner's `/proc` prints it) up through `anchor`
   * (`/proc/PID/root` of a process of this tree, or `""` for the scanner's
   * own root), as `openat2`'s
   * `RESOLVE_IN_ROOT` would: an absolute link target starts again at the root,
   * `..` stops there, and a component on a file system that is not local is
   * never asked for.
   */
  lookUp(anchor: string, name: string, budget: WalkBudget = { steps: Infinity }): Lookup {
    const place = this.#walk(anchor, name, budget);
    if (!("dir" in place)) return place;
    if (place.entry !== undefined) return place.entry.found;
    // The root itself (also when reached by `..`).
    if (!isLocalType(place.mount.type)) {
      return { found: false, unresolvable: "its file system is not asked" };
    }
    try {
      return foundAt(Deno.statSync(`${anchor}/`), place.mount);
    } catch (error) {
      classifyReadError(error);
      return EXITED_LOOKUP;
    }
  }

  /**
   * The names in the directory `name` leads to; null when it is not a
   * directory below the root, cannot be read, lies where someone other than
   * root could swap it (or a directory above it) for a link while it is read,
   * or its size says it holds more than about `maxBytes` of entries (listing
   * costs by the entry, and any user may fill a directory).
   */
  names(
    anchor: string,
    name: string,
    maxBytes: number,
    budget: WalkBudget = { steps: Infinity },
  ): ReadonlySet<string> | null {
    const place = this.#walk(anchor, name, budget);
    if (!("dir" in place) || !place.fixed) return null;
    const entry = place.entry;
    if (entry === undefined || !entry.isDirectory || !SIZED_DIRECTORIES.has(place.mount.type)) {
      return null;
    }
    if (entry.size === 0 || entry.size > maxBytes) return null;
    try {
      return new Set([...Deno.readDirSync(anchor + place.dir)].map((e) => e.name));
    } catch (error) {
      classifyReadError(error);
      return null;
    }
  }

  /** Resolves `name` to the place it ends on, or says why it cannot. */
  #walk(anchor: string, name: string, budget: WalkBudget): Place | Lookup {
    if (hasRawBytes(name)) return { found: false, unresolvable: "its name is not valid UTF-8" };
    let inner: string;
    if (this.#rootLink === "/") inner = name;
    else if (name === this.#rootLink) inner = "/";
    else if (name.startsWith(`${this.#rootLink}/`)) inner = name.slice(this.#rootLink.length);
    else return { found: false, unresolvable: "it lies outside the process's root" };
    if (this.#rootMount === undefined) return { found: false, unresolvable: NO_MOUNT };
    const root: Place = {
      dir: "",
      mount: this.#rootMount,
      entry: undefined,
      guard: null,
      fixed: true,
    };
    // The places walked through: `..` goes back one, never past the root.
    const places = [root];
    const pending = inner.split("/").reverse();
    let links = 0;
    while (pending.length > 0) {
      const part = pending.pop()!;
      const here = places[places.length - 1]!;
      // Nothing, not even `.` or a trailing slash, follows a file (ENOTDIR).
      if (here.entry !== undefined && !here.entry.isDirectory) return MISSING;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (places.length > 1) places.pop();
        continue;
      }
      const path = `${here.dir}/${part}`;
      // Only what root alone could have changed is ever remembered.
      let entry = here.fixed ? this.#entries.get(path) : undefined;
      if (entry === undefined) {
        if (--budget.steps < 0) return { found: false, unresolvable: OUT_OF_STEPS };
        const step = this.#step(anchor, path, here.mount);
        if (!("link" in step)) return step;
        entry = step;
        // A file is asked again each time: an update may replace it while the scan runs.
        const kept = entry.link || entry.isDirectory;
        if (kept && this.#keeps(anchor, here, entry.rootOwned)) this.#entries.set(path, entry);
      }
      if (entry.link) {
        if (++links > MAX_LINKS) return { found: false, unresolvable: "too many symbolic links" };
        if (entry.target.startsWith("/")) places.length = 1;
        pending.push(...entry.target.split("/").reverse());
        continue;
      }
      places.push({
        dir: path,
        mount: entry.mount,
        entry,
        guard: entry,
        fixed: this.#keeps(anchor, here, entry.rootOwned),
      });
    }
    return places[places.length - 1]!;
  }

  /** One component, its mount checked, then `lstat`ed. */
  #step(anchor: string, path: string, parent: Mount): Entry | Lookup {
    const mount = this.#mountPointAt(path) ?? parent;
    if (!isLocalType(mount.type)) {
      return { found: false, unresolvable: `its path crosses ${mount.type}, which is not asked` };
    }
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(anchor + path);
    } catch (error) {
      if (error instanceof Deno.errors.NotADirectory) return MISSING;
      if (classifyReadError(error) === "gone") return stillThere(anchor) ? MISSING : EXITED_LOOKUP;
      return { found: false, unresolvable: "a directory on its path cannot be read" };
    }
    if (info.isSymlink) {
      let target: string;
      try {
        target = readLinkName(anchor + path);
      } catch (error) {
        classifyReadError(error);
        return { found: false, unresolvable: "a link on its path cannot be read" };
      }
      if (hasRawBytes(target)) {
        return { found: false, unresolvable: "a link on its path is not valid UTF-8" };
      }
      return { link: true, target, rootOwned: info.uid === 0 };
    }
    return {
      link: false,
      mount,
      found: foundAt(info, mount),
      isDirectory: info.isDirectory,
      size: info.size,
      ...guardOf(info),
    };
  }

  /**
   * Whether an entry (root's or not) of `place` can be swapped by root alone, so
   * that what was seen of it may be remembered for the rest of the scan.
   */
  #keeps(anchor: string, place: Place, rootOwned: boolean): boolean {
    if (!place.fixed) return false;
    const guard = place.guard ?? this.#rootGuardOf(anchor);
    // In a sticky directory (/tmp) only an entry's owner may remove or rename it.
    return guard.rootOwned && (!guard.openToOthers || (guard.sticky && rootOwned));
  }

  #rootGuardOf(anchor: string): Guard {
    if (this.#rootGuard === undefined) {
      this.#rootGuard = OPEN;
      if (this.#rootMount !== undefined && isLocalType(this.#rootMount.type)) {
        try {
          this.#rootGuard = guardOf(Deno.statSync(`${anchor}/`));
        } catch (error) {
          classifyReadError(error);
        }
      }
    }
    return this.#rootGuard;
  }

  /** The mount whose mount point is exactly `path` (inside the root), if any. */
  #mountPointAt(path: string): Mount | undefined {
    return this.#table.byPoint.get(path) ?? this.#outer?.byPoint.get(this.#rootLink + path);
  }
}

const NO_MOUNT = "no mount holds its path";

/**
 * File systems whose directories report a size that grows with their
 * entries, so it bounds what listing one costs (ramfs reports 0, an overlay
 * the upper layer's alone).
 */
export const SIZED_DIRECTORIES: ReadonlySet<string> = new Set([
  "btrfs",
  "ext2",
  "ext3",
  "ext4",
  "f2fs",
  "tmpfs",
  "xfs",
]);
/** A directory anyone may change: nothing under it is remembered. */
const OPEN: Guard = Object.freeze({ rootOwned: false, openToOthers: true, sticky: false });

function guardOf(info: Deno.FileInfo): Guard {
  const mode = info.mode ?? 0o7777;
  return {
    rootOwned: info.uid === 0,
    // Group or others may write: with the group's members or anyone, not root alone.
    openToOthers: (mode & 0o022) !== 0,
    sticky: (mode & 0o1000) !== 0,
  };
}
const EXITED_LOOKUP: Lookup = Object.freeze({ found: false, unresolvable: EXITED });

function foundAt(info: Deno.FileInfo, mount: Mount): Lookup & { found: true } {
  return {
    found: true,
    dev: info.dev,
    ino: info.ino ?? -1,
    type: mount.type,
    changedMs: lastChange(info),
    ctimeMs: info.ctime?.getTime() ?? null,
  };
}

/**
 * The latest time the file is known to have changed by, in ms: its ctime is
 * the answer, but Deno gives it in whole seconds, so the birth time (a file
 * renamed over the old one is new) and mtime (an edit), which it gives to the
 * millisecond, are taken too. Each is at most the true ctime: the result never
 * says "after" of a change that was before.
 */
function lastChange(info: Deno.FileInfo): number | null {
  const times = [info.ctime, info.mtime, info.birthtime].flatMap((t) => t ? [t.getTime()] : []);
  return times.length === 0 ? null : Math.max(...times);
}

/** A name not found is missing only while the process's root is still there (the scanner's is). */
function stillThere(anchor: string): boolean {
  if (anchor === "") return true;
  try {
    Deno.readLinkSync(anchor);
    return true;
  } catch (error) {
    classifyReadError(error);
    return false;
  }
}
