/**
 * Whose file it is: each stale file is looked up in the package database of
 * the tree its process sees. A process in the scanner's own tree (its mount
 * namespace, root `/`) is looked up in the database under `--root`, as
 * before, read once for all of them. A process in another tree (a container,
 * a chroot) is looked up in that tree's own database, read once per tree
 * through `/proc/PID/root` as untrusted input (see `ConfinedTree`); where that
 * cannot be read, its packages are unknown, and why — never the host's.
 *
 * A tree whose database is the very one under `--root` (the same directory
 * and files, as a sandboxed service sees them from its own namespace) shares
 * the host's reading.
 *
 * @module
 */

import { dpkgOwners, findPackageOwners, type PackageOwner } from "./packages.ts";
import { DATABASES, findRpmOwners, rpmOwnersCopied } from "./rpm.ts";
import { ConfinedTree } from "./confined_tree.ts";
import { isLocalType, parseMountInfo } from "../proc/mounts.ts";
import { classifyReadError, readLinkName } from "../proc/procfs.ts";
import { isGranted } from "../proc/permissions.ts";
import { AT_FDCWD, openSyscalls, type Syscalls } from "../proc/syscalls.ts";
import { type View, Views } from "../identity/views.ts";
import type { ProcessFinding } from "../scan/model.ts";

/** The packages of one process's stale files, or why they cannot be known. */
export type PackageLookup =
  | {
    /** The owners of each of the process's stale files, by path; an empty list: no package. */
    readonly owners: ReadonlyMap<string, readonly PackageOwner[]>;
  }
  | {
    /** Why the packages of its files are not known (its tree's database cannot be read). */
    readonly unknown: string;
    /** The paths of its stale files. */
    readonly paths: ReadonlySet<string>;
  };

/** The packages of stale files, process by process, each from its own tree's database. */
export interface ProcessPackages {
  /** By PID. */
  readonly byPid: ReadonlyMap<number, PackageLookup>;
}

/** Options of {@linkcode findProcessPackages}. */
export interface ProcessPackagesOptions {
  /** The proc root the processes were found in. Default `/proc`. */
  readonly proc?: string;
  /** The root whose database answers for processes in the scanner's own tree. Default `/`. */
  readonly root?: string;
  /**
   * Whether `proc` is a procfs by the kernel's word, as the scan found
   * (`ScanResult.procfs`). Default: asked of the scanner's own mount table.
   */
  readonly procfs?: boolean;
}

/** Why the scanner's own tree has no database to answer with. */
function noHostDatabase(root: string): string {
  return `no dpkg database nor rpm SQLite database readable under ${root}`;
}

/** Why another tree has no database to answer with. */
const NO_TREE_DATABASE = "no dpkg database nor rpm SQLite database readable in the process's root";

/** One tree other than the scanner's, with the processes that see it. */
interface Tree {
  readonly root: number;
  /** Its processes, and the paths of each one's files. */
  readonly pids: [number, ReadonlySet<string>][];
  /** The paths of all of them. */
  readonly paths: Set<string>;
}

/**
 * The packages of each process's stale files, each looked up in the database
 * of the tree the process sees (see the module's documentation). On a proc
 * root that is not a procfs the scanner confirms (a fixture tree), every
 * process is taken to be in `root`.
 *
 * @example A fixture tree: every process in `--root`'s database
 * ```ts
 * import { findProcessPackages, scanLibs } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const { processes } = await scanLibs({ proc: "testdata/root_dpkg/proc" });
 * const { byPid } = await findProcessPackages(processes, {
 *   proc: "testdata/root_dpkg/proc",
 *   root: "testdata/root_dpkg",
 * });
 * const lookup = byPid.get(100)!;
 * const owners = "owners" in lookup ? lookup.owners : new Map();
 * assertEquals(owners.get("/usr/lib/x86_64-linux-gnu/libssl.so.3")?.[0]?.name, "libssl3:amd64");
 * ```
 */
export async function findProcessPackages(
  processes: readonly ProcessFinding[],
  options: ProcessPackagesOptions = {},
): Promise<ProcessPackages> {
  const proc = options.proc ?? "/proc";
  const root = options.root ?? "/";
  const byPid = new Map<number, PackageLookup>();
  /** The processes in the scanner's own tree, and the paths of each one's files. */
  const hostPids: [number, ReadonlySet<string>][] = [];
  const hostPaths = new Set<string>();
  const trees = new Map<string, Tree>();
  const confirmed = options.procfs ?? confirmedProcfs(proc);
  const own = confirmed ? placeLinks(proc, "self") : null;
  const sys = own === null ? null : openSyscalls();
  // Made only when a process is in another tree: most scans have none.
  let views: Views | undefined;
  let hostIdentity: string | null | undefined;
  try {
    for (const process of processes) {
      if (process.files.length === 0) continue;
      const paths = process.files.map((file) => file.path);
      let place: Place = "host";
      if (own !== null) {
        const links = placeLinks(proc, process.pid);
        if (links === null) place = { unknown: "its mount namespace or root cannot be read" };
        else if (links.ns !== own.ns || links.rootLink !== "/") {
          views ??= new Views(proc, sys);
          if (hostIdentity === undefined) hostIdentity = identityOnHost(root);
          place = placeOf(proc, process.pid, { views, sys, hostIdentity });
        }
      }
      if (place === "host") {
        hostPids.push([process.pid, new Set(paths)]);
        for (const path of paths) hostPaths.add(path);
      } else if ("unknown" in place) {
        byPid.set(process.pid, { unknown: place.unknown, paths: new Set(paths) });
      } else {
        let tree = trees.get(place.key);
        if (tree === undefined) {
          trees.set(place.key, tree = { root: place.root, pids: [], paths: new Set() });
        } else sys!.close(place.root);
        tree.pids.push([process.pid, new Set(paths)]);
        for (const path of paths) tree.paths.add(path);
      }
    }
    if (hostPids.length > 0) {
      const owners = await findPackageOwners(hostPaths, root) ??
        await findRpmOwners(hostPaths, root);
      for (const [pid, paths] of hostPids) {
        byPid.set(pid, owners === null ? { unknown: noHostDatabase(root), paths } : { owners });
      }
    }
    for (const tree of trees.values()) {
      const found = await lookUpInTree(sys!, tree);
      for (const [pid, paths] of tree.pids) {
        byPid.set(pid, typeof found === "string" ? { unknown: found, paths } : { owners: found });
      }
    }
  } finally {
    for (const tree of trees.values()) sys!.close(tree.root);
    views?.close();
  }
  return { byPid };
}

/** Where a process's files are looked up: the host's database, its own tree's, or nowhere and why. */
type Place =
  | "host"
  | { readonly key: string; readonly root: number }
  | { readonly unknown: string };

/** A process's mount namespace and root, as its links name them; null when they cannot be read. */
function placeLinks(proc: string, pid: number | "self"): { ns: string; rootLink: string } | null {
  try {
    return {
      ns: readLinkName(`${proc}/${pid}/ns/mnt`),
      rootLink: readLinkName(`${proc}/${pid}/root`),
    };
  } catch (error) {
    classifyReadError(error);
    return null;
  }
}

/** Where the files of a process in a tree other than the scanner's are looked up. */
function placeOf(
  proc: string,
  pid: number,
  known: { views: Views; sys: Syscalls | null; hostIdentity: string | null },
): Place {
  const { views, sys, hostIdentity } = known;
  const view = views.viewOf(pid);
  if (view === null) return { unknown: "its mount namespace or root cannot be read" };
  if (view.shared) return "host";
  // Its database is the host's own (a sandboxed service's view): one reading serves both.
  const identity = identityInView(view);
  if (identity !== null && identity === hostIdentity) return "host";
  if (sys === null) {
    return {
      unknown: "its root is another tree, whose database is read only with native calls " +
        "(--allow-ffi, part of -A)",
    };
  }
  const fd = sys.openPath(AT_FDCWD, `${proc}/${pid}/root`, true);
  if (fd < 0) return { unknown: "its root cannot be opened" };
  const refuse = (why: string): Place => {
    sys.close(fd);
    return { unknown: why };
  };
  // The root opened must be the one the view was read for: the process may have moved.
  const after = placeLinks(proc, pid);
  if (after?.ns !== view.ns || after.rootLink !== view.rootLink) {
    return refuse("it changed its root while it was read");
  }
  const id = sys.mountId(fd);
  const mount = id < 0 ? undefined : views.currentMount(pid, id);
  if (mount === undefined) return refuse("the mount of its root is in no current mount table");
  if (!isLocalType(mount.type)) return refuse(`its root is on ${mount.type}, which is not asked`);
  const stat = sys.stat(fd);
  if (typeof stat === "number") return refuse("its root cannot be opened");
  return { key: `${view.ns}\0${stat.dev}:${stat.ino}`, root: fd };
}

/** The database files a tree shows, in the order {@linkcode identityOnHost} names them. */
const IDENTIFYING = ["var/lib/dpkg/info", "var/lib/dpkg/status", "var/log", ...DATABASES];

/**
 * The devices and inodes of the database files as the process sees them,
 * found by the view's walk (which crosses only mounts that answer); null
 * when it shows none.
 */
function identityInView(view: View): string | null {
  const base = view.rootLink === "/" ? "" : view.rootLink;
  const parts = IDENTIFYING.map((relative) => {
    const found = view.walker.lookUp(view.anchor, `${base}/${relative}`);
    return found.found ? `${found.dev}:${found.ino}` : "-";
  });
  return parts.every((part) => part === "-") ? null : parts.join(" ");
}

/** The same for the database under `root`. */
function identityOnHost(root: string): string | null {
  const base = root.replace(/\/+$/, "");
  const parts = IDENTIFYING.map((relative) => {
    const path = `${base}/${relative}`;
    // Asked first: an ungranted read would make Deno prompt on a terminal.
    if (!isGranted({ name: "read", path })) return "-";
    try {
      const stat = Deno.statSync(path);
      return `${stat.dev}:${stat.ino}`;
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) throw error;
      return "-";
    }
  });
  return parts.every((part) => part === "-") ? null : parts.join(" ");
}

/** Reads a tree's database once for all its processes' files. */
async function lookUpInTree(
  sys: Syscalls,
  tree: Tree,
): Promise<ReadonlyMap<string, readonly PackageOwner[]> | string> {
  const confined = new ConfinedTree(sys, tree.root);
  try {
    const owners = await dpkgOwners(confined, tree.paths) ??
      await rpmOwnersCopied((path, dest) => confined.copyOut(path, dest), tree.paths);
    if (owners !== null) return owners;
    // Only the root's own mount is read: a database on a mount of its own is not.
    return confined.crossed === undefined
      ? NO_TREE_DATABASE
      : `its package database is on another mount than the process's root ("/${confined.crossed}"), ` +
        "which is not read";
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    const message = error instanceof Error ? error.message : String(error);
    return `the package database in the process's root cannot be read: ${message}`;
  }
}

/**
 * Whether `proc` is a procfs by the kernel's own word (a mount of type `proc`
 * in the scanner's mount table), as the scan decides it: only then does a
 * process's root mean anything.
 */
function confirmedProcfs(proc: string): boolean {
  const own: Deno.ReadPermissionDescriptor = { name: "read", path: "/proc/self/mountinfo" };
  // Asked first: an ungranted read would make Deno prompt on a terminal.
  if (!isGranted(own)) return false;
  try {
    const table = parseMountInfo(Deno.readTextFileSync(own.path!));
    return table.byPoint.get(Deno.realPathSync(proc))?.type === "proc";
  } catch {
    return false;
  }
}

/**
 * The findings with a replacement time for each file the identity check
 * could not date: its package's last change (of the first owner `packages`
 * names for its process, as `--packages` reports it). Files it did date, and
 * those of no known package, are as they were.
 *
 * @example A file dated by its package
 * ```ts
 * import { withPackageTimes } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const owner = { name: "zlib1g", version: "1", changed: "2026-12-01 10:00:00", changedFrom: "dpkg.log" as const };
 * const [found] = withPackageTimes(
 *   [{ pid: 7, argv: ["a"], cmdline: "a", files: [{ path: "/usr/lib/libz.so.1", kind: "library" }] }],
 *   { byPid: new Map([[7, { owners: new Map([["/usr/lib/libz.so.1", [owner]]]) }]]) },
 * );
 * assertEquals(found!.files[0]!.replacedAt, new Date(2026, 11, 1, 10).getTime());
 * ```
 */
export function withPackageTimes(
  processes: readonly ProcessFinding[],
  packages: ProcessPackages,
): ProcessFinding[] {
  return processes.map((process) => {
    const lookup = packages.byPid.get(process.pid);
    if (lookup === undefined || "unknown" in lookup) return process;
    if (process.files.every((file) => file.replacedAt !== undefined)) return process;
    const files = process.files.map((file) => {
      if (file.replacedAt !== undefined) return file;
      const changed = lookup.owners.get(file.path)?.[0]?.changed;
      // dpkg's and rpm's times are local, as `localTime` wrote them: read back as local.
      const replacedAt = changed == null ? NaN : Date.parse(changed.replace(" ", "T"));
      return Number.isFinite(replacedAt) ? { ...file, replacedAt } : file;
    });
    return { ...process, files };
  });
}
