/**
 * Which tree each process sees, and which file system a device or mount ID
 * names, learnt from the processes' own mount tables: each table is read once
 * per tree (mount namespace and root), and again only when it is asked about
 * a device or mount it does not know.
 *
 * @module
 */

import { type Mount, type MountTable, parseMountInfo } from "./mounts.ts";
import { classifyReadError, readLinkName, readWholeName } from "./procfs.ts";
import { PathWalker } from "./path_walk.ts";

/** Processes that see the same tree: one mount namespace and one root. */
export interface View {
  /** `mnt:[INODE]`, the target of `/proc/PID/ns/mnt`. */
  readonly ns: string;
  /** The root as the scanner names it (`/` for most, the directory of a chroot). */
  readonly rootLink: string;
  /** Walks names in this tree. */
  readonly walker: PathWalker;
}

/** A tree's mount table, as read from one of its processes. */
interface Tree {
  readonly ns: string;
  readonly rootLink: string;
  readonly table: MountTable;
}

/** The views and mounts of one scan of `proc`, learnt as processes need them. */
export class Views {
  readonly #proc: string;
  // Devices and mount IDs name one file system wherever they are seen, so the
  // table of every tree read serves every process.
  readonly #byDevice = new Map<string, Mount>();
  readonly #byId = new Map<number, Mount>();
  readonly #trees = new Map<string, Tree>();
  readonly #views = new Map<string, View>();
  /** What was already looked for again in a tree's fresh table: `tree key \0 device or id`. */
  readonly #askedAgain = new Set<string>();
  #scanner: Tree | null | undefined;
  /** The view of the process asked about last: a scan asks about one process at a time. */
  #lastPid = -1;
  #lastView: View | null = null;

  /** @param proc The proc root (a confirmed procfs). */
  constructor(proc: string) {
    this.#proc = proc;
  }

  /** The mount of the file system `device` (`MAJOR:MINOR`) names, as seen by process `pid`. */
  mountOfDevice(pid: number, device: string): Mount | undefined {
    this.#scannerTree();
    return this.#byDevice.get(device) ??
      this.#learn(pid, `d${device}`, () => this.#byDevice.get(device));
  }

  /** The mount with ID `id` (as `fdinfo` names it), as seen by process `pid`. */
  mountOfId(pid: number, id: number): Mount | undefined {
    this.#scannerTree();
    return this.#byId.get(id) ?? this.#learn(pid, `i${id}`, () => this.#byId.get(id));
  }

  /** The view of process `pid`, or null when its namespace, root or mounts cannot be read. */
  viewOf(pid: number): View | null {
    if (pid !== this.#lastPid) {
      this.#lastPid = pid;
      this.#lastView = this.#readView(pid);
    }
    return this.#lastView;
  }

  #readView(pid: number): View | null {
    const own = this.#scannerTree();
    const tree = this.#treeOf(pid);
    if (tree === null) return null;
    const key = `${tree.ns}\0${tree.rootLink}`;
    let view = this.#views.get(key);
    if (view === undefined) {
      // Same namespace, chrooted: the scanner's table names the mounts above the root.
      const outer = own !== null && own.ns === tree.ns && tree.rootLink !== "/" ? own.table : null;
      view = {
        ns: tree.ns,
        rootLink: tree.rootLink,
        walker: new PathWalker(tree.rootLink, tree.table, outer),
      };
      this.#views.set(key, view);
    }
    return view;
  }

  /** Reads the tree of `pid` again when a device or ID is not known yet, once per tree and thing. */
  #learn(pid: number, what: string, find: () => Mount | undefined): Mount | undefined {
    const place = this.#place(pid);
    if (place === null) return undefined;
    const key = `${place.ns}\0${place.rootLink}`;
    const known = this.#trees.get(key);
    if (known === undefined) {
      if (this.#readTree(pid, place) === null) return undefined;
      const found = find();
      if (found !== undefined) return found;
    } else {
      const found = find();
      if (found !== undefined) return found;
    }
    // A mount may have come after the table was read: read it once more for this.
    if (this.#askedAgain.has(`${key}\0${what}`)) return undefined;
    this.#askedAgain.add(`${key}\0${what}`);
    if (known !== undefined) this.#readTree(pid, place);
    return find();
  }

  /** The tree of `pid`, its table read once. */
  #treeOf(pid: number): Tree | null {
    const place = this.#place(pid);
    if (place === null) return null;
    return this.#trees.get(`${place.ns}\0${place.rootLink}`) ?? this.#readTree(pid, place);
  }

  /** The mount namespace and root of `pid`, or null when they cannot be read. */
  #place(pid: number | "self"): { ns: string; rootLink: string } | null {
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
   * Reads the mount table of `pid`, which was in `place`. The tree serves
   * every later process of that namespace and root: it is kept only from a
   * table read whole, of a process that stayed there meanwhile (one that
   * exited, or entered a chroot or namespace, would leave every later process
   * of the tree without mounts).
   */
  #readTree(pid: number | "self", place: { ns: string; rootLink: string }): Tree | null {
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
    const tree = { ...place, table };
    const key = `${place.ns}\0${place.rootLink}`;
    this.#trees.set(key, tree);
    // A table read again (a mount it did not know) makes a new walker: the old one's would miss it.
    if (this.#views.delete(key)) this.#lastPid = -1;
    return tree;
  }

  /** The scanner's own tree, read first: it knows the devices of most processes. */
  #scannerTree(): Tree | null {
    if (this.#scanner === undefined) {
      const place = this.#place("self");
      this.#scanner = place === null ? null : this.#readTree("self", place);
    }
    return this.#scanner;
  }
}
