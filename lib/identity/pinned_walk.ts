/**
 * Lookups inside a process's root on file descriptors: each step is taken
 * from the descriptor of the one before, so nothing checked is ever resolved
 * again from a string, and the mount of each new descriptor is checked before
 * anything asks its file system.
 *
 * Most lookups are one `openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_XDEV`:
 * the kernel resolves the name inside the root and inside the root's mount,
 * which was checked when the root was opened. A name that crosses a mount is
 * walked one component at a time (`openat` with `O_PATH | O_NOFOLLOW`, which
 * crosses into a mount's root without asking it anything), and the new
 * mount's type is read, from a table known to be current, before the next
 * component is looked up in it.
 *
 * @module
 */

import { isLocalType, type Mount } from "../proc/mounts.ts";
import {
  EXITED,
  type Lookup,
  MAX_LINKS,
  OUT_OF_STEPS,
  SIZED_DIRECTORIES,
  type WalkBudget,
  type Walker,
} from "./path_walk.ts";
import { hasRawBytes } from "../proc/names.ts";
import {
  AT_FDCWD,
  EAGAIN,
  ELOOP,
  ENOENT,
  ENOSYS,
  ENOTDIR,
  EXDEV,
  type FdStat,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  type Syscalls,
} from "../proc/syscalls.ts";

/** The current mount of a mount ID that a held descriptor keeps from being reused, or undefined. */
export type MountById = (id: number) => Mount | undefined;

const MISSING: Lookup = Object.freeze({ found: false });

/** A descriptor the walk holds, and the mount it lies on. */
interface Held {
  readonly fd: number;
  readonly mount: Mount;
}

/**
 * Walks names inside one root held open. Made per process (or once for the
 * scanner's own root); {@linkcode PinnedWalker.close} releases the root.
 */
export class PinnedWalker implements Walker {
  readonly #sys: Syscalls;
  readonly #rootLink: string;
  readonly #mountById: MountById;
  readonly #root: Held | string;

  /**
   * Opens `rootPath` (`/` or `/proc/PID/root`) and checks its mount.
   *
   * @param rootLink The root as the scanner names it, to tell names inside it.
   * @param mountById The current mount of an ID (see {@linkcode MountById}).
   */
  constructor(sys: Syscalls, rootPath: string, rootLink: string, mountById: MountById) {
    this.#sys = sys;
    this.#rootLink = rootLink;
    this.#mountById = mountById;
    const fd = sys.openPath(AT_FDCWD, rootPath, true);
    if (fd < 0) {
      this.#root = fd === -ENOENT ? EXITED : "the process's root cannot be opened";
      return;
    }
    const mount = this.#mountOf(fd);
    if (typeof mount === "string") {
      sys.close(fd);
      this.#root = mount;
    } else this.#root = { fd, mount };
  }

  /** Releases the root. */
  close(): void {
    if (typeof this.#root !== "string") this.#sys.close(this.#root.fd);
  }

  /** What `name` (as the scanner's `/proc` prints it) leads to inside the root; see `PathWalker.lookUp`. */
  lookUp(_anchor: string, name: string, budget: WalkBudget = { steps: Infinity }): Lookup {
    const held = this.#open(name, budget);
    if (!("fd" in held)) return held;
    try {
      const stat = this.#sys.stat(held.fd);
      if (typeof stat === "number") return { found: false, unresolvable: EXITED };
      return found(stat, held.mount);
    } finally {
      this.#sys.close(held.fd);
    }
  }

  /** The names in the directory `name` leads to; see `PathWalker.names`. */
  names(
    _anchor: string,
    name: string,
    maxBytes: number,
    budget: WalkBudget = { steps: Infinity },
  ): ReadonlySet<string> | null {
    const held = this.#open(name, budget);
    if (!("fd" in held)) return null;
    try {
      if (!SIZED_DIRECTORIES.has(held.mount.type)) return null;
      const stat = this.#sys.stat(held.fd);
      if (typeof stat === "number" || (stat.mode & S_IFMT) !== S_IFDIR) return null;
      if (stat.size === 0 || stat.size > maxBytes) return null;
      // Through our own descriptor's link: the pinned directory itself, named by no string.
      return new Set([...Deno.readDirSync(`/proc/self/fd/${held.fd}`)].map((e) => e.name));
    } catch {
      return null;
    } finally {
      this.#sys.close(held.fd);
    }
  }

  /** A descriptor of what `name` leads to, and its mount, or why there is none. */
  #open(name: string, budget: WalkBudget): Held | Lookup {
    if (typeof this.#root === "string") return { found: false, unresolvable: this.#root };
    if (hasRawBytes(name)) return { found: false, unresolvable: "its name is not valid UTF-8" };
    let inner: string;
    if (this.#rootLink === "/") inner = name;
    else if (name === this.#rootLink) inner = "/";
    else if (name.startsWith(`${this.#rootLink}/`)) inner = name.slice(this.#rootLink.length);
    else return { found: false, unresolvable: "it lies outside the process's root" };
    if (--budget.steps < 0) return { found: false, unresolvable: OUT_OF_STEPS };
    const fd = this.#sys.openInRoot(this.#root.fd, inner);
    if (fd >= 0) return { fd, mount: this.#root.mount };
    // EAGAIN: a rename anywhere on the system meanwhile kept the kernel from
    // proving that a `..` stays inside the root; the walk by components needs no such proof.
    if (fd === -EXDEV || fd === -ENOSYS || fd === -EAGAIN) return this.#walk(inner, budget);
    return failed(fd);
  }

  /** The name one component at a time, checking each mount it enters. */
  #walk(inner: string, budget: WalkBudget): Held | Lookup {
    const root = this.#root as Held;
    const sys = this.#sys;
    // The places walked through, each held; the root is not ours to close.
    const places: (Held & { dir: boolean })[] = [{ ...root, dir: true }];
    const release = (from: number) => {
      for (const place of places.splice(from)) sys.close(place.fd);
    };
    const pending = inner.split("/").reverse();
    let links = 0;
    try {
      while (pending.length > 0) {
        const part = pending.pop()!;
        const here = places[places.length - 1]!;
        if (!here.dir) return MISSING;
        if (part === "" || part === ".") continue;
        if (part === "..") {
          if (places.length > 1) release(places.length - 1);
          continue;
        }
        if (--budget.steps < 0) return { found: false, unresolvable: OUT_OF_STEPS };
        const fd = sys.openPath(here.fd, part, false);
        if (fd < 0) return failed(fd);
        const mount = this.#mountOf(fd, here.mount);
        if (typeof mount === "string") {
          sys.close(fd);
          return { found: false, unresolvable: mount };
        }
        const stat = sys.stat(fd);
        if (typeof stat === "number") {
          sys.close(fd);
          return { found: false, unresolvable: EXITED };
        }
        if ((stat.mode & S_IFMT) === S_IFLNK) {
          const target = sys.readLink(fd);
          sys.close(fd);
          if (typeof target === "number") {
            return { found: false, unresolvable: "a link on its path cannot be read" };
          }
          if (hasRawBytes(target)) {
            return { found: false, unresolvable: "a link on its path is not valid UTF-8" };
          }
          if (++links > MAX_LINKS) return { found: false, unresolvable: "too many symbolic links" };
          if (target.startsWith("/")) release(1);
          pending.push(...target.split("/").reverse());
          continue;
        }
        places.push({ fd, mount, dir: (stat.mode & S_IFMT) === S_IFDIR });
      }
      const last = places.pop()!;
      if (places.length === 0) {
        // The root itself: a descriptor of our own, as callers close what they get.
        const fd = sys.openPath(root.fd, ".", false);
        places.push(last);
        return fd < 0 ? failed(fd) : { fd, mount: root.mount };
      }
      return { fd: last.fd, mount: last.mount };
    } finally {
      release(1);
    }
  }

  /**
   * The mount a descriptor lies on, when it is local; else why not. `known`
   * is the mount of the directory it was looked up in: the same ID needs no
   * table.
   */
  #mountOf(fd: number, known?: Mount): Mount | string {
    const id = this.#sys.mountId(fd);
    if (id < 0) return "its mount cannot be read";
    const mount = known?.id === id ? known : this.#mountById(id);
    if (mount === undefined) return `its mount ${id} is in no current mount table`;
    if (!isLocalType(mount.type)) return `its path crosses ${mount.type}, which is not asked`;
    return mount;
  }
}

function failed(error: number): Lookup {
  if (error === -ENOENT || error === -ENOTDIR) return MISSING;
  if (error === -ELOOP) return { found: false, unresolvable: "too many symbolic links" };
  return { found: false, unresolvable: "a directory on its path cannot be read" };
}

function found(stat: FdStat, mount: Mount): Lookup & { found: true } {
  // Each is at most the true ctime (see `lastChange` in path_walk.ts).
  const changed = Math.max(stat.ctimeMs, stat.mtimeMs, stat.birthtimeMs);
  return {
    found: true,
    dev: stat.dev,
    ino: stat.ino,
    type: mount.type,
    changedMs: changed > 0 ? changed : null,
    ctimeMs: stat.ctimeMs > 0 ? stat.ctimeMs : null,
  };
}
