/**
 * Small reads of the files the reboot check looks at (boot loader
 * configurations, microcode headers): regular files only, each within a
 * bound, each asked of Deno's permissions first, and every failure a reason
 * in a few words instead of an exception.
 *
 * @module
 */

import { isGranted } from "../proc/permissions.ts";
import { isLocalType, mountOf, type MountTable, parseMountInfo } from "../proc/mounts.ts";

let mounts: MountTable | null | undefined;

/**
 * Why a path must not be asked at all: it lies on a file system that may
 * wait on someone (an automount not mounted now, whose first touch mounts
 * the ESP on every monitoring run; NFS, FUSE). Absolute paths only, by this
 * process's mount table; undefined when it may be read.
 */
export function mustNotAsk(path: string): string | undefined {
  if (!path.startsWith("/")) return undefined;
  if (mounts === undefined) {
    const self = "/proc/self/mountinfo";
    try {
      mounts = isGranted({ name: "read", path: self })
        ? parseMountInfo(Deno.readTextFileSync(self))
        : null;
    } catch {
      mounts = null;
    }
  }
  return mounts === null ? undefined : mustNotAskIn(mounts, path);
}

/** {@linkcode mustNotAsk} by a given mount table. */
export function mustNotAskIn(table: MountTable, path: string): string | undefined {
  const type = mountOf(table, path.replace(/\/+$/, ""))?.type;
  if (type === undefined || isLocalType(type)) return undefined;
  return type === "autofs" ? "an automount, not mounted now" : `on ${type}, which may not answer`;
}

/** Why a file or directory could not be read, in a few words. */
export interface Unread {
  /** E.g. `it does not exist`, `not permitted to read it`, `larger than 1048576 bytes`. */
  readonly why: string;
}

/** Whether a read gave up (see {@linkcode Unread}). */
export function isUnread(value: unknown): value is Unread {
  return typeof value === "object" && value !== null && "why" in value;
}

/** The words for an error of the file system. */
function whyOf(error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) throw error;
  if (error instanceof Deno.errors.NotFound) return "it does not exist";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return error instanceof Error ? error.message : String(error);
}

/**
 * Opens a regular file for reading, or says why not. The type is asked
 * before the open: opening a FIFO would wait for a writer for ever.
 */
export function openRegular(path: string, limit: number): Deno.FsFile | Unread {
  if (!isGranted({ name: "read", path })) return { why: "not permitted to read it" };
  const remote = mustNotAsk(path);
  if (remote !== undefined) return { why: remote };
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) return { why: "not a regular file" };
    if (info.size > limit) return { why: `larger than ${limit} bytes` };
    const file = Deno.openSync(path);
    // The name may have been swapped since the stat: ask the open file itself.
    const opened = file.statSync();
    if (!opened.isFile || opened.size > limit) {
      file.close();
      return { why: "changed while it was read" };
    }
    return file;
  } catch (error) {
    return { why: whyOf(error) };
  }
}

/** Reads up to `length` bytes at `offset` of an open file; fewer at its end. */
export function readAt(file: Deno.FsFile, offset: number, length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  file.seekSync(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const count = file.readSync(buffer.subarray(filled));
    if (count === null || count === 0) break;
    filled += count;
  }
  return buffer.subarray(0, filled);
}

/** A whole small regular file, at most `limit` bytes, or why it could not be read. */
export function readSmallFile(path: string, limit: number): Uint8Array | Unread {
  const file = openRegular(path, limit);
  if (isUnread(file)) return file;
  try {
    // One byte more than the bound: a file that grew since the stat is refused.
    const bytes = readAt(file, 0, limit + 1);
    return bytes.length > limit ? { why: `larger than ${limit} bytes` } : bytes;
  } catch (error) {
    return { why: whyOf(error) };
  } finally {
    file.close();
  }
}

/** A small text file (UTF-8, undecodable bytes replaced), or why it could not be read. */
export function readSmallText(path: string, limit: number): string | Unread {
  const bytes = readSmallFile(path, limit);
  return isUnread(bytes) ? bytes : new TextDecoder().decode(bytes);
}

/** The names in a directory, sorted, at most `limit` of them, or why they could not be listed. */
export function listDirectory(path: string, limit: number): string[] | Unread {
  if (!isGranted({ name: "read", path })) return { why: "not permitted to read it" };
  const remote = mustNotAsk(path);
  if (remote !== undefined) return { why: remote };
  try {
    const names: string[] = [];
    for (const entry of Deno.readDirSync(path)) {
      if (names.length === limit) return { why: `more than ${limit} entries` };
      names.push(entry.name);
    }
    return names.sort();
  } catch (error) {
    return { why: whyOf(error) };
  }
}

/** Whether a path names a regular file (following links); false when that cannot be asked. */
export function isRegularFile(path: string): boolean {
  if (!isGranted({ name: "read", path }) || mustNotAsk(path) !== undefined) return false;
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    whyOf(error);
    return false;
  }
}
