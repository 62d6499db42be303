/**
 * Reading files of another process's root (a container's, a chroot's) as
 * untrusted input. Every name is resolved by the kernel inside that root and
 * inside the root's mount (`openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_XDEV |
 * RESOLVE_NO_MAGICLINKS`), so no link leads out of it: an absolute link in the
 * container means the container's own path, where read naively through
 * `/proc/PID/root/…` it would be resolved on the host's side. Only regular
 * files are read, each and all together within a bound, through the
 * descriptor the lookup pinned.
 *
 * @module
 */

import type { PackageTree } from "./packages.ts";
import {
  ENOSYS,
  EXDEV,
  type FdStat,
  S_IFDIR,
  S_IFMT,
  S_IFREG,
  type Syscalls,
} from "../proc/syscalls.ts";

/** What reading one tree may cost. */
export interface TreeBounds {
  /** The largest file read. */
  readonly fileBytes: number;
  /** All files read from the tree, together. */
  readonly totalBytes: number;
  /** The most entries of one directory listed. */
  readonly entries: number;
}

/**
 * The bounds of a package database read from a tree that is not the host's:
 * well above the largest real ones (a Debian desktop's dpkg database reads
 * ≈ 60 MB in all, a Fedora workstation's `rpmdb.sqlite` ≈ 150 MB).
 */
export const PACKAGE_TREE_BOUNDS: TreeBounds = Object.freeze({
  fileBytes: 256 << 20,
  totalBytes: 512 << 20,
  entries: 200_000,
});

/** Files are copied out in chunks of this size. */
const CHUNK = 1 << 20;

/**
 * A tree held by a descriptor of its root (an `O_PATH` descriptor the caller
 * keeps open and closes), read within `bounds`. A read past a bound throws a
 * `RangeError`; a tree on a kernel without `openat2` (before Linux 5.6)
 * throws a `TypeError`: it cannot be read safely at all. A name that leads
 * nowhere, to no regular file, or across a mount reads as null (the first
 * that crossed a mount is kept in `crossed`).
 */
export class ConfinedTree implements PackageTree {
  readonly #sys: Syscalls;
  readonly #root: number;
  readonly #bounds: TreeBounds;
  #left: number;
  /** The first name looked up that crossed a mount (and so was not read), if any. */
  crossed: string | undefined;

  /**
   * @param sys The system calls.
   * @param root An `O_PATH` descriptor of the tree's root, whose mount the caller checked.
   * @param bounds What reading may cost.
   */
  constructor(sys: Syscalls, root: number, bounds: TreeBounds = PACKAGE_TREE_BOUNDS) {
    this.#sys = sys;
    this.#root = root;
    this.#bounds = bounds;
    this.#left = bounds.totalBytes;
  }

  /** The names of the regular files in directory `dir`, or null. */
  list(dir: string): string[] | null {
    return this.#with(dir, (fd, stat) => {
      if ((stat.mode & S_IFMT) !== S_IFDIR) return null;
      const names: string[] = [];
      let entries = 0;
      // Through our own descriptor's link: the pinned directory itself, named by no string.
      for (const entry of Deno.readDirSync(`/proc/self/fd/${fd}`)) {
        if (++entries > this.#bounds.entries) {
          throw new RangeError(`"${dir}" holds more than ${this.#bounds.entries} entries`);
        }
        // Deno spells bytes that are not UTF-8 as U+FFFD: such a name could not be opened again.
        if (entry.isFile && !entry.name.includes("\ufffd")) names.push(entry.name);
      }
      return names;
    });
  }

  /** The bytes of the regular file `path`, or null. */
  read(path: string): Uint8Array | null {
    return this.#with(path, (fd, stat) => {
      if ((stat.mode & S_IFMT) !== S_IFREG) return null;
      const limit = this.#limit(path, stat.size);
      const file = Deno.openSync(`/proc/self/fd/${fd}`);
      try {
        // Room for what stat said and a little more: a file may grow while it is read.
        let bytes = new Uint8Array(Math.min(stat.size + 4096, limit + 1));
        let filled = 0;
        for (;;) {
          if (filled === bytes.length) {
            if (filled > limit) throw this.#tooLarge(path);
            const bigger = new Uint8Array(Math.min(bytes.length * 2, limit + 1));
            bigger.set(bytes);
            bytes = bigger;
          }
          const count = file.readSync(bytes.subarray(filled));
          if (count === null || count === 0) break;
          filled += count;
        }
        if (filled > limit) throw this.#tooLarge(path);
        this.#left -= filled;
        return bytes.subarray(0, filled);
      } finally {
        file.close();
      }
    });
  }

  /** The text of the regular file `path` (bytes that are not UTF-8 as U+FFFD), or null. */
  readText(path: string): string | null {
    const bytes = this.read(path);
    return bytes === null ? null : new TextDecoder().decode(bytes);
  }

  /** The mtime of what `path` leads to, in ms, or null. */
  mtimeMs(path: string): number | null {
    return this.#with(path, (_fd, stat) => stat.mtimeMs || null);
  }

  /**
   * Copies the regular file `path` to a new file `dest` (mode 0600) of the
   * scanner's own: true when copied, false when there is no such file.
   */
  copyOut(path: string, dest: string): boolean {
    return this.#with(path, (fd, stat) => {
      if ((stat.mode & S_IFMT) !== S_IFREG) return false;
      const limit = this.#limit(path, stat.size);
      const from = Deno.openSync(`/proc/self/fd/${fd}`);
      let to: Deno.FsFile | undefined;
      try {
        to = Deno.openSync(dest, { write: true, createNew: true, mode: 0o600 });
        const chunk = new Uint8Array(CHUNK);
        let copied = 0;
        for (;;) {
          const count = from.readSync(chunk);
          if (count === null || count === 0) break;
          copied += count;
          if (copied > limit) throw this.#tooLarge(path);
          let written = 0;
          while (written < count) written += to.writeSync(chunk.subarray(written, count));
        }
        this.#left -= copied;
        return true;
      } finally {
        from.close();
        to?.close();
      }
    }) ?? false;
  }

  /** The device and inode of what `path` leads to (`DEV:INO`), or null. */
  identity(path: string): string | null {
    return this.#with(path, (_fd, stat) => `${stat.dev}:${stat.ino}`);
  }

  /** Runs `body` on a descriptor of what `path` leads to inside the tree; null when nothing does. */
  #with<T>(path: string, body: (fd: number, stat: FdStat) => T): T | null {
    const fd = this.#sys.openInRoot(this.#root, path);
    if (fd === -ENOSYS) {
      throw new TypeError(
        "Cannot read another root: it is read only through openat2 (Linux 5.6 and later)",
      );
    }
    if (fd === -EXDEV) this.crossed ??= path;
    if (fd < 0) return null;
    try {
      const stat = this.#sys.stat(fd);
      return typeof stat === "number" ? null : body(fd, stat);
    } finally {
      this.#sys.close(fd);
    }
  }

  /** What may be read of `path`, which holds `size` bytes now; throws when that is past a bound. */
  #limit(path: string, size: number): number {
    const limit = Math.min(this.#bounds.fileBytes, this.#left);
    if (size > limit) throw this.#tooLarge(path);
    return limit;
  }

  #tooLarge(path: string): RangeError {
    return new RangeError(
      `"${path}" is larger than is read (${this.#bounds.fileBytes >> 20} MiB a file, ` +
        `${this.#bounds.totalBytes >> 20} MiB a tree)`,
    );
  }
}
