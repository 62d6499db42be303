/**
 * Which package owns a file, read-only from dpkg's database (`var/lib/dpkg`),
 * aware of usrmerge (`/lib` and `/usr/lib` are one directory), and when that
 * package was last installed or upgraded (`var/log/dpkg.log*`).
 *
 * @module
 */

import { isGranted } from "../proc/permissions.ts";

/** A package that owns a file. */
export interface PackageOwner {
  /** The package, with its architecture where dpkg keeps one list per architecture (`libc6:amd64`). */
  readonly name: string;
  /** The installed version (`/var/lib/dpkg/status`), or null when it has no status entry. */
  readonly version: string | null;
  /** When it was last installed or upgraded, `YYYY-MM-DD HH:MM:SS` local time, or null. */
  readonly changed: string | null;
  /**
   * Where `changed` comes from: dpkg's log, the mtime of its file list (an
   * upper bound), or rpm's install time in its database.
   */
  readonly changedFrom: "dpkg.log" | "list-mtime" | "rpmdb" | null;
}

/** Directories that usrmerge made links into /usr: a path under one is the same file under /usr. */
const MERGED = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/**
 * The path with the usrmerge alias spelled one way (`/usr/lib/x` for `/lib/x`).
 *
 * @example Both spellings of one file
 * ```ts
 * import { canonicalPath } from "./packages.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(canonicalPath("/lib/x86_64-linux-gnu/libc.so.6"), canonicalPath("/usr/lib/x86_64-linux-gnu/libc.so.6"));
 * ```
 */
export function canonicalPath(path: string): string {
  for (const dir of MERGED) {
    if (path === dir || path.startsWith(`${dir}/`)) return `/usr${path}`;
  }
  return path;
}

/**
 * The packages that own each of `paths` (under any usrmerge alias), from
 * dpkg's database under `root`: the file lists (`var/lib/dpkg/info/*.list`),
 * the installed versions (`status`) and the `status installed` lines of
 * `var/log/dpkg.log` and its rotations (plain and gzip). Only the asked paths
 * are looked for: no index of the whole database is built. Null when there is
 * no dpkg database there (not a Debian system); a path no package owns maps
 * to an empty list.
 *
 * @example A fixture database, with usrmerge aliasing
 * ```ts
 * import { findPackageOwners } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const path = "/usr/lib/x86_64-linux-gnu/libssl.so.3"; // listed as /lib/x86_64-linux-gnu/…
 * const owners = (await findPackageOwners([path, "/opt/x.so"], "testdata/root_dpkg"))!;
 * const [owner] = owners.get(path)!;
 * assertEquals([owner!.name, owner!.version], ["libssl3:amd64", "3.0.15-1~deb12u1"]);
 * assertEquals(owner!.changed, "2026-11-30 10:02:11");
 * assertEquals(owners.get("/opt/x.so"), []);
 * ```
 */
export async function findPackageOwners(
  paths: Iterable<string>,
  root = "/",
): Promise<Map<string, PackageOwner[]> | null> {
  const base = root.replace(/\/+$/, "");
  if (!isGranted({ name: "read", path: `${base}/var/lib/dpkg` })) return null;
  return await dpkgOwners(hostTree(base), paths);
}

/**
 * The files of a root that dpkg's database is read from, by paths relative to
 * that root (`var/lib/dpkg/status`). Each read gives null where there is
 * nothing to read; a tree may throw where it refuses to read on (a tree that
 * is not the host's: past its bounds, or across a mount).
 */
export interface PackageTree {
  /** The names of the regular files in directory `dir`, or null when it cannot be listed. */
  list(dir: string): string[] | null;
  /** The bytes of the regular file `path`, or null. */
  read(path: string): Uint8Array | null;
  /** The text of the regular file `path` (bytes that are not UTF-8 as U+FFFD), or null. */
  readText(path: string): string | null;
  /** The mtime of `path` in ms, or null. */
  mtimeMs(path: string): number | null;
}

/** The host's own tree (or `--root`'s), read by path: trusted, as root's own files are. */
function hostTree(base: string): PackageTree {
  const rethrow = (error: unknown) => {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return null;
  };
  return {
    list(dir) {
      try {
        return [...Deno.readDirSync(`${base}/${dir}`)].filter((e) => e.isFile).map((e) => e.name);
      } catch (error) {
        return rethrow(error);
      }
    },
    read(path) {
      try {
        return Deno.readFileSync(`${base}/${path}`);
      } catch (error) {
        return rethrow(error);
      }
    },
    readText(path) {
      try {
        return Deno.readTextFileSync(`${base}/${path}`);
      } catch (error) {
        return rethrow(error);
      }
    },
    mtimeMs(path) {
      try {
        return Deno.statSync(`${base}/${path}`).mtime?.getTime() ?? null;
      } catch {
        return null;
      }
    },
  };
}

const INFO = "var/lib/dpkg/info";

/**
 * The packages that own each of `paths` by the dpkg database in `tree` (see
 * {@linkcode findPackageOwners}); null when the tree holds none.
 */
export async function dpkgOwners(
  tree: PackageTree,
  paths: Iterable<string>,
): Promise<Map<string, PackageOwner[]> | null> {
  const names = tree.list(INFO);
  if (names === null) return null;
  const wanted = [...new Set(paths)];
  const found = new Map<string, PackageOwner[]>(wanted.map((path) => [path, []]));
  const asked = new AskedPaths(wanted);
  let versions: Map<string, string> | undefined;
  let logged: Map<string, string> | undefined;
  for (const name of names) {
    if (!name.endsWith(".list") || asked.size === 0) continue;
    const text = tree.readText(`${INFO}/${name}`);
    if (text === null) continue;
    // Newlines around it: every line, the first and last too, is "\nLINE\n".
    const owning = asked.listedIn(`\n${text}\n`);
    if (owning.size === 0) continue;
    // Read only once some asked path has an owner.
    versions ??= readStatus(tree);
    logged ??= await readDpkgLogs(tree);
    const owner = ownerOf(name.slice(0, -".list".length), tree, versions, logged);
    for (const path of owning) found.get(path)!.push(owner);
  }
  for (const owners of found.values()) owners.sort((a, b) => a.name < b.name ? -1 : 1);
  return found;
}

/** A list whose asked paths are more than this many is searched line by line, not path by path. */
const SEARCHES = 16;

/**
 * The asked paths, each as dpkg may have listed it (the usrmerge alias either
 * way), found in a list by the cheaper route: most lists hold none of their
 * directories and are passed over; a few asked paths are searched for; many
 * are looked up line by line.
 */
class AskedPaths {
  /** Lines (`\nPATH\n`) by the directory (`DIR/`) they lie in. */
  readonly #byDir = new Map<string, Map<string, string[]>>();
  /** The same lines without their newlines. */
  readonly #byLine = new Map<string, string[]>();

  constructor(paths: readonly string[]) {
    for (const path of paths) {
      // dpkg lists absolute paths only; any other line of a list is no file.
      if (!path.startsWith("/")) continue;
      const canonical = canonicalPath(path);
      const short = canonical.startsWith("/usr/") && MERGED.some((dir) =>
          canonical.startsWith(`/usr${dir}/`)
        )
        ? canonical.slice(4)
        : canonical;
      for (const spelled of new Set([canonical, short])) {
        const dir = spelled.slice(0, spelled.lastIndexOf("/") + 1);
        let inDir = this.#byDir.get(dir);
        if (inDir === undefined) this.#byDir.set(dir, inDir = new Map());
        const line = `\n${spelled}\n`;
        inDir.set(line, [...inDir.get(line) ?? [], path]);
        this.#byLine.set(spelled, [...this.#byLine.get(spelled) ?? [], path]);
      }
    }
  }

  /** How many spellings are asked for. */
  get size(): number {
    return this.#byLine.size;
  }

  /** The asked paths that `text` (a list, with a newline added at each end) lists. */
  listedIn(text: string): Set<string> {
    const owning = new Set<string>();
    // A list that holds "DIR/" nowhere lists no file in DIR.
    const candidates: Map<string, string[]>[] = [];
    let count = 0;
    for (const [dir, lines] of this.#byDir) {
      if (!text.includes(dir)) continue;
      candidates.push(lines);
      count += lines.size;
    }
    if (count > SEARCHES) {
      for (const line of text.split("\n")) {
        for (const path of this.#byLine.get(line) ?? []) owning.add(path);
      }
    } else {
      for (const lines of candidates) {
        for (const [line, paths] of lines) {
          if (text.includes(line)) { for (const path of paths) owning.add(path); }
        }
      }
    }
    return owning;
  }
}

function ownerOf(
  name: string,
  tree: PackageTree,
  versions: Map<string, string>,
  logged: Map<string, string>,
): PackageOwner {
  const bare = name.split(":")[0]!;
  const when = logged.get(name) ?? logged.get(bare);
  const mtimeMs = when === undefined ? tree.mtimeMs(`${INFO}/${name}.list`) : null;
  const mtime = mtimeMs === null ? null : localTime(mtimeMs);
  return {
    name,
    version: versions.get(name) ?? versions.get(bare) ?? null,
    changed: when ?? mtime,
    changedFrom: when !== undefined ? "dpkg.log" : mtime !== null ? "list-mtime" : null,
  };
}

/**
 * Installed versions from dpkg's status file, by `Package` and by
 * `Package:Architecture`; stanzas without both, or not installed, are left out.
 */
function readStatus(tree: PackageTree): Map<string, string> {
  const versions = new Map<string, string>();
  const text = tree.readText("var/lib/dpkg/status");
  if (text === null) return versions;
  for (const stanza of text.split(/\n\n+/)) {
    const field = (name: string) => new RegExp(`^${name}: *(.+)$`, "m").exec(stanza)?.[1]?.trim();
    const name = field("Package");
    const version = field("Version");
    const status = field("Status");
    if (!name || !version || !status?.endsWith(" installed")) continue;
    versions.set(name, version);
    const arch = field("Architecture");
    if (arch) versions.set(`${name}:${arch}`, version);
  }
  return versions;
}

const STATUS_INSTALLED = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) status installed (\S+) \S+$/gm;

/**
 * When each package was last installed or upgraded, by `name:arch` and
 * `name`, from `dpkg.log` and its rotations (`dpkg.log.1`, `dpkg.log.2.gz`…):
 * the latest `status installed` line wins.
 */
async function readDpkgLogs(tree: PackageTree): Promise<Map<string, string>> {
  const latest = new Map<string, string>();
  const names = (tree.list("var/log") ?? []).filter((n) => /^dpkg\.log(\.\d+(\.gz)?)?$/.test(n));
  for (const name of names) {
    let text: string | null;
    try {
      if (!name.endsWith(".gz")) text = tree.readText(`var/log/${name}`);
      else {
        const bytes = tree.read(`var/log/${name}`);
        text = bytes === null ? null : await gunzip(bytes);
      }
    } catch (error) {
      if (!(error instanceof TypeError) && !(error instanceof RangeError)) throw error;
      // A damaged rotation: the others still tell.
      continue;
    }
    if (text === null) continue;
    for (const [, when, pkg] of text.matchAll(STATUS_INSTALLED)) {
      for (const key of [pkg!, pkg!.split(":")[0]!]) {
        const known = latest.get(key);
        if (known === undefined || known < when!) latest.set(key, when!);
      }
    }
  }
  return latest;
}

/** What a compressed log may grow to: a compression bomb stops there. */
const MAX_LOG_CHARS = 64 << 20;

async function gunzip(bytes: Uint8Array): Promise<string> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"))
    .pipeThrough(new TextDecoderStream());
  let text = "";
  for await (const chunk of stream) {
    text += chunk;
    if (text.length > MAX_LOG_CHARS) {
      throw new RangeError("Cannot read the log: it is larger than is read");
    }
  }
  return text;
}

/** A time as dpkg's log writes it: `YYYY-MM-DD HH:MM:SS`, local time. */
export function localTime(ms: number): string {
  const offset = new Date(ms).getTimezoneOffset() * 60_000;
  return new Date(ms - offset).toISOString().slice(0, 19).replace("T", " ");
}
