/**
 * Whether a file a process uses is still the file at its path, judged in the
 * process's own view of the file system, without ever asking a file system
 * that may not answer.
 *
 * The rule: a mapped or open file is stale when the object the process uses
 * (device and inode) is not the object now found at its path inside the
 * process's root (`/proc/PID/root`), where the path is the name as printed or
 * that name less the kernel's ` (deleted)` marker. Where that cannot be
 * checked (no `map_files`, no root, a file system that is not local, a name
 * that is not UTF-8), the kernel's marker decides and the verdict says why.
 *
 * @module
 */

import { deviceName, isLocalType, isStackingType, type Mount } from "../proc/mounts.ts";
import { AT_FDCWD, ENOENT, openSyscalls, type Syscalls } from "../proc/syscalls.ts";
import { mapFilesName, type MappedFile, type UsedFile } from "../proc/maps.ts";
import { hasRawBytes } from "../proc/names.ts";
import { classifyReadError, WholeReader } from "../proc/procfs.ts";
import { type View, Views } from "./views.ts";
import { type Lookup, OUT_OF_STEPS, type WalkBudget } from "./path_walk.ts";

/**
 * What stands at a stale file's path now, in its process's root: another file
 * (`replaced`: what an update does) or nothing (`deleted`: often a temporary
 * file a program maps and unlinks on purpose, or a removed package's).
 */
export type FileState = "replaced" | "deleted";

/** What the identity rule says of one file a process uses. */
export interface IdentityVerdict {
  /** Whether the file counts as stale. */
  readonly stale: boolean;
  /** Present when the kernel's marker decided: why identity could not be checked. */
  readonly unverified?: string;
  /** Why a file the kernel did not mark is stale (its file system was unmounted). */
  readonly reason?: string;
  /** Of a stale file: what stands at its path now; absent when that is not known. */
  readonly state?: FileState;
  /**
   * Of a stale file: when it was replaced, in ms since the epoch. The change
   * time of the file now at its path; of a file with nothing at its path, its
   * own (when it left its path, unless written since). Absent when unknown.
   */
  readonly replacedAt?: number;
}

const NOT_STALE: IdentityVerdict = Object.freeze({ stale: false });
const STALE: IdentityVerdict = Object.freeze({ stale: true });
/** Of a crowd whose directory lacks both its names: nothing is at its path. */
const DELETED_IN_CROWD: IdentityVerdict = Object.freeze({ stale: true, state: "deleted" });

/**
 * A stale verdict with what stands at its path, and since when: a change
 * time (ms, or null), which no owner can set, unlike a modification time.
 */
function staleBy(state: FileState | undefined, ctimeMs: number | null): IdentityVerdict {
  return {
    stale: true,
    ...(state === undefined ? {} : { state }),
    ...(ctimeMs === null ? {} : { replacedAt: ctimeMs }),
  };
}

/** The kernel's marker decides: stale, and why the identity rule could not. */
function byMarker(unverified: string): IdentityVerdict {
  return { stale: true, unverified };
}

/** The identity checks of one scan, with what they share across processes. */
export interface IdentityJudge {
  /** Judges a mapping of process `pid`, given its address range as maps prints it. */
  mapping(pid: number, file: MappedFile, range: string): IdentityVerdict;
  /** Judges an open file of process `pid`: the name of its entry in `/proc/PID/fd`. */
  openFile(pid: number, file: UsedFile, fd: string): IdentityVerdict;
  /**
   * The object open file `fd` of process `pid` is, for a file whose name the
   * kernel will not return (longer than a page): its links tell whether it
   * was deleted. A reason instead when it could not be asked.
   */
  unnamedOpenFile(pid: number, fd: string): ObjectId | string;
  /**
   * Whether the file system of `device` (`MAJOR:MINOR`, decimal) is in the
   * scanner's mount table or in that of process `pid`: one that is in neither
   * was unmounted (or swapped) under the process.
   */
  mountedDevice(pid: number, device: string): boolean;
  /**
   * Judges a mapping the kernel did not mark, whose file system is mounted
   * nowhere: stale when its path, in the process's root, now names another
   * file; unverifiable when nothing is there. Its own file system is never asked.
   */
  unmountedMapping(pid: number, file: MappedFile): IdentityVerdict;
  /** Releases what the checks hold open (descriptors of roots and mount tables). */
  close(): void;
  /**
   * How the file at `path` (absolute, as process `pid` names it) stands in the
   * process's own root: gone, changed (when it last changed, in ms) or a reason it could
   * not be asked. File systems that may not answer are never asked.
   */
  fileAt(pid: number, path: string): FileAt;
}

/** What {@linkcode IdentityJudge.fileAt} found. */
export type FileAt =
  | { readonly found: true; readonly changedMs: number | null; readonly ctimeMs: number | null }
  | { readonly found: false; readonly unresolvable?: string };

/**
 * Makes the identity checks of one scan of `proc`.
 *
 * A file's object is the device and inode `stat` reports through the
 * process's own `/proc` link (`map_files`, `fd`), asked only once the maps
 * device or fdinfo mount shows the file system is local. An object linked
 * nowhere (no links left) is stale in every tree without a lookup; others are
 * looked up by name in the process's tree and compared with what `stat`
 * reports there. The maps device only finds the mount: btrfs subvolumes and
 * overlay layers report devices of their own, so an identity is always the
 * pair `stat` gives, on both sides.
 */
export function createIdentityJudge(proc: string, options: JudgeOptions = {}): IdentityJudge {
  return new LiveJudge(proc, options);
}

/** The identity checks of a live procfs (see {@linkcode createIdentityJudge}). */
class LiveJudge implements IdentityJudge {
  readonly #proc: string;
  readonly #sys: Syscalls | null;
  readonly #views: Views;
  readonly #verdicts = new Verdicts();
  readonly #crowds = new Crowds();
  readonly #reader = new WholeReader();
  readonly #budget: Budget;
  readonly #states: boolean;

  constructor(proc: string, options: JudgeOptions) {
    this.#proc = proc;
    this.#states = options.states ?? false;
    this.#sys = options.syscalls === undefined ? openSyscalls() : options.syscalls;
    this.#views = new Views(proc, this.#sys);
    this.#budget = new Budget(options.deadline);
  }

  mapping(pid: number, file: MappedFile, range: string): IdentityVerdict {
    // Inode 0 names no file (pseudo mappings).
    if (file.inode === "0") return byMarker("it has no inode");
    const known = this.#verdicts.everywhere.get(file);
    // An object linked nowhere is stale in every tree; what stands at its path is the tree's.
    if (known !== undefined) {
      if (!this.#states || !known.stale || known.unverified !== undefined) return known;
      // The lookup is this process's to pay: past its budget, no state, as a cut lookup.
      return this.#budget.spent(pid) === undefined
        ? this.#withState(pid, file, file, known)
        : known;
    }
    const spent = this.#budget.spent(pid);
    if (spent !== undefined) return byMarker(spent);
    if (this.#absentFromCrowd(pid, file)) return DELETED_IN_CROWD;
    const mount = this.#views.mountOfDevice(pid, file.device);
    if (mount === undefined) {
      return byMarker(`its device ${file.device} is in no mount table the scan could read`);
    }
    if (!isLocalType(mount.type)) {
      return this.#verdicts.keepEverywhere(file, byMarker(notAsked(mount.type)));
    }
    const object = this.#objectAt(
      pid,
      `${this.#proc}/${pid}/map_files/${mapFilesName(range)}`,
      mount,
    );
    if (typeof object === "string") return byMarker(object);
    if (String(object.ino) !== file.inode) return byMarker(CHANGED);
    // Where stat and maps agree on the device, the maps line names this very
    // object for every process; elsewhere (btrfs) only the stat does.
    const named = deviceName(object.dev) === file.device ? file : null;
    return this.#judgeObject(pid, named, file, object);
  }

  openFile(pid: number, file: UsedFile, fd: string): IdentityVerdict {
    const spent = this.#budget.spent(pid);
    if (spent !== undefined) return byMarker(spent);
    if (this.#absentFromCrowd(pid, file)) return DELETED_IN_CROWD;
    const object = this.#openObject(pid, fd);
    if (typeof object === "string") return byMarker(object);
    const verdict = this.#judgeObject(pid, null, file, object);
    // An open file's own change time moves with every write (a deleted log still written):
    // it says when it was written last, not when it left its path.
    if (verdict.state === "replaced" || verdict.replacedAt === undefined) return verdict;
    const { replacedAt: _, ...undated } = verdict;
    return undated;
  }

  unnamedOpenFile(pid: number, fd: string): ObjectId | string {
    return this.#budget.spent(pid) ?? this.#openObject(pid, fd);
  }

  mountedDevice(pid: number, device: string): boolean {
    return this.#views.mountOfDevice(pid, device) !== undefined;
  }

  unmountedMapping(pid: number, file: MappedFile): IdentityVerdict {
    const unmounted = `its file system (device ${file.device}) is mounted nowhere now`;
    const spent = this.#budget.spent(pid);
    if (spent !== undefined) return byMarker(`${unmounted}, and ${spent}`);
    const view = this.#views.viewOf(pid);
    if (view === null) return byMarker(`${unmounted}, and ${ROOT_UNREADABLE}`);
    const found = view.walker.lookUp(view.anchor, file.path, this.#budget.walks);
    if (!found.found) {
      return byMarker(`${unmounted}, and ${found.unresolvable ?? "nothing is at its path"}`);
    }
    if (deviceName(found.dev) === file.device && String(found.ino) === file.inode) {
      return NOT_STALE;
    }
    return {
      ...staleBy("replaced", found.ctimeMs),
      reason: `${unmounted}: its path names another file`,
    };
  }

  close(): void {
    this.#views.close();
  }

  fileAt(pid: number, path: string): FileAt {
    const spent = this.#budget.spent(pid);
    if (spent !== undefined) return { found: false, unresolvable: spent };
    const view = this.#views.viewOf(pid);
    if (view === null) return { found: false, unresolvable: ROOT_UNREADABLE };
    const found = view.walker.lookUp(view.anchor, path, this.#budget.walks);
    return found.found
      ? { found: true, changedMs: found.changedMs, ctimeMs: found.ctimeMs }
      : found;
  }

  /**
   * `verdict` (stale, its object linked nowhere) with what stands at its path
   * in process `pid`'s tree: looked up once for the scanner's own tree, under
   * `key` (the maps line, or the object and name), and per process elsewhere.
   */
  #withState(
    pid: number,
    key: MappedFile | string,
    file: UsedFile,
    verdict: IdentityVerdict,
  ): IdentityVerdict {
    const view = this.#views.viewOf(pid);
    if (view === null) return verdict;
    if (!view.shared) return withStateAt(view, file.path, verdict, this.#budget.walks);
    const known = this.#verdicts.stateInSharedTree.get(key);
    if (known !== undefined) return known;
    const found = withStateAt(view, file.path, verdict, this.#budget.walks);
    // A lookup its process's budget cut short speaks for no other process.
    return found.state === undefined ? found : this.#verdicts.keepStateInSharedTree(key, found);
  }

  /** The object open file `fd` of process `pid` is, found by its fdinfo mount, or why it is not asked. */
  #openObject(pid: number, fd: string): PinnedObject | string {
    const dir = `${this.#proc}/${pid}`;
    let info: { mountId: number; ino: string | undefined };
    try {
      info = parseFdInfo(this.#reader.read(`${dir}/fdinfo/${fd}`));
    } catch (error) {
      classifyReadError(error);
      return "its fdinfo cannot be read";
    }
    // With the system calls, by a table known to be current: opening the link may revalidate
    // an NFS file's name with its server, so NFS must be known before the link is opened.
    const mount = this.#sys
      ? this.#views.currentMount(pid, info.mountId)
      : this.#views.mountOfId(pid, info.mountId);
    if (mount === undefined) return `its mount ${info.mountId} is in no mount table`;
    if (!isLocalType(mount.type)) return notAsked(mount.type);
    const object = this.#objectAt(pid, `${dir}/fd/${fd}`, mount);
    // Kernels before 5.14 print no inode in fdinfo: the stat alone names the object.
    if (typeof object !== "string" && info.ino !== undefined && String(object.ino) !== info.ino) {
      return CHANGED;
    }
    return object;
  }

  /**
   * The object a `/proc` link of process `pid` leads to, or why it is not
   * asked. With the system calls, the link is opened without opening the file
   * (`O_PATH`), which pins it and its mount, and the mount's type is read from
   * a current table before `statx` asks its file system: a process that
   * swaps the mapping meanwhile, or a mount ID used again, cannot make the scan
   * ask a file system that may not answer. Without them, `stat` follows the
   * link, after `mount` (found beforehand by the maps device or fdinfo) was checked.
   */
  #objectAt(pid: number, link: string, mount: Mount | null): PinnedObject | string {
    if (this.#sys === null) {
      const object = statLink(link);
      return typeof object === "string" ? object : { ...object, type: mount!.type };
    }
    const fd = this.#sys.openPath(AT_FDCWD, link, true);
    if (fd < 0) return fd === -ENOENT ? CHANGED : "its /proc link cannot be read";
    try {
      const id = this.#sys.mountId(fd);
      if (id < 0) return "its mount cannot be read";
      const current = this.#views.currentMount(pid, id);
      if (current === undefined) return `its mount ${id} is in no current mount table`;
      if (!isLocalType(current.type)) return notAsked(current.type);
      const stat = this.#sys.stat(fd);
      if (typeof stat === "number") return CHANGED;
      return {
        dev: stat.dev,
        ino: stat.ino,
        nlink: stat.nlink,
        type: current.type,
        changedMs: stat.ctimeMs > 0 ? stat.ctimeMs : null,
      };
    } finally {
      this.#sys.close(fd);
    }
  }

  /**
   * Whether neither name of `file` is in its directory, once process `pid`
   * uses so many deleted files there that one listing costs less than a
   * `stat` each (a program holding thousands of deleted temporary files).
   * Absent names lead to no object: the file is stale, by the rule itself.
   */
  #absentFromCrowd(pid: number, file: UsedFile): boolean {
    const slash = file.printed.lastIndexOf("/");
    // The OpenVZ form puts the marker in front: its names lie in two directories.
    if (slash <= 0 || file.path.lastIndexOf("/") !== slash) return false;
    // A listing spells raw bytes as U+FFFD: such a name could not be told apart in it.
    if (hasRawBytes(file.printed) || file.printed.includes("\uFFFD")) return false;
    const dir = file.printed.slice(0, slash);
    const crowd = this.#crowds.add(pid, dir);
    if (crowd.count < CROWD) return false;
    if (crowd.names === null) {
      const view = this.#views.viewOf(pid);
      if (view === null) return false;
      const maxBytes = crowd.count * BYTES_PER_ENTRY;
      crowd.names = view.walker.names(view.anchor, dir, maxBytes, this.#budget.walks);
      if (crowd.names === null) return false;
    }
    const names = crowd.names;
    return !names.has(file.printed.slice(slash + 1)) &&
      !names.has(file.path.slice(slash + 1));
  }

  /**
   * The verdict on an object the process uses: stale at once when it is linked
   * nowhere, else by what its names lead to in the process's tree. `named` is
   * the maps line when it names this object alone: the verdict is then kept for it.
   */
  #judgeObject(
    pid: number,
    named: MappedFile | null,
    file: UsedFile,
    object: PinnedObject,
  ): IdentityVerdict {
    const key = named ?? `${object.dev}:${object.ino}\0${file.printed}`;
    if (object.nlink === 0) {
      if (!this.#states) return named ? this.#verdicts.keepEverywhere(named, STALE) : STALE;
      const unlinked = staleBy(undefined, object.changedMs);
      if (named) this.#verdicts.keepEverywhere(named, unlinked);
      return this.#withState(pid, key, file, unlinked);
    }
    const view = this.#views.viewOf(pid);
    if (view === null) return byMarker(ROOT_UNREADABLE);
    // Only in the scanner's own tree does a lookup speak for other processes.
    if (!view.shared) return judgeByPath(view, file, object, this.#budget.walks);
    const known = this.#verdicts.inSharedTree.get(key);
    if (known !== undefined) return known;
    const verdict = judgeByPath(view, file, object, this.#budget.walks);
    // A lookup its process's budget cut short speaks for no other process.
    return verdict.unverified === OUT_OF_STEPS
      ? verdict
      : this.#verdicts.keepInSharedTree(key, verdict);
  }
}

/** What a scan's identity checks may cost. */
export interface JudgeOptions {
  /**
   * A time (as `performance.now()` counts) after which no file is checked any
   * more: the rest are decided by the kernel's marker and say so.
   */
  readonly deadline?: number;
  /** The system calls to pin lookups with (default: libc's where `--allow-ffi` is granted); null for paths. */
  readonly syscalls?: Syscalls | null;
  /**
   * Also tell, of a stale object linked nowhere, what stands at its path now
   * in its process's tree (`IdentityVerdict.state`, `replacedAt`): a lookup
   * per object and tree, and each process's tree read. Default false: said
   * only of objects whose path the rule looked up anyway.
   */
  readonly states?: boolean;
}

/** The time one process's checks may take, in ms. */
const PROCESS_MS = 2_000;
/** The path components one process's lookups may ask for. */
const PROCESS_STEPS = 100_000;

/**
 * What one process may still cost: time and lookups, from its first file on.
 * Past either, or past the scan's deadline, its files are decided by the
 * kernel's marker: reported, never dropped, and saying why.
 */
class Budget {
  readonly #deadline: number | undefined;
  #pid = -1;
  #until = 0;
  /** The lookups the process being judged may still ask for. */
  readonly walks: WalkBudget = { steps: PROCESS_STEPS };

  constructor(deadline: number | undefined) {
    this.#deadline = deadline;
  }

  /** Why process `pid`'s next file is not checked, or undefined while it may be. */
  spent(pid: number): string | undefined {
    const now = performance.now();
    if (pid !== this.#pid) {
      this.#pid = pid;
      this.#until = now + PROCESS_MS;
      this.walks.steps = PROCESS_STEPS;
    }
    if (this.#deadline !== undefined && now > this.#deadline) {
      return "not checked: the scan ran out of time (-t)";
    }
    if (now > this.#until || this.walks.steps <= 0) return OUT_OF_STEPS;
    return undefined;
  }
}

/** Deleted files of one process in one directory from which that directory is listed. */
const CROWD = 16;
/**
 * A directory is listed only while its size (in bytes, which most file
 * systems keep near the size of their entries) is at most this much per
 * deleted file the process uses there: listing costs by the entry.
 */
const BYTES_PER_ENTRY = 256;

/** The deleted files of one process in one directory: how many, and the names there once listed. */
interface Crowd {
  count: number;
  names: ReadonlySet<string> | null;
}

/** How many deleted files the process being judged uses in each directory. */
class Crowds {
  #pid = -1;
  readonly #byDir = new Map<string, Crowd>();

  /** Counts one more file of process `pid` in `dir`. */
  add(pid: number, dir: string): Crowd {
    if (pid !== this.#pid) {
      this.#pid = pid;
      if (this.#byDir.size > 0) this.#byDir.clear();
    }
    let crowd = this.#byDir.get(dir);
    if (crowd === undefined) {
      crowd = { count: 0, names: null };
      this.#byDir.set(dir, crowd);
    }
    crowd.count++;
    return crowd;
  }
}

/** An object as `stat` reports it through a process's `/proc` link. */
export interface ObjectId {
  /** Its device, as `stat` gives it. */
  readonly dev: number;
  /** Its inode. */
  readonly ino: number;
  /** Its links: 0 once it is unlinked from every directory. */
  readonly nlink: number;
}

/** An object, the type of the file system it lies on, and when it last changed (ms, or null). */
interface PinnedObject extends ObjectId {
  readonly type: string;
  readonly changedMs: number | null;
}

/**
 * The most verdicts of each kind a scan keeps for other processes: far more
 * than a host's distinct files, and a bound on what processes that map
 * hundreds of thousands of names between them can make it hold (past it, a
 * file is judged again for each process that maps it).
 */
const MAX_KEPT_VERDICTS = 1 << 17;

/**
 * The verdicts of one scan that speak for more than one process: those that
 * hold in every tree (an object linked nowhere, a file system never asked),
 * by maps line, and those a lookup found in the scanner's own tree.
 */
class Verdicts {
  readonly everywhere = new Map<MappedFile, IdentityVerdict>();
  readonly inSharedTree = new Map<MappedFile | string, IdentityVerdict>();
  /** Objects linked nowhere, with what stands at their paths in the scanner's tree. */
  readonly stateInSharedTree = new Map<MappedFile | string, IdentityVerdict>();

  keepStateInSharedTree(key: MappedFile | string, verdict: IdentityVerdict): IdentityVerdict {
    if (this.stateInSharedTree.size < MAX_KEPT_VERDICTS) this.stateInSharedTree.set(key, verdict);
    return verdict;
  }

  keepEverywhere(file: MappedFile, verdict: IdentityVerdict): IdentityVerdict {
    if (this.everywhere.size < MAX_KEPT_VERDICTS) this.everywhere.set(file, verdict);
    return verdict;
  }

  keepInSharedTree(key: MappedFile | string, verdict: IdentityVerdict): IdentityVerdict {
    if (this.inSharedTree.size < MAX_KEPT_VERDICTS) this.inSharedTree.set(key, verdict);
    return verdict;
  }
}

const ROOT_UNREADABLE = "the process's root cannot be read";
const CHANGED = "it changed while it was read";

/** Judges that let the kernel's marker decide everything, saying why. */
export function markerOnlyJudge(reason: string): IdentityJudge {
  const verdict: IdentityVerdict = Object.freeze({ stale: true, unverified: reason });
  return {
    mapping: () => verdict,
    openFile: () => verdict,
    unnamedOpenFile: () => reason,
    // Nothing is looked up: no file system is said to be unmounted.
    mountedDevice: () => true,
    unmountedMapping: () => NOT_STALE,
    fileAt: () => ({ found: false, unresolvable: reason }),
    close: () => {},
  };
}

function notAsked(type: string): string {
  return `it is on ${type}, which is not asked (it may never answer)`;
}

/** The object a `/proc` link leads to, or why it cannot be read. */
function statLink(link: string): (ObjectId & { changedMs: number | null }) | string {
  try {
    const info = Deno.statSync(link);
    return {
      dev: info.dev,
      ino: info.ino ?? -1,
      nlink: info.nlink ?? 1,
      changedMs: info.ctime?.getTime() ?? null,
    };
  } catch (error) {
    return classifyReadError(error) === "gone" ? CHANGED : "its /proc link cannot be read";
  }
}

/** The `mnt_id:` and `ino:` lines of a `/proc/PID/fdinfo/N` file. */
function parseFdInfo(text: string): { mountId: number; ino: string | undefined } {
  const mountId = /^mnt_id:\s*([0-9]+)$/m.exec(text)?.[1];
  if (mountId === undefined) throw new SyntaxError("Cannot read fdinfo: it has no mnt_id");
  return { mountId: Number(mountId), ino: /^ino:\s*([0-9]+)$/m.exec(text)?.[1] };
}

/**
 * Not stale when the name as printed, or the name less the marker, leads to
 * the very object the process uses; stale when neither does, `replaced` when
 * another file is at its path (since that file's change), else `deleted`
 * (since the object's own).
 */
function judgeByPath(
  view: View,
  file: UsedFile,
  object: PinnedObject,
  budget: WalkBudget,
): IdentityVerdict {
  const names = file.printed === file.path ? [file.path] : [file.printed, file.path];
  let atPath: Lookup | undefined;
  for (const name of names) {
    const found = view.walker.lookUp(view.anchor, name, budget);
    if (!found.found) {
      if (found.unresolvable !== undefined) return byMarker(found.unresolvable);
      continue;
    }
    if (found.dev === object.dev && found.ino === object.ino) return NOT_STALE;
    // Kernels that show a mapping through overlayfs by the layer below name one
    // file by two devices with one inode number: that cannot be told from another file.
    if (found.ino === object.ino && (isStackingType(found.type) || isStackingType(object.type))) {
      return byMarker("it lies under a stacking file system (overlay), whose identities differ");
    }
    if (name === file.path) atPath = found;
  }
  return atPath?.found ? staleBy("replaced", atPath.ctimeMs) : staleBy("deleted", object.changedMs);
}

/**
 * `verdict` with what `path` leads to in `view`: another file (`replaced`,
 * since its change) or nothing (`deleted`, since the verdict's own time); as
 * it was when that cannot be told.
 */
function withStateAt(
  view: View,
  path: string,
  verdict: IdentityVerdict,
  budget: WalkBudget,
): IdentityVerdict {
  const found = view.walker.lookUp(view.anchor, path, budget);
  if (found.found) return staleBy("replaced", found.ctimeMs);
  if (found.unresolvable !== undefined) return verdict;
  return { ...verdict, state: "deleted" };
}
