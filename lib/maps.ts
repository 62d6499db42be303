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
  const marked = parseMarkedLine(line);
  return marked && { range: marked.range, file: marked.file, path: marked.path };
}

/** A marked maps line's fields, with the name as printed as well (it may be a real name). */
export interface MarkedLine extends DeletedMapping {
  /** The name as printed, marker included, `\012` read as a newline; the path for the OpenVZ form. */
  readonly printed: string;
}

/** {@linkcode parseMapsLine}, keeping the name as printed: the one place a maps name loses its marker. */
export function parseMarkedLine(line: string): MarkedLine | null {
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
  let name = line.slice(pos);
  if (name.includes("\\012")) name = name.replaceAll("\\012", "\n");
  const unmarked = withoutMarker(name);
  // The OpenVZ form, `(deleted)/NAME`, cannot be a real name: printed is the path.
  const path = unmarked ??
    (name.startsWith(OPENVZ_PREFIX) ? name.slice(OPENVZ_PREFIX.length - 1) : undefined);
  if (path === undefined || !path.startsWith("/")) return null;
  return { range, file: device, path, printed: unmarked === undefined ? path : name };
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

const SPACE = 0x20;

/**
 * Offset of the device field in the maps line `buf[start, end)`: what follows
 * (device, inode, name) names one file, whatever segment of it a line maps;
 * `end` when the line has too few fields.
 */
export function deviceOffset(buf: Uint8Array, start: number, end: number): number {
  return skipFields(buf, start, end, 3);
}

function skipFields(buf: Uint8Array, start: number, end: number, count: number): number {
  let pos = start;
  // A loop, not `indexOf`: the fields are a few bytes each, and each call of a
  // typed array's built-in costs ≈ 600 instructions, more than walking them.
  for (let field = 0; field < count; field++) {
    while (pos < end && buf[pos] !== SPACE) pos++;
    if (pos === end) return end;
    pos++;
  }
  return pos;
}

/**
 * Where the device field starts in a decoded maps line (after three spaces),
 * or -1: the text from there names one file in every segment and process.
 */
export function fileKeyOffset(line: string): number {
  let pos = -1;
  for (let field = 0; field < 3; field++) {
    pos = line.indexOf(" ", pos + 1);
    if (pos < 0) return -1;
  }
  return pos + 1;
}

const OPEN_PAREN = 0x28;
const NEWLINE = 0x0a;
const DELETED_TAIL = [0x64, 0x65, 0x6c, 0x65, 0x74, 0x65, 0x64, 0x29]; // "deleted)"

/**
 * Calls `onLine(start, end)` for every complete line in `buf[0, length)` that
 * contains `(deleted)`, the only lines that can name a deleted file, so the
 * others are never decoded. Returns the offset just past the last complete line.
 */
export function forEachCandidateLine(
  buf: Uint8Array,
  length: number,
  onLine: (start: number, end: number) => void,
): number {
  if (length === 0) return 0;
  const limit = buf.lastIndexOf(NEWLINE, length - 1) + 1;
  // Search only the complete lines: the rest of the buffer holds stale bytes.
  const lines = buf.subarray(0, limit);
  let at = lines.indexOf(OPEN_PAREN);
  while (at >= 0) {
    let match = true;
    for (let k = 0; k < DELETED_TAIL.length; k++) {
      if (lines[at + 1 + k] !== DELETED_TAIL[k]) {
        match = false;
        break;
      }
    }
    if (match) {
      const start = lines.lastIndexOf(NEWLINE, at) + 1;
      // A loop, not indexOf (a call costs more than the few bytes to the end of
      // the line); it stops, as every complete line ends with a newline.
      let end = at + DELETED_TAIL.length;
      while (lines[end] !== NEWLINE) end++;
      onLine(start, end);
      at = lines.indexOf(OPEN_PAREN, end + 1);
    } else {
      at = lines.indexOf(OPEN_PAREN, at + 1);
    }
  }
  return limit;
}
