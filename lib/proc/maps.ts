/**
 * Parsing of `/proc/PID/maps` (proc(5)): which mappings are of deleted files.
 *
 * @module
 */

/** The kernel's marker after the name of a file that was unlinked. */
export const DELETED_SUFFIX = " (deleted)";
/** OpenVZ kernels glue the marker before the name instead. */
const OPENVZ_PREFIX = "(deleted)/";

/** A mapping whose file the kernel marks as deleted. */
export interface DeletedMapping {
  /** The address range as printed in maps, e.g. `7f1c2a000000-7f1c2a021000`. */
  readonly range: string;
  /** The file's identity as printed in maps: device and inode, e.g. `fd:01 131090`. */
  readonly file: string;
  /** The file's name without the marker, with the kernel's `\012` turned back into a newline. */
  readonly path: string;
}

/** The five fields before the name, as proc(5) describes them. */
const FIELDS: readonly RegExp[] = [
  /^[0-9a-f]+-[0-9a-f]+$/, // address range
  /^[-r][-w][-x][ps]$/, // permissions
  /^[0-9a-f]+$/, // offset
  /^[0-9a-f]+:[0-9a-f]+$/, // device
  /^[0-9]+$/, // inode
];

/**
 * Parses one maps line and returns the mapping when its file is marked deleted,
 * or `null` for every other line (live files, anonymous memory, garbage).
 *
 * The name is everything after the inode field, leading spaces removed, so names
 * with spaces survive. Marked are `NAME (deleted)` and the OpenVZ form
 * `(deleted)/NAME`; `(deleted)` elsewhere in a name is part of the name.
 *
 * @param line One line of `/proc/PID/maps`, without its newline.
 * @returns The deleted mapping, or `null`.
 *
 * @example Names with spaces, and the OpenVZ form
 * ```ts
 * import { parseMapsLine } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(
 *   parseMapsLine("7f00-7f21 r-xp 00000000 fd:01 42   /opt/my app/libx.so (deleted)"),
 *   { range: "7f00-7f21", file: "fd:01 42", path: "/opt/my app/libx.so" },
 * );
 * assertEquals(parseMapsLine("7f00-7f21 r-xp 00000000 fd:01 42   (deleted)/v/t/p/bin/x")?.path, "/v/t/p/bin/x");
 * assertEquals(parseMapsLine("7f00-7f21 r-xp 00000000 fd:01 42   /lib/libx_(deleted)i.so"), null);
 * ```
 */
export function parseMapsLine(line: string): DeletedMapping | null {
  // address perms offset dev inode [padding] pathname
  let pos = 0;
  let range = "";
  let device = "";
  for (let field = 0; field < 5; field++) {
    const end = line.indexOf(" ", pos);
    if (end < 0) return null;
    const value = line.slice(pos, end);
    if (!FIELDS[field]!.test(value)) return null;
    if (field === 0) range = value;
    if (field === 3) device = value;
    if (field === 4) device += ` ${value}`;
    pos = end + 1;
  }
  while (line.charCodeAt(pos) === 0x20) pos++;
  const name = parseMarkedName(line.slice(pos));
  return name && { range, file: device, path: name.path };
}

/** A marked maps name: the file's path, and the name as printed (which may be a real name). */
export interface MarkedName {
  /** The name without the marker, `\012` read as a newline. */
  readonly path: string;
  /** The name as printed, marker included, `\012` read as a newline; the path for the OpenVZ form. */
  readonly printed: string;
}

/**
 * The name field of a maps line (after the inode and its padding) when it is
 * marked deleted, or `null`: the one place a maps name loses its marker.
 */
export function parseMarkedName(field: string): MarkedName | null {
  const name = field.includes("\\012") ? field.replaceAll("\\012", "\n") : field;
  const unmarked = withoutMarker(name);
  // The OpenVZ form, `(deleted)/NAME`, cannot be a real name: printed is the path.
  const path = unmarked ??
    (name.startsWith(OPENVZ_PREFIX) ? name.slice(OPENVZ_PREFIX.length - 1) : undefined);
  if (path === undefined || !path.startsWith("/")) return null;
  return { path, printed: unmarked === undefined ? path : name };
}

/**
 * A name less the kernel's trailing ` (deleted)` marker, or undefined when it
 * has none: for maps names and for the targets of `exe`, `fd` and `map_files` links.
 */
export function withoutMarker(name: string): string | undefined {
  return name.endsWith(DELETED_SUFFIX) ? name.slice(0, -DELETED_SUFFIX.length) : undefined;
}

/**
 * The name of the `map_files` entry for a maps range: the kernel prints maps
 * addresses zero-padded to 8 digits but names map_files entries without padding.
 */
export function mapFilesName(range: string): string {
  return range.split("-").map((hex) => hex.replace(/^0+(?=.)/, "")).join("-");
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
