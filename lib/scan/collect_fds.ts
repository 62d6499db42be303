/**
 * The fds collector: the files a process holds open (`/proc/PID/fd/N`) that
 * the identity rule finds stale, such as rotated logs, those whose names the
 * kernel will not return among them.
 *
 * @module
 */

import { withoutMarker } from "../proc/maps.ts";
import { deviceName } from "../proc/mounts.ts";
import { classifyReadError, readLinkName } from "../proc/procfs.ts";
import { type ScanContext, whyNot } from "./context.ts";
import { type DeletedFile, FileSet, staleEntry } from "./model.ts";

/** The stale files process `pid` holds open, one entry per name. */
export function collectOpen(context: ScanContext, pid: number): DeletedFile[] {
  const dir = `${context.proc}/${pid}/fd`;
  const found = new FileSet();
  let unreadable: string | undefined;
  if (context.limits) checkDirectory(dir);
  let entries = 0;
  // Past the most kept of one process: each further deleted name counted once, by a 53-bit hash.
  const pastMax = new Set<number>();
  const maxChars = context.limits ? Infinity : context.shares.left(pid);
  let chars = 0;
  for (const entry of Deno.readDirSync(dir)) {
    if (context.limits && ++entries > context.limits.fds) {
      throw new RangeError(`Cannot read "${dir}": more entries than a process may open`);
    }
    let target: string;
    try {
      target = readLinkName(`${dir}/${entry.name}`);
    } catch (error) {
      if (classifyReadError(error) !== "unreadable") continue;
      if ((error as { code?: unknown }).code === "ENAMETOOLONG") {
        const unnamed = unnamedFile(context, pid, entry.name);
        if (typeof unnamed === "string") unreadable ??= unnamed;
        else if (unnamed !== null && !found.has(unnamed.path, "fd")) found.add(unnamed);
        continue;
      }
      // Counted once per process: a refused process refuses every fd alike.
      unreadable ??= `fd ${entry.name}: ${whyNot(error)}`;
      continue;
    }
    const path = withoutMarker(target);
    if (path === undefined) continue;
    // Each fd is judged on its own: a live decoy named `x (deleted)` must not speak for x.
    if (found.has(path, "fd") || context.ignored(path)) continue;
    if (found.files.length >= context.budget.filesPerProcess || chars >= maxChars) {
      const hash = hashText(path);
      if (!pastMax.has(hash)) {
        pastMax.add(hash);
        context.notListed++;
      }
      continue;
    }
    const verdict = context.identity.openFile(pid, { path, printed: target }, entry.name);
    if (!verdict.stale) continue;
    if (context.tree && !context.tree.keepName(path)) {
      context.notListed++;
      continue;
    }
    found.add(staleEntry(path, "fd", verdict));
    chars += path.length;
  }
  if (unreadable !== undefined) context.unreadable.mark(pid, unreadable);
  return found.files;
}

/** Throws unless `path` is a directory itself, not a link to one. */
function checkDirectory(path: string): void {
  if (!Deno.lstatSync(path).isDirectory) {
    throw new TypeError(`Cannot read "${path}": not a directory`);
  }
}

/**
 * An open file whose name the kernel will not return (longer than a page, as
 * `readlink` and `d_path` allow): its object, asked like any other's, tells
 * whether it was deleted (no links left), and which it is. It is reported by
 * a placeholder name; null when it is still linked (no finding); a reason
 * when it could not be asked.
 */
function unnamedFile(
  context: ScanContext,
  pid: number,
  fd: string,
): DeletedFile | string | null {
  const object = context.identity.unnamedOpenFile(pid, fd);
  if (typeof object === "string") return `fd ${fd}: its name is too long to read, and ${object}`;
  if (object.nlink > 0) return null;
  const device = deviceName(object.dev);
  return {
    path: `(name too long: device ${device} inode ${object.ino})`,
    kind: "fd",
    unnamed: { device, inode: object.ino },
  };
}

/** A 53-bit hash of a string's UTF-16 units: FNV-1a and a multiplicative hash, side by side. */
function hashText(text: string): number {
  let fnv = 0x811c9dc5;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    fnv = Math.imul(fnv ^ unit, 0x01000193);
    other = Math.imul(other, 0x2f0b3a49) + unit | 0;
  }
  return (fnv >>> 0) * 0x200000 + ((other ^ (other >>> 11)) & 0x1fffff);
}
