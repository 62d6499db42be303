/**
 * Which tree each process sees, and which file system a device or mount ID
 * names.
 *
 * Most processes share the scanner's own tree (its mount namespace, root
 * `/`): they are walked through the scanner's own root with its own mount
 * table, which no process can change, and what one walk learns serves every
 * such process. Any other tree (a container, a chroot) is only as its
 * processes show it, and a process may move its own root while it is read
 * (an unprivileged user namespace allows `chroot`): such a tree is read and
 * walked for that process alone, so a process can mislead the scan about
 * itself, never about another.
 *
 * Devices and mount IDs name one file system wherever they are seen, so every
 * table read adds to what the scan knows of them; a tree is read again at most
 * once, when asked about one it does not know.
 *
 * @module
 */

import { type Mount, type MountTable, parseMountInfo } from "../proc/mounts.ts";
import { classifyReadError, readLinkName, readWholeName } from "../proc/procfs.ts";
import { PathWalker, type Walker } from "./path_walk.ts";
import { PinnedWalker } from "./pinned_walk.ts";
import { decodeName } from "../proc/names.ts";
import type { Syscalls } from "../proc/syscalls.ts";

/** The tree a process sees, and how to walk it. */
export interface View {
  /** `mnt:[INODE]`, the target of `/proc/PID/ns/mnt`. */
  readonly ns: string;
  /** The root as the scanner names it (`/` for most, the directory of a chroot). */
  readonly rootLink: string;
  /** Where walks start: `""` (the scanner's own root) or `/proc/PID/root`. */
  readonly anchor: string;
  /** Walks names in this tree: on descriptors where the system calls are at hand, else by path. */
  readonly walker: Walker;
  /** Whether this is the scanner's own tree: what is learnt in it serves every process in it. */
  readonly shared: boolean;
}

/** A mount namespace and a root, as `/proc/PID/ns/mnt` and `/proc/PID/root` name them. */
interface Place {
  readonly ns: string;
  readonly rootLink: string;
}

/** A namespace's mount table that is known to be current: read through a descriptor held open. */
interface Current {
  readonly fd: number;
  table: MountTable;
}

/** The views and mounts of one scan of `proc`, learnt as processes need them. */
export class Views {
  readonly #proc: string;
  readonly #sys: Syscalls | null;
  /** Current tables by namespace (`mnt:[…]`); null where one cannot be held. */
  readonly #current = new Map<string, Current | null>();
  readonly #byDevice = new Map<string, Mount>();
  readonly #byId = new Map<number, Mount>();
  /** How many times each tree (`ns \0 root`) was read: once, and again at most once. */
  readonly #reads = new Map<string, number>();
  #scanner: { place: Place; table: MountTable } | null | undefined;
  #shared: View | null = null;
  /** The view of the process asked about last: a scan asks about one process at a time. */
  #lastPid = -1;
  #lastView: View | null = null;

  /**
   * @param proc The proc root (a confirmed procfs).
   * @param sys The system calls for walks on descriptors, or null to walk by path.
   */
  constructor(proc: string, sys: Syscalls | null) {
    this.#proc = proc;
    this.#sys = sys;
  }

  /** Releases every descriptor the views hold. */
  close(): void {
    this.#release(this.#lastView);
    if (this.#shared?.walker instanceof PinnedWalker) this.#shared.walker.close();
    for (const current of this.#current.values()) if (current) this.#sys?.close(current.fd);
    this.#current.clear();
  }

  /**
   * The mount with ID `id` now, by the table of the namespace of `pid` or the
   * scanner's, each read again when it changed since it was read. Only sound
   * for an ID a held descriptor keeps from being reused.
   */
  currentMount(pid: number, id: number): Mount | undefined {
    const own = this.#scannerTree();
    if (own === null) return undefined;
    const mine = this.#currentOf(own.place.ns, "self");
    const found = mine?.table.byId.get(id);
    if (found !== undefined) return found;
    const place = this.#place(pid);
    if (place === null || place.ns === own.place.ns) return undefined;
    return this.#currentOf(place.ns, pid)?.table.byId.get(id);
  }

  /** The current table of namespace `ns`, held through a `mountinfo` of `pid` (in it). */
  #currentOf(ns: string, pid: number | "self"): Current | null {
    const sys = this.#sys;
    if (sys === null) return null;
    let current = this.#current.get(ns);
    if (current === undefined) {
      const fd = sys.openRead(`${this.#proc}/${pid}/mountinfo`);
      const text = fd < 0 ? null : sys.readWhole(fd);
      // It must still be that namespace's: the process may have left it, or exited.
      const place = this.#place(pid);
      current = text === null || place === null || place.ns !== ns
        ? null
        : { fd, table: parseMountInfo(decodeName(text)) };
      if (current === null && fd >= 0) sys.close(fd);
      this.#current.set(ns, current);
      return current;
    }
    // poll() says whether a mount came or went since the table was read.
    if (current !== null && sys.changed(current.fd)) {
      const text = sys.readWhole(current.fd);
      if (text !== null) current.table = parseMountInfo(decodeName(text));
    }
    return current;
  }

  /** The mount of the file system `device` (`MAJOR:MINOR`) names, as seen by process `pid`. */
  mountOfDevice(pid: number, device: string): Mount | undefined {
    this.#scannerTree();
    return this.#byDevice.get(device) ??
      (this.#learn(pid) ? this.#byDevice.get(device) : undefined);
  }

  /** The mount with ID `id` (as `fdinfo` names it), as seen by process `pid`. */
  mountOfId(pid: number, id: number): Mount | undefined {
    this.#scannerTree();
    return this.#byId.get(id) ?? (this.#learn(pid) ? this.#byId.get(id) : undefined);
  }

  /** The view of process `pid`, or null when its namespace, root or mounts cannot be read. */
  viewOf(pid: number): View | null {
    if (pid !== this.#lastPid) {
      this.#release(this.#lastView);
      this.#lastPid = pid;
      this.#lastView = this.#readView(pid);
    }
    return this.#lastView;
  }

  /** Releases a process's own view (the scanner's own is kept for the scan). */
  #release(view: View | null): void {
    if (view !== null && !view.shared && view.walker instanceof PinnedWalker) view.walker.close();
  }

  #readView(pid: number): View | null {
    const own = this.#scannerTree();
    const place = this.#place(pid);
    if (place === null || own === null) return null;
    const sys = this.#sys;
    if (place.ns === own.place.ns && place.rootLink === "/") {
      this.#shared ??= {
        ...place,
        anchor: "",
        walker: sys
          ? new PinnedWalker(sys, "/", "/", (id) => this.currentMount(pid, id))
          : new PathWalker("/", own.table, null),
        shared: true,
      };
      return this.#shared;
    }
    if (sys) {
      return {
        ...place,
        anchor: `${this.#proc}/${pid}/root`,
        walker: new PinnedWalker(
          sys,
          `${this.#proc}/${pid}/root`,
          place.rootLink,
          (id) => this.currentMount(pid, id),
        ),
        shared: false,
      };
    }
    const table = this.#readTable(pid, place);
    if (table === null) return null;
    // Same namespace, chrooted: the scanner's table names the mounts above the root.
    const outer = place.ns === own.place.ns ? own.table : null;
    return {
      ...place,
      anchor: `${this.#proc}/${pid}/root`,
      walker: new PathWalker(place.rootLink, table, outer),
      shared: false,
    };
  }

  /**
   * Reads the tree of `pid` (the scanner's own, for a process in it) when it
   * was not read yet, or was read only once: true when a table was read.
   */
  #learn(pid: number): boolean {
    const own = this.#scannerTree();
    const place = this.#place(pid);
    if (place === null || own === null) return false;
    const key = `${place.ns}\0${place.rootLink}`;
    const reads = this.#reads.get(key) ?? 0;
    if (reads >= 2) return false;
    this.#reads.set(key, reads + 1);
    if (place.ns === own.place.ns && place.rootLink === "/") {
      // The scanner's own table, read again: never a process's word for the shared tree.
      const table = this.#readTable("self", own.place);
      if (table === null) return false;
      this.#scanner = { place: own.place, table };
      this.#shared = null;
    } else if (this.#readTable(pid, place) === null) {
      return false;
    }
    // The process's view was made from the table before.
    if (pid === this.#lastPid) this.#lastPid = -1;
    return true;
  }

  /** The mount namespace and root of `pid`, or null when they cannot be read. */
  #place(pid: number | "self"): Place | null {
    try {
      return {
        ns: readLinkName(`${this.#proc}/${pid}/ns/mnt`),
        rootLink: readLinkName(`${this.#proc}/${pid}/root`),
      };
    } catch (error) {
      classifyReadError(error);
      return null;
    }
  }

  /**
   * Reads the mount table of `pid`, which was in `place`, and learns its
   * devices and mount IDs: only from a table read whole, of a process that
   * stayed there meanwhile (one that exited, or entered a chroot or namespace,
   * would give a table of some other tree).
   */
  #readTable(pid: number | "self", place: Place): MountTable | null {
    let table: MountTable;
    try {
      table = parseMountInfo(readWholeName(`${this.#proc}/${pid}/mountinfo`));
    } catch (error) {
      classifyReadError(error);
      return null;
    }
    const after = this.#place(pid);
    if (after === null || after.ns !== place.ns || after.rootLink !== place.rootLink) return null;
    for (const [device, mount] of table.byDevice) {
      if (!this.#byDevice.has(device)) this.#byDevice.set(device, mount);
    }
    for (const [id, mount] of table.byId) this.#byId.set(id, mount);
    return table;
  }

  /** The scanner's own tree, read first: it knows the devices of most processes. */
  #scannerTree(): { place: Place; table: MountTable } | null {
    if (this.#scanner === undefined) {
      const place = this.#place("self");
      const table = place === null ? null : this.#readTable("self", place);
      this.#scanner = place === null || table === null ? null : { place, table };
      if (place !== null) this.#reads.set(`${place.ns}\0${place.rootLink}`, 1);
    }
    return this.#scanner;
  }
}
