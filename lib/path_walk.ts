/**
 * What is at a path inside a process's root, found one component at a time
 * without ever asking a file system that may not answer, and without leaving
 * that root. Each directory and link met is resolved once per tree (view) for
 * the whole scan: processes of one tree share their walks.
 *
 * @module
 */

import { isLocalType, type Mount, mountOf, type MountTable } from "./mounts.ts";
import { classifyReadError, readLinkName } from "./procfs.ts";
import { hasRawBytes } from "./names.ts";

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
  }
  | {
    readonly found: false;
    /** Why the lookup could not tell; absent when nothing is at the path. */
    readonly unresolvable?: string;
  };

/** Why a lookup stopped because the process it looked through exited. */
export const EXITED = "the process exited while it was read";

const MISSING: Lookup = Object.freeze({ found: false });
const MAX_LINKS = 40;

/** A directory or link met on some walk, by its resolved path inside the root. */
type Entry =
  | { readonly link: false; readonly mount: Mount; readonly found: Lookup & { found: true } }
  | { readonly link: true; readonly target: string };

/**
 * Walks names inside one tree: one mount namespace seen from one root. The
 * tree's mount table tells which file system each component lies on; a chroot
 * in the scanner's own namespace also has the scanner's table (`outer`) for
 * the mounts above its root.
 */
export class PathWalker {
  readonly #rootLink: string;
  readonly #table: MountTable;
  readonly #outer: MountTable | null;
  readonly #entries = new Map<string, Entry>();
  /** The mount holding the root itself, or undefined when no table tells. */
  readonly #rootMount: Mount | undefined;

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
   * (`/proc/PID/root` of a process of this tree), as `openat2`'s
   * `RESOLVE_IN_ROOT` would: an absolute link target starts again at the root,
   * `..` stops there, and a component on a file system that is not local is
   * never asked for.
   */
  lookUp(anchor: string, name: string): Lookup {
    if (hasRawBytes(name)) return { found: false, unresolvable: "its name is not valid UTF-8" };
    let inner: string;
    if (this.#rootLink === "/") inner = name;
    else if (name.startsWith(`${this.#rootLink}/`)) inner = name.slice(this.#rootLink.length);
    else return { found: false, unresolvable: "it lies outside the process's root" };
    if (this.#rootMount === undefined) return { found: false, unresolvable: NO_MOUNT };
    const pending = inner.split("/").reverse();
    let dir = "";
    let mount = this.#rootMount;
    let found: (Lookup & { found: true }) | undefined;
    let links = 0;
    while (pending.length > 0) {
      const part = pending.pop()!;
      if (part === "" || part === ".") continue;
      if (found !== undefined && !this.#isDirectory(dir)) return MISSING;
      if (part === "..") {
        dir = dir.slice(0, dir.lastIndexOf("/"));
        mount = this.#mountOfDir(dir);
        found = undefined;
        continue;
      }
      const path = `${dir}/${part}`;
      let entry = this.#entries.get(path);
      if (entry === undefined) {
        const step = this.#step(anchor, path, mount);
        if (!("link" in step)) return step;
        entry = step;
      }
      if (entry.link) {
        if (++links > MAX_LINKS) return { found: false, unresolvable: "too many symbolic links" };
        if (entry.target.startsWith("/")) {
          dir = "";
          mount = this.#rootMount;
        }
        pending.push(...entry.target.split("/").reverse());
        found = undefined;
        continue;
      }
      dir = path;
      mount = entry.mount;
      found = entry.found;
    }
    if (found !== undefined) return found;
    // The root itself, or a directory reached by `..`: stat'ed, free of links.
    if (!isLocalType(mount.type)) {
      return { found: false, unresolvable: "its file system is not asked" };
    }
    try {
      return foundAt(Deno.statSync(anchor + (dir || "/")), mount);
    } catch (error) {
      classifyReadError(error);
      return { found: false, unresolvable: EXITED };
    }
  }

  /**
   * One component not met before: its mount checked, then `lstat`ed. A
   * directory or link is remembered; a file is returned as found (a name
   * with more components after it is then missing, as the walk sees).
   */
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
      return this.#remember(path, { link: true, target });
    }
    const found = foundAt(info, mount);
    if (info.isDirectory) return this.#remember(path, { link: false, mount, found });
    return { link: false, mount, found };
  }

  #remember(path: string, entry: Entry): Entry {
    this.#entries.set(path, entry);
    return entry;
  }

  #isDirectory(dir: string): boolean {
    return dir === "" || this.#entries.get(dir)?.link === false;
  }

  /** The mount of a directory met before (or of the root). */
  #mountOfDir(dir: string): Mount {
    const entry = dir === "" ? undefined : this.#entries.get(dir);
    return entry !== undefined && !entry.link ? entry.mount : this.#rootMount!;
  }

  /** The mount whose mount point is exactly `path` (inside the root), if any. */
  #mountPointAt(path: string): Mount | undefined {
    return this.#table.byPoint.get(path) ?? this.#outer?.byPoint.get(this.#rootLink + path);
  }
}

const NO_MOUNT = "no mount holds its path";
const EXITED_LOOKUP: Lookup = Object.freeze({ found: false, unresolvable: EXITED });

function foundAt(info: Deno.FileInfo, mount: Mount): Lookup & { found: true } {
  return {
    found: true,
    dev: info.dev,
    ino: info.ino ?? -1,
    type: mount.type,
    changedMs: lastChange(info),
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

/** A name not found is missing only while the process's root is still there. */
function stillThere(anchor: string): boolean {
  try {
    Deno.readLinkSync(anchor);
    return true;
  } catch (error) {
    classifyReadError(error);
    return false;
  }
}
