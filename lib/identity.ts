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

import {
  deviceName,
  isLocalType,
  isStackingType,
  type Mount,
  mountOf,
  type MountTable,
  parseMountInfo,
} from "./mounts.ts";
import { mapFilesName } from "./maps.ts";
import { classifyReadError, readLinkName, readWholeName } from "./procfs.ts";
import { hasRawBytes } from "./names.ts";

/** What the identity rule says of one file a process uses. */
export interface Verdict {
  /** Whether the file counts as stale. */
  readonly stale: boolean;
  /** Present when the kernel's marker decided: why identity could not be checked. */
  readonly unverified?: string;
}

const NOT_STALE: Verdict = Object.freeze({ stale: false });
const STALE: Verdict = Object.freeze({ stale: true });

/** The kernel's marker decides: stale, and why the identity rule could not. */
function byMarker(unverified: string): Verdict {
  return { stale: true, unverified };
}

/** A file as a process uses it. */
export interface UsedFile {
  /** The name without the kernel's marker. */
  readonly path: string;
  /** The name as printed (with the marker when there was one), which may be a real name too. */
  readonly printed: string;
}

/**
 * A mapped file as maps names it. The object is also the cache key of its
 * verdict: pass one object for one device, inode and printed name (the scan
 * passes the line it parsed once for every process).
 */
export interface MappedFile extends UsedFile {
  /** `MAJOR:MINOR`, decimal. */
  readonly device: string;
  readonly inode: string;
}

/** The identity checks of one scan, with what they share across processes. */
export interface IdentityJudge {
  /** Judges a mapping of process `pid`, given its address range as maps prints it. */
  mapping(pid: number, file: MappedFile, range: string): Verdict;
  /** Judges an open file of process `pid`: the name of its entry in `/proc/PID/fd`. */
  openFile(pid: number, file: UsedFile, fd: string): Verdict;
  /**
   * How the file at `path` (absolute, as process `pid` names it) stands in the
   * process's own root: gone, changed (when it last changed, in ms) or a reason it could
   * not be asked. File systems that may not answer are never asked.
   */
  fileAt(pid: number, path: string): FileAt;
}

/** What {@linkcode IdentityJudge.fileAt} found. */
export type FileAt =
  | { readonly found: true; readonly changedMs: number | null }
  | { readonly found: false; readonly unresolvable?: string };

/** Processes that see the same tree: one mount namespace and one root. */
interface View {
  /** Verdicts in this view, by the mapped file's object or by `device, inode, name` text. */
  readonly verdicts: Map<MappedFile | string, Verdict>;
  readonly ns: string;
  /** The root as the scanner names it (`/` for most, the directory of a chroot). */
  readonly rootLink: string;
  /** The mount a path inside the root lies on, or undefined when no table tells. */
  readonly mountAt: (path: string) => Mount | undefined;
}

/** How a lookup inside a process's root ended. */
type Lookup =
  | {
    readonly found: true;
    readonly dev: number;
    readonly ino: number;
    readonly type: string;
    readonly changedMs: number | null;
  }
  | { readonly found: false; readonly unresolvable?: string };

const MAX_LINKS = 40;
const MISSING: Lookup = Object.freeze({ found: false });

/**
 * Makes the identity checks of one scan of `proc`. Verdicts are cached per
 * (view, device, inode, printed name), so hundreds of processes of one
 * namespace that map one file cost one lookup; a verdict is stored only when the
 * `stat` of the process's own link showed the device and inode its maps line or
 * fdinfo named, so a mapping that changed under the scan never speaks for
 * another process.
 */
export function createIdentityJudge(proc: string): IdentityJudge {
  const views = new Map<string, View>();
  // Devices and mount IDs name one file system wherever they are seen, so the
  // mount tables of every process read serve every process.
  const byDevice = new Map<string, Mount>();
  const byId = new Map<number, Mount>();
  let scanner: { ns: string; table: MountTable | null } | null | undefined;

  function readTable(pid: number | "self"): MountTable | null {
    try {
      const table = parseMountInfo(readWholeName(`${proc}/${pid}/mountinfo`));
      for (const [device, mount] of table.byDevice) {
        if (!byDevice.has(device)) byDevice.set(device, mount);
      }
      for (const [id, mount] of table.byId) byId.set(id, mount);
      return table;
    } catch (error) {
      classifyReadError(error);
      return null;
    }
  }

  /** The scanner's own mount namespace and table: a chroot's table lists no mount above its root. */
  function scannerView(): { ns: string; table: MountTable | null } | null {
    if (scanner !== undefined) return scanner;
    try {
      scanner = { ns: readLinkName(`${proc}/self/ns/mnt`), table: readTable("self") };
    } catch (error) {
      classifyReadError(error);
      scanner = null;
    }
    return scanner;
  }

  let last: View | null = null;
  function readView(pid: number): View | null {
    let ns: string;
    let rootLink: string;
    try {
      ns = readLinkName(`${proc}/${pid}/ns/mnt`);
      rootLink = readLinkName(`${proc}/${pid}/root`);
    } catch (error) {
      classifyReadError(error);
      return null;
    }
    // Most processes share the view of the one before: no key to build.
    if (last !== null && last.ns === ns && last.rootLink === rootLink) return last;
    const key = `${ns}\0${rootLink}`;
    let view = views.get(key);
    if (view === undefined) {
      const own = scannerView();
      const table = readTable(pid);
      // The view serves every later process of this namespace and root: it is
      // made only from a table read whole, of a process that stayed in them
      // meanwhile (one that exited, or entered a chroot or namespace, would
      // leave every later process of the view without mounts).
      if (table === null || !sameView(pid, ns, rootLink)) return null;
      const outer = own !== null && own.ns === ns && rootLink !== "/" ? own.table : null;
      view = {
        verdicts: new Map(),
        ns,
        rootLink,
        mountAt(path) {
          const mount = table === null ? undefined : mountOf(table, path);
          if (mount !== undefined || outer === null) return mount;
          // Same namespace, chrooted: the scanner's table names the mounts above the root.
          return mountOf(outer, rootLink + path);
        },
      };
      views.set(key, view);
    }
    last = view;
    return view;
  }

  function sameView(pid: number, ns: string, rootLink: string): boolean {
    try {
      return readLinkName(`${proc}/${pid}/ns/mnt`) === ns &&
        readLinkName(`${proc}/${pid}/root`) === rootLink;
    } catch (error) {
      classifyReadError(error);
      return false;
    }
  }

  // A scan asks about one process at a time: its view is read once.
  let viewPid = -1;
  let view: View | null = null;
  const viewOf = (pid: number): View | null => {
    if (pid !== viewPid) {
      viewPid = pid;
      view = readView(pid);
    }
    return view;
  };

  /** Judges a file whose object `identify` finds (a stat of the process's own link). */
  function judge(
    pid: number,
    current: View,
    key: MappedFile | string,
    file: UsedFile,
    device: string,
    inode: string,
    identify: () => { dev: number; ino: number } | string,
  ): Verdict {
    const cached = current.verdicts.get(key);
    if (cached !== undefined) return cached;
    const type = byDevice.get(device)?.type;
    if (type === undefined) {
      return byMarker(`its device ${device} is in no mount table the scan could read`);
    }
    if (!isLocalType(type)) return remember(current, key, byMarker(notAsked(type)));
    const object = identify();
    if (typeof object === "string") return byMarker(object);
    if (deviceName(object.dev) !== device || String(object.ino) !== inode) {
      return byMarker("it changed while it was read (or a stacking file system shows it)");
    }
    const verdict = judgeByPath(`${proc}/${pid}`, current, file, object, type);
    // A lookup cut short by this process's exit speaks for no other process.
    return verdict.unverified === EXITED ? verdict : remember(current, key, verdict);
  }

  return {
    mapping(pid, file, range) {
      // Inode 0 names no file (pseudo mappings).
      if (file.inode === "0") return byMarker("it has no inode");
      const current = viewOf(pid);
      if (current === null) return byMarker(ROOT_UNREADABLE);
      const cached = current.verdicts.get(file);
      if (cached !== undefined) return cached;
      return judge(pid, current, file, file, file.device, file.inode, () => {
        return statLink(`${proc}/${pid}/map_files/${mapFilesName(range)}`);
      });
    },
    fileAt(pid, path) {
      const current = viewOf(pid);
      if (current === null) return { found: false, unresolvable: ROOT_UNREADABLE };
      const found = lookUp(`${proc}/${pid}`, current, path);
      return found.found ? { found: true, changedMs: found.changedMs } : found;
    },
    openFile(pid, file, fd) {
      const current = viewOf(pid);
      if (current === null) return byMarker(ROOT_UNREADABLE);
      const dir = `${proc}/${pid}`;
      let info: { mountId: number; ino: string | undefined };
      try {
        info = parseFdInfo(readWholeName(`${dir}/fdinfo/${fd}`));
      } catch (error) {
        classifyReadError(error);
        return byMarker("its fdinfo cannot be read");
      }
      const mount = byId.get(info.mountId);
      if (mount === undefined) return byMarker(`its mount ${info.mountId} is in no mount table`);
      if (!isLocalType(mount.type)) return byMarker(notAsked(mount.type));
      const stat = () => statLink(`${dir}/fd/${fd}`);
      const judgeAs = (ino: string, identify: typeof stat) => {
        const key = `${mount.device}\0${ino}\0${file.printed}`;
        return judge(pid, current, key, file, mount.device, ino, identify);
      };
      if (info.ino !== undefined) return judgeAs(info.ino, stat);
      // Kernels before 5.14 print no inode in fdinfo: the stat alone names the object.
      const object = stat();
      if (typeof object === "string") return byMarker(object);
      return judgeAs(String(object.ino), () => object);
    },
  };
}

const ROOT_UNREADABLE = "the process's root cannot be read";

/** Judges that let the kernel's marker decide everything, saying why. */
export function markerOnlyJudge(reason: string): IdentityJudge {
  const verdict: Verdict = Object.freeze({ stale: true, unverified: reason });
  return {
    mapping: () => verdict,
    openFile: () => verdict,
    fileAt: () => ({ found: false, unresolvable: reason }),
  };
}

function remember(view: View, key: MappedFile | string, verdict: Verdict): Verdict {
  view.verdicts.set(key, verdict);
  return verdict;
}

function notAsked(type: string): string {
  return `it is on ${type}, which is not asked (it may never answer)`;
}

/** The device and inode a `/proc` link leads to, or why they cannot be read. */
function statLink(link: string): { dev: number; ino: number } | string {
  try {
    const info = Deno.statSync(link);
    return { dev: info.dev, ino: info.ino ?? -1 };
  } catch (error) {
    return classifyReadError(error) === "gone"
      ? "it changed while it was read"
      : "its /proc link cannot be read";
  }
}

/** The `mnt_id:` and `ino:` lines of a `/proc/PID/fdinfo/N` file. */
function parseFdInfo(text: string): { mountId: number; ino: string | undefined } {
  const mountId = /^mnt_id:\s*([0-9]+)$/m.exec(text)?.[1];
  if (mountId === undefined) throw new SyntaxError("fdinfo has no mnt_id");
  return { mountId: Number(mountId), ino: /^ino:\s*([0-9]+)$/m.exec(text)?.[1] };
}

/**
 * Not stale when the name as printed, or the name less the marker, leads to
 * the very object the process uses; stale when neither does.
 */
function judgeByPath(
  dir: string,
  view: View,
  file: UsedFile,
  object: { dev: number; ino: number },
  type: string,
): Verdict {
  const names = file.printed === file.path ? [file.path] : [file.printed, file.path];
  for (const name of names) {
    const found = lookUp(dir, view, name);
    if (!found.found) {
      if (found.unresolvable !== undefined) return byMarker(found.unresolvable);
      continue;
    }
    if (found.dev === object.dev && found.ino === object.ino) return NOT_STALE;
    // Kernels before 6.x show a mapping through overlayfs by the inode of the
    // layer below, while a lookup shows the overlay's own: not like with like.
    if (found.dev !== object.dev && (isStackingType(found.type) || isStackingType(type))) {
      return byMarker("it lies under a stacking file system (overlay), whose identities differ");
    }
  }
  return STALE;
}

/**
 * Looks a name up inside the process's root, one component at a time, as
 * `openat2`'s `RESOLVE_IN_ROOT` would: an absolute link target starts again at
 * that root, `..` stops there, and a component on a file system that is not
 * local is never asked for, so no lookup leaves the process's tree or waits on
 * a server.
 */
function lookUp(dir: string, view: View, name: string): Lookup {
  if (hasRawBytes(name)) return { found: false, unresolvable: "its name is not valid UTF-8" };
  let inner: string;
  if (view.rootLink === "/") inner = name;
  else if (name.startsWith(`${view.rootLink}/`)) inner = name.slice(view.rootLink.length);
  else return { found: false, unresolvable: "it lies outside the process's root" };
  const anchor = `${dir}/root`;
  const pending = inner.split("/").reverse();
  const resolved: string[] = [];
  let links = 0;
  let last: Deno.FileInfo | undefined;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      resolved.pop();
      last = undefined;
      continue;
    }
    if (last !== undefined && !last.isDirectory) return MISSING;
    const path = `/${resolved.length > 0 ? `${resolved.join("/")}/` : ""}${part}`;
    const mount = view.mountAt(path);
    if (mount === undefined) return { found: false, unresolvable: "no mount holds its path" };
    if (!isLocalType(mount.type)) {
      return { found: false, unresolvable: `its path crosses ${mount.type}, which is not asked` };
    }
    try {
      last = Deno.lstatSync(anchor + path);
      if (last.isSymlink) {
        if (++links > MAX_LINKS) return { found: false, unresolvable: "too many symbolic links" };
        const target = readLinkName(anchor + path);
        if (hasRawBytes(target)) {
          return { found: false, unresolvable: "a link on its path is not valid UTF-8" };
        }
        if (target.startsWith("/")) resolved.length = 0;
        pending.push(...target.split("/").reverse());
        last = undefined;
        continue;
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotADirectory) return MISSING;
      if (classifyReadError(error) === "gone") return stillThere(anchor) ? MISSING : gone();
      return { found: false, unresolvable: "a directory on its path cannot be read" };
    }
    resolved.push(part);
  }
  const path = `/${resolved.join("/")}`;
  const type = view.mountAt(path)?.type;
  if (type === undefined || !isLocalType(type)) {
    return { found: false, unresolvable: "its file system is not asked" };
  }
  last ??= statResolved(anchor + path);
  if (last === undefined) return gone();
  return {
    found: true,
    dev: last.dev,
    ino: last.ino ?? -1,
    type,
    changedMs: lastChange(last),
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

/** Stats a path free of links below the anchor (after `..` or at the root itself). */
function statResolved(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch (error) {
    classifyReadError(error);
    return undefined;
  }
}

const EXITED = "the process exited while it was read";

function gone(): Lookup {
  return { found: false, unresolvable: EXITED };
}
