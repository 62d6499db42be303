/**
 * Which RPM package owns a file, read-only and exactly from rpm's SQLite
 * database (`rpmdb.sqlite`, rpm 4.16 and later: Fedora 33+, RHEL 9, openSUSE):
 * the `Basenames` index names the candidate headers, and each header (rpm's
 * documented binary format) gives the package and its file list. No `rpm`
 * process is run.
 *
 * @module
 */

import { canonicalPath, localTime, type PackageOwner } from "./packages.ts";
import { isGranted } from "../proc/permissions.ts";

/** Where distributions keep the SQLite database, under the root. */
export const DATABASES: readonly string[] = [
  "usr/lib/sysimage/rpm/rpmdb.sqlite",
  "var/lib/rpm/rpmdb.sqlite",
];

const TAG = {
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  EPOCH: 1003,
  INSTALLTIME: 1008,
  ARCH: 1022,
};
const FILE_TAG = { DIRINDEXES: 1116, BASENAMES: 1117, DIRNAMES: 1118 };
const TYPE = { INT32: 4, STRING: 6, STRING_ARRAY: 8, I18NSTRING: 9 };

/** The values of one header that the owner question needs, by tag. */
interface Header {
  string(tag: number): string | undefined;
  strings(tag: number): string[];
  int32s(tag: number): number[];
}

/**
 * Parses an rpm header blob as the database stores it: the index count and
 * data length (32-bit big-endian), the index entries (tag, type, offset,
 * count), then the data. Throws on a blob whose entries point outside it.
 */
export function parseRpmHeader(blob: Uint8Array): Header {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const count = view.getInt32(0);
  const length = view.getInt32(4);
  const data = 8 + count * 16;
  if (count < 0 || length < 0 || data + length > blob.length) {
    throw new RangeError("Cannot read an rpm header: it is larger than its blob");
  }
  const entries = new Map<number, { type: number; offset: number; count: number }>();
  for (let i = 0; i < count; i++) {
    const at = 8 + i * 16;
    const offset = view.getInt32(at + 8);
    if (offset < 0 || offset > length) {
      throw new RangeError("Cannot read an rpm header: an entry lies outside its data");
    }
    entries.set(view.getInt32(at), {
      type: view.getInt32(at + 4),
      offset,
      count: view.getInt32(at + 12),
    });
  }
  const decoder = new TextDecoder();
  const stringsAt = (offset: number, n: number): string[] => {
    const out: string[] = [];
    let at = data + offset;
    for (let k = 0; k < n; k++) {
      const end = blob.indexOf(0, at);
      if (end < 0 || end >= data + length) {
        throw new RangeError("Cannot read an rpm string: it has no end");
      }
      out.push(decoder.decode(blob.subarray(at, end)));
      at = end + 1;
    }
    return out;
  };
  return {
    string(tag) {
      const entry = entries.get(tag);
      if (entry === undefined) return undefined;
      if (entry.type !== TYPE.STRING && entry.type !== TYPE.I18NSTRING) return undefined;
      return stringsAt(entry.offset, 1)[0];
    },
    strings(tag) {
      const entry = entries.get(tag);
      return entry?.type === TYPE.STRING_ARRAY ? stringsAt(entry.offset, entry.count) : [];
    },
    int32s(tag) {
      const entry = entries.get(tag);
      if (entry?.type !== TYPE.INT32 || data + entry.offset + entry.count * 4 > data + length) {
        return [];
      }
      return Array.from(
        { length: entry.count },
        (_, k) => view.getInt32(data + entry.offset + k * 4),
      );
    },
  };
}

/** The SQLite database under `root`, or undefined when there is none to read. */
function databaseUnder(root: string): string | undefined {
  for (const relative of DATABASES) {
    const path = `${root}/${relative}`;
    if (!isGranted({ name: "read", path })) continue;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

/**
 * The RPM packages that own each of `paths` (usrmerge aliases count), from
 * the SQLite database under `root`; null when there is none. A path no
 * package owns maps to an empty list.
 *
 * @example On a database that rpm itself wrote (`testdata/root_rpm`)
 * ```ts
 * import { findRpmOwners } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const owners = (await findRpmOwners(["/usr/lib64/libfixture.so.1"], "testdata/root_rpm"))!;
 * const [owner] = owners.get("/usr/lib64/libfixture.so.1")!;
 * assertEquals([owner!.name, owner!.version], ["libfixture.x86_64", "1:1.2-3.fc40"]);
 * ```
 */
export async function findRpmOwners(
  paths: Iterable<string>,
  root = "/",
): Promise<Map<string, PackageOwner[]> | null> {
  const base = root.replace(/\/+$/, "");
  const file = databaseUnder(base);
  if (file === undefined) return null;
  return await ownersInDatabase(file, paths);
}

/** Copies a file of a tree (by its path relative to the root) to `dest`; false when there is none. */
export type CopyOut = (path: string, dest: string) => boolean;

/**
 * The RPM packages that own each of `paths` by the SQLite database of a tree
 * that is not the host's, copied out of it first (`copyOut`, which bounds
 * what it copies) into a private directory: SQLite then opens only a file of
 * the scanner's own, by a name no one else controls. Null when the tree holds
 * no such database.
 */
export async function rpmOwnersCopied(
  copyOut: CopyOut,
  paths: Iterable<string>,
): Promise<Map<string, PackageOwner[]> | null> {
  const dir = Deno.makeTempDirSync({ prefix: "lib_users_rpmdb_" });
  try {
    for (const relative of DATABASES) {
      const file = `${dir}/rpmdb.sqlite`;
      if (!copyOut(relative, file)) continue;
      // What a writer left in its log is part of the database (rpm uses WAL mode).
      copyOut(`${relative}-wal`, `${file}-wal`);
      return await ownersInDatabase(file, paths, true);
    }
    return null;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/**
 * The two tables the owner question reads, as rpm creates them: in a database
 * that is not the host's, anything else (a view, a generated column) could
 * make a query run for ever, and is refused.
 */
const RPM_SCHEMA: ReadonlySet<string> = new Set([
  "CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)",
  "CREATE TABLE 'Basenames' (key 'TEXT' NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, " +
  "FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))",
  "CREATE INDEX 'Basenames_key_idx' ON 'Basenames'(key ASC)",
  "CREATE INDEX 'Basenames_hnum_idx' ON 'Basenames'(hnum ASC)",
]);

/**
 * The owners of each of `paths` by the SQLite database `file`; `untrusted`
 * (a database that is not the host's) checks first that the tables read are
 * rpm's own.
 */
async function ownersInDatabase(
  file: string,
  paths: Iterable<string>,
  untrusted = false,
): Promise<Map<string, PackageOwner[]>> {
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    if (untrusted) {
      db.exec("PRAGMA trusted_schema = OFF");
      const rows = db.prepare(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ('Packages', 'Basenames') " +
          "OR name IN ('Packages', 'Basenames')",
      ).all();
      const tables = rows.filter((row) => row.type === "table").length;
      // Indexes SQLite makes for constraints have no SQL of their own.
      const foreign = rows.filter((row) =>
        !(row.sql === null && row.type === "index") && !RPM_SCHEMA.has(String(row.sql))
      );
      if (tables !== 2 || foreign.length > 0) {
        throw new TypeError("rpm's database does not have rpm's tables");
      }
    }
    const byBasename = db.prepare("SELECT hnum, idx FROM Basenames WHERE key = ?");
    const blobOf = db.prepare("SELECT blob FROM Packages WHERE hnum = ?");
    const found = new Map<string, PackageOwner[]>();
    for (const path of new Set(paths)) {
      const owners: PackageOwner[] = [];
      const slash = path.lastIndexOf("/");
      if (path.startsWith("/") && slash < path.length - 1) {
        for (const row of byBasename.all(path.slice(slash + 1))) {
          const hnum = Number(row.hnum);
          const blob = blobOf.get(hnum)?.blob;
          if (!(blob instanceof Uint8Array)) continue;
          const owner = ownerIfListed(parseRpmHeader(blob), Number(row.idx), path);
          if (owner && !owners.some((known) => known.name === owner.name)) owners.push(owner);
        }
      }
      found.set(path, owners.sort((a, b) => a.name < b.name ? -1 : 1));
    }
    return found;
  } finally {
    db.close();
  }
}

/** The header's package when its file number `idx` is `path` (either usrmerge spelling). */
function ownerIfListed(header: Header, idx: number, path: string): PackageOwner | null {
  const basenames = header.strings(FILE_TAG.BASENAMES);
  const dirnames = header.strings(FILE_TAG.DIRNAMES);
  const dirIndex = header.int32s(FILE_TAG.DIRINDEXES)[idx];
  const listed = dirIndex === undefined ? undefined : `${dirnames[dirIndex]}${basenames[idx]}`;
  if (listed === undefined || canonicalPath(listed) !== canonicalPath(path)) return null;
  const epoch = header.int32s(TAG.EPOCH)[0];
  const installed = header.int32s(TAG.INSTALLTIME)[0];
  const arch = header.string(TAG.ARCH);
  return {
    name: `${header.string(TAG.NAME) ?? "?"}${arch ? `.${arch}` : ""}`,
    version: `${epoch ? `${epoch}:` : ""}${header.string(TAG.VERSION) ?? "?"}-${
      header.string(TAG.RELEASE) ?? "?"
    }`,
    changed: installed === undefined ? null : localTime(installed * 1000),
    changedFrom: installed === undefined ? null : "rpmdb",
  };
}
