/**
 * The system calls on file descriptors that Deno's own API lacks, through
 * libc (`Deno.dlopen`): open a path without opening the file (`O_PATH`), one
 * directory at a time or confined to a root (`openat2`), and `statx` or
 * `readlinkat` of what such a descriptor holds. A descriptor pins what it
 * names, so no later step is resolved again from a string an attacker may
 * have changed meanwhile, and its mount is known from `/proc/self/fdinfo`
 * before anything asks that mount's file system.
 *
 * Needs `--allow-ffi` (part of `-A`); without it, or without glibc or musl,
 * {@linkcode openSyscalls} gives null and callers fall back to paths.
 *
 * @module
 */

import { decodeName, encodeName, hasRawBytes } from "./names.ts";

/** What `statx` says of the object a descriptor holds. */
export interface FdStat {
  /** `st_mode`: type and permission bits. */
  readonly mode: number;
  /** The device, encoded as `Deno.FileInfo.dev` is (glibc's `dev_t`). */
  readonly dev: number;
  readonly ino: number;
  readonly nlink: number;
  readonly uid: number;
  readonly size: number;
  /** ctime, mtime and birth time in ms, 0 where the file system keeps none. */
  readonly ctimeMs: number;
  readonly mtimeMs: number;
  readonly birthtimeMs: number;
}

/** File types in `FdStat.mode`. */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;

/** Errors, as the negative numbers the calls below return. */
export const ENOENT = 2;
export const ENOTDIR = 20;
export const EXDEV = 18;
export const ELOOP = 40;
export const ENOSYS = 38;
export const EAGAIN = 11;

/** The calls, each returning a descriptor or value, or a negative errno (never throwing). */
export interface Syscalls {
  /**
   * `openat(dir, path, O_PATH | O_CLOEXEC)`, not following a final link
   * unless `follow`; `dir` may be {@linkcode AT_FDCWD}.
   */
  openPath(dir: number, path: string, follow: boolean): number;
  /**
   * `openat2(root, path)` with `O_PATH` and `RESOLVE_IN_ROOT |
   * RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS`: resolved by the kernel inside
   * `root` and inside its mount, following links; `-EXDEV` when the path
   * crosses a mount, `-ENOSYS` before Linux 5.6.
   */
  openInRoot(root: number, path: string): number;
  /** `statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)` of a descriptor. */
  stat(fd: number): FdStat | number;
  /** `readlinkat(fd, "")` of an `O_PATH` descriptor of a link. */
  readLink(fd: number): string | number;
  /** The mount ID of a descriptor, from `/proc/self/fdinfo/FD` (reading it asks no file system). */
  mountId(fd: number): number;
  /** Opens a file for reading (a `mountinfo` to watch). */
  openRead(path: string): number;
  /** The whole text of a file held open for reading, read from its start (`pread`); null on failure. */
  readWhole(fd: number): Uint8Array | null;
  /** `poll(fd, POLLPRI)` now: true when a `mountinfo` descriptor's namespace changed since last asked. */
  changed(fd: number): boolean;
  close(fd: number): void;
}

/** `openat`'s "the working directory". */
export const AT_FDCWD = -100;

const O_RDONLY = 0;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;
const RESOLVE_NO_XDEV = 0x01;
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_IN_ROOT = 0x10;
/** `openat2`'s number is one on every architecture but alpha (since Linux 5.1's unified table). */
const SYS_OPENAT2 = 437n;
const STATX_BASIC_STATS = 0x7ff;
const STATX_BTIME = 0x800;
const POLLPRI = 0x2;
const POLLERR = 0x8;

const LIBRARIES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"];

// Sizes and offsets are 64-bit where C has them so (size_t, off_t, long): a narrower argument
// may leave the upper half of its register undefined on some architectures.
const SYMBOLS = {
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  syscall: { parameters: ["i64", "i64", "buffer", "buffer", "usize"], result: "i64" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  readlinkat: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

let loaded: Syscalls | null | undefined;

/**
 * The calls, or null when Deno may not load native code (`--allow-ffi`) or no
 * C library is found. Loaded once per process.
 */
export function openSyscalls(): Syscalls | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (Deno.build.os !== "linux") return loaded;
  // Asked first: an ungranted dlopen would make Deno prompt on a terminal.
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return loaded;
  for (const library of LIBRARIES) {
    try {
      loaded = bind(Deno.dlopen(library, SYMBOLS).symbols);
      break;
    } catch {
      // Not this C library: try the next.
    }
  }
  return loaded;
}

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

// Long by design: one closure per system call over buffers made once, so that no
// call allocates; split up, the buffers would be handed around instead.
function bind(libc: Symbols): Syscalls {
  const errnoAt = libc.__errno_location();
  if (errnoAt === null) throw new Error("Cannot bind libc: it has no errno location");
  const errnoView = new Deno.UnsafePointerView(errnoAt);
  const fail = () => -errnoView.getInt32();
  const empty = Uint8Array.of(0);
  const statBuffer = new Uint8Array(256);
  const statView = new DataView(statBuffer.buffer);
  // 64-bit fields in two halves: no BigInt made for each.
  const u64 = (at: number) =>
    statView.getUint32(at + 4, true) * 0x1_0000_0000 + statView.getUint32(at, true);
  const i64 = (at: number) =>
    statView.getInt32(at + 4, true) * 0x1_0000_0000 + statView.getUint32(at, true);
  const linkBuffer = new Uint8Array(4097);
  const readBuffer = new Uint8Array(4096);
  const pollBuffer = new Uint8Array(8);
  const pollView = new DataView(pollBuffer.buffer);
  const how = new BigUint64Array([
    BigInt(O_PATH | O_CLOEXEC),
    0n,
    BigInt(RESOLVE_IN_ROOT | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS),
  ]);
  const howBytes = new Uint8Array(how.buffer);
  let hasOpenat2 = true;
  return {
    openPath(dir, path, follow) {
      const flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
      const fd = libc.openat(dir, cString(path), flags, 0);
      return fd < 0 ? fail() : fd;
    },
    openInRoot(root, path) {
      if (!hasOpenat2) return -ENOSYS;
      const fd = Number(libc.syscall(SYS_OPENAT2, BigInt(root), cString(path), howBytes, 24n));
      if (fd >= 0) return fd;
      const error = fail();
      if (error === -ENOSYS) hasOpenat2 = false;
      return error;
    },
    stat(fd) {
      const flags = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;
      if (libc.statx(fd, empty, flags, STATX_BASIC_STATS | STATX_BTIME, statBuffer) < 0) {
        return fail();
      }
      const mask = statView.getUint32(0, true);
      const ms = (at: number) => i64(at) * 1000 + statView.getUint32(at + 8, true) / 1e6;
      return {
        mode: statView.getUint16(28, true),
        dev: encodeDevice(statView.getUint32(136, true), statView.getUint32(140, true)),
        ino: u64(32),
        nlink: statView.getUint32(16, true),
        uid: statView.getUint32(20, true),
        size: u64(40),
        ctimeMs: ms(96),
        mtimeMs: ms(112),
        birthtimeMs: mask & STATX_BTIME ? ms(80) : 0,
      };
    },
    readLink(fd) {
      const length = Number(libc.readlinkat(fd, empty, linkBuffer, BigInt(linkBuffer.length)));
      if (length < 0) return fail();
      return decodeName(linkBuffer.subarray(0, length));
    },
    mountId(fd) {
      const info = libc.openat(
        AT_FDCWD,
        cString(`/proc/self/fdinfo/${fd}`),
        O_RDONLY | O_CLOEXEC,
        0,
      );
      if (info < 0) return fail();
      const length = Number(libc.read(info, readBuffer, BigInt(readBuffer.length)));
      libc.close(info);
      return length < 0 ? -EAGAIN : mountIdIn(readBuffer, length);
    },
    openRead(path) {
      const fd = libc.openat(AT_FDCWD, cString(path), O_RDONLY | O_CLOEXEC, 0);
      return fd < 0 ? fail() : fd;
    },
    readWhole(fd) {
      let bytes = new Uint8Array(1 << 16);
      let filled = 0;
      for (;;) {
        if (filled === bytes.length) {
          const bigger = new Uint8Array(bytes.length * 2);
          bigger.set(bytes);
          bytes = bigger;
        }
        const count = Number(
          libc.pread(fd, bytes.subarray(filled), BigInt(bytes.length - filled), BigInt(filled)),
        );
        if (count < 0) return null;
        if (count === 0) return bytes.subarray(0, filled);
        filled += count;
      }
    },
    changed(fd) {
      pollView.setInt32(0, fd, true);
      pollView.setInt16(4, POLLPRI, true);
      pollView.setInt16(6, 0, true);
      if (libc.poll(pollBuffer, 1n, 0) < 0) return true;
      return (pollView.getInt16(6, true) & (POLLPRI | POLLERR)) !== 0;
    },
    close(fd) {
      libc.close(fd);
    },
  };
}

const encoder = new TextEncoder();
/** Room for a path of PATH_MAX characters and its NUL, reused: a call's path is consumed by the call. */
const pathBuffer = new Uint8Array(4096 * 3 + 1);

/** A path as a NUL-terminated byte string, byte for byte (see `encodeName`). */
function cString(path: string): Uint8Array {
  if (hasRawBytes(path) || path.length > 4096) {
    const bytes = encodeName(path);
    const out = new Uint8Array(bytes.length + 1);
    out.set(bytes);
    return out;
  }
  const written = encoder.encodeInto(path, pathBuffer).written;
  pathBuffer[written] = 0;
  return pathBuffer;
}

const MNT_ID = [0x6d, 0x6e, 0x74, 0x5f, 0x69, 0x64, 0x3a]; // "mnt_id:"

/** The number after `mnt_id:` at the start of a line of fdinfo, or -EAGAIN; in bytes, no text made. */
function mountIdIn(bytes: Uint8Array, length: number): number {
  outer: for (let at = 0; at + MNT_ID.length <= length; at++) {
    if (at > 0 && bytes[at - 1] !== 0x0a) continue;
    for (let k = 0; k < MNT_ID.length; k++) if (bytes[at + k] !== MNT_ID[k]) continue outer;
    let i = at + MNT_ID.length;
    while (i < length && (bytes[i] === 0x20 || bytes[i] === 0x09)) i++;
    const start = i;
    let id = 0;
    for (; i < length && bytes[i]! >= 0x30 && bytes[i]! <= 0x39; i++) {
      id = id * 10 + bytes[i]! - 0x30;
    }
    return i > start ? id : -EAGAIN;
  }
  return -EAGAIN;
}

/** `makedev()` as glibc encodes it, the encoding of `Deno.FileInfo.dev` (see `deviceName`). */
export function encodeDevice(major: number, minor: number): number {
  const low = (((major & 0xfff) << 8) | (minor & 0xff) | ((minor & 0xfff00) << 12)) >>> 0;
  const high = ((major & 0xfffff000) | (minor >>> 20)) >>> 0;
  return high * 0x1_0000_0000 + low;
}
