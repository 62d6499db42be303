/**
 * Byte-exact, allocation-light reads of procfs entries, and the meaning of the
 * errors they raise.
 *
 * @module
 */

import { decodeName, lenientIsExact } from "./names.ts";
import { deviceOffset, forEachCandidateLine } from "./maps.ts";

/** What a failed read of one process's entry means for the scan. */
export type ReadFailure = "gone" | "unreadable";

/**
 * Classifies an error from reading one process's entry. The process exited
 * (`gone`: skip it), or the kernel refused or failed the read (`unreadable`:
 * count it). Deno's own refusal (`NotCapable`) concerns every process alike, so
 * it is rethrown: swallowing it per process would make a scan report nothing.
 */
export function classifyReadError(error: unknown): ReadFailure {
  if (error instanceof Deno.errors.NotCapable) throw error;
  if (error instanceof Deno.errors.NotFound) return "gone";
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ESRCH" || code === "ENOENT") return "gone";
  if (error instanceof Error) return "unreadable";
  throw error;
}

const MAX_BUFFER = 1 << 24;
let sharedBuffer = new Uint8Array(1 << 16);
/** `sharedBuffer` less the byte kept for a final newline: the view most reads use. */
let fullView = sharedBuffer.subarray(0, sharedBuffer.length - 1);
/** The device, inode and name bytes of the last candidate line, to pass over repeated segments. */
let lastFile = new Uint8Array(256);
let lastLength = -1;
/** Where the lines of the file being read go. */
let deliver: (line: string) => void = () => {};
/**
 * The files (device, inode and name bytes) handed over from the file being
 * read: a process that maps two files 30,000 times each, alternately, costs two
 * decodes, not 60,000. Their bytes lie end to end in one reused buffer (an
 * ArrayBuffer of its own per file measured dear); they are compared one by one
 * while few (most processes), through a hash of their bytes beyond that.
 */
let seenBytes = new Uint8Array(4096);
let seenUsed = 0;
const seenStarts: number[] = [];
const seenLengths: number[] = [];
const seenByHash = new Map<number, number[]>();
const FEW = 16;

/**
 * Reads a maps file in chunks through one reused buffer and hands each decoded
 * line that contains `(deleted)` to `onLine`, as it is read: memory stays
 * bounded by the longest line, however many mappings the process has.
 *
 * Each file (device, inode and name) is handed over once, at its first line:
 * a file is mapped in several segments, one line each, and a process may map
 * one file thousands of times. Lines are compared as bytes, before any decode.
 */
export function readCandidateLines(
  path: string,
  onLine: (line: string) => void,
  limit?: ReadLimit,
): void {
  // A read that failed part-way (the process exited) may have left its last line behind.
  lastLength = -1;
  if (seenStarts.length > 0) forgetSeen();
  deliver = onLine;
  if (limit) checkRegularFile(path, limit);
  const file = Deno.openSync(path);
  let filled = 0;
  let total = 0;
  try {
    for (;;) {
      // One byte stays free for the newline that ends an unterminated last line.
      if (filled >= sharedBuffer.length - 1) growBuffer(path);
      const view = filled === 0 ? fullView : sharedBuffer.subarray(filled, sharedBuffer.length - 1);
      const count = file.readSync(view);
      if (count === null || count === 0) break;
      filled += count;
      total += count;
      if (limit && total > limit.maxBytes) throw tooLarge(path, limit);
      const consumed = forEachCandidateLine(sharedBuffer, filled, takeCandidate);
      if (consumed > 0) {
        sharedBuffer.copyWithin(0, consumed, filled);
        filled -= consumed;
      }
    }
  } finally {
    // close(), not `using`: the dispose path (op_try_close) measured dearer per file.
    file.close();
  }
  if (filled > 0) {
    // A last line without a newline (fixtures, truncated files).
    sharedBuffer[filled] = 0x0a;
    forEachCandidateLine(sharedBuffer, filled + 1, takeCandidate);
  }
}

function takeCandidate(start: number, end: number): void {
  const from = deviceOffset(sharedBuffer, start, end);
  const length = end - from;
  // Most repeats are the next segment of the same file.
  if (length === lastLength && sameBytes(sharedBuffer, from, lastFile, 0, length)) return;
  if (length > lastFile.length) lastFile = new Uint8Array(length * 2);
  lastFile.set(sharedBuffer.subarray(from, end));
  lastLength = length;
  if (wasDelivered(from, end)) return;
  deliver(decodeName(sharedBuffer.subarray(start, end)));
}

/** Most maps files hand over no file: the seen files are cleared only when there are some. */
function forgetSeen(): void {
  seenUsed = 0;
  seenStarts.length = 0;
  seenLengths.length = 0;
  if (seenByHash.size > 0) seenByHash.clear();
}

/** Whether the file `sharedBuffer[from, end)` names was handed over already; records it if not. */
function wasDelivered(from: number, end: number): boolean {
  const length = end - from;
  const count = seenStarts.length;
  if (count < FEW) {
    for (let k = 0; k < count; k++) {
      if (
        seenLengths[k] === length &&
        sameBytes(sharedBuffer, from, seenBytes, seenStarts[k]!, length)
      ) {
        return true;
      }
    }
    remember(from, end);
    if (count + 1 === FEW) {
      for (let k = 0; k < FEW; k++) {
        const start = seenStarts[k]!;
        addByHash(hashBytes(seenBytes, start, start + seenLengths[k]!), k);
      }
    }
    return false;
  }
  const hash = hashBytes(sharedBuffer, from, end);
  const bucket = seenByHash.get(hash);
  if (bucket !== undefined) {
    for (const k of bucket) {
      if (
        seenLengths[k] === length &&
        sameBytes(sharedBuffer, from, seenBytes, seenStarts[k]!, length)
      ) {
        return true;
      }
    }
  }
  addByHash(hash, remember(from, end));
  return false;
}

/** Copies `sharedBuffer[from, end)` to the seen files; returns its index. */
function remember(from: number, end: number): number {
  const length = end - from;
  if (seenUsed + length > seenBytes.length) {
    const bigger = new Uint8Array(Math.max(seenBytes.length * 2, seenUsed + length));
    bigger.set(seenBytes.subarray(0, seenUsed));
    seenBytes = bigger;
  }
  for (let i = 0; i < length; i++) seenBytes[seenUsed + i] = sharedBuffer[from + i]!;
  seenStarts.push(seenUsed);
  seenLengths.push(length);
  seenUsed += length;
  return seenStarts.length - 1;
}

function addByHash(hash: number, index: number): void {
  const bucket = seenByHash.get(hash);
  if (bucket) bucket.push(index);
  else seenByHash.set(hash, [index]);
}

/** FNV-1a over `buf[from, end)`. */
function hashBytes(buf: Uint8Array, from: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = from; i < end; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
  return hash;
}

function sameBytes(
  buf: Uint8Array,
  at: number,
  other: Uint8Array,
  otherAt: number,
  length: number,
): boolean {
  for (let i = length - 1; i >= 0; i--) {
    if (buf[at + i] !== other[otherAt + i]) return false;
  }
  return true;
}

function growBuffer(path: string): void {
  if (sharedBuffer.length >= MAX_BUFFER) {
    throw new RangeError(`Cannot read "${path}": a line is longer than ${MAX_BUFFER} bytes`);
  }
  const bigger = new Uint8Array(sharedBuffer.length * 2);
  bigger.set(sharedBuffer);
  sharedBuffer = bigger;
  fullView = sharedBuffer.subarray(0, sharedBuffer.length - 1);
}

/**
 * Reads a whole small file (cmdline, cgroup), decoded losslessly (see
 * `decodeName`). One `Deno.readTextFileSync` is one call into Deno and no call
 * to decode; reading through the shared buffer takes four (open, read, read to
 * the end, close) and measured slower, although the kernel does less.
 */
export function readWholeName(path: string, limit?: ReadLimit): string {
  if (limit) return decodeName(readBounded(path, limit));
  // Deno's text is lenient: where it may have lost bytes, they are read again.
  const text = Deno.readTextFileSync(path);
  return lenientIsExact(text) ? text : decodeName(Deno.readFileSync(path));
}

/**
 * How much a file of a tree that is not a confirmed procfs may hold: what the
 * kernel itself could produce there. Such a file is read only when it is a
 * regular file (no link out of the tree, no FIFO or device that would block
 * or never end), and a larger one is refused.
 */
export interface ReadLimit {
  /** The most bytes the kernel could write to this file. */
  readonly maxBytes: number;
}

/**
 * Throws unless `path` is a regular file (not a link, FIFO, device or
 * directory) no larger than the limit. Checked before the open, since opening
 * a FIFO blocks; a file swapped for a FIFO between the two cannot be told.
 */
function checkRegularFile(path: string, limit: ReadLimit): void {
  const info = Deno.lstatSync(path);
  if (!info.isFile) throw new TypeError(`Cannot read "${path}": not a regular file`);
  if (info.size > limit.maxBytes) throw tooLarge(path, limit);
}

function tooLarge(path: string, limit: ReadLimit): RangeError {
  return new RangeError(`Cannot read "${path}": larger than ${limit.maxBytes} bytes`);
}

function readBounded(path: string, limit: ReadLimit): Uint8Array {
  checkRegularFile(path, limit);
  const file = Deno.openSync(path);
  try {
    // One byte more than allowed tells a file that grew past the limit.
    const buffer = new Uint8Array(Math.min(limit.maxBytes + 1, 1 << 16));
    let bytes = buffer;
    let filled = 0;
    for (;;) {
      if (filled === bytes.length) {
        if (bytes.length > limit.maxBytes) throw tooLarge(path, limit);
        const bigger = new Uint8Array(Math.min(bytes.length * 2, limit.maxBytes + 1));
        bigger.set(bytes);
        bytes = bigger;
      }
      const count = file.readSync(bytes.subarray(filled));
      if (count === null || count === 0) break;
      filled += count;
    }
    if (filled > limit.maxBytes) throw tooLarge(path, limit);
    return bytes.subarray(0, filled);
  } finally {
    file.close();
  }
}

const UTF8_ERROR = /^File name or path "(.*)" is not valid UTF-8$/s;

/**
 * Reads a symbolic link's target losslessly. `Deno.readLink` has no byte form
 * and throws `InvalidData` on a target that is not UTF-8; its message carries
 * the target in Rust's debug notation, which is exact, so it is decoded here.
 */
export function readLinkName(path: string): string {
  try {
    return Deno.readLinkSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.InvalidData)) throw error;
    const match = UTF8_ERROR.exec(error.message);
    if (!match) throw error;
    return parseRustDebugString(match[1]!);
  }
}

const RUST_ESCAPE = /\\(?:x([0-9A-Fa-f]{2})|u\{([0-9A-Fa-f]{1,6})\}|(.))/gs;
const RUST_SIMPLE: Readonly<Record<string, string>> = {
  "\\": "\\",
  '"': '"',
  "'": "'",
  "n": "\n",
  "r": "\r",
  "t": "\t",
  "0": "\0",
};

/**
 * Decodes the inside of a Rust `{:?}` string of an `OsStr`: `\xNN` is a raw
 * byte, `\u{…}` a character, `\n`, `\\` and the like the usual escapes.
 *
 * @throws {SyntaxError} on an escape Rust does not produce
 */
export function parseRustDebugString(text: string): string {
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  let last = 0;
  const pushText = (s: string) => bytes.push(...encoder.encode(s));
  for (const match of text.matchAll(RUST_ESCAPE)) {
    pushText(text.slice(last, match.index));
    last = match.index + match[0].length;
    const [, byte, codePoint, simple] = match;
    if (byte !== undefined) bytes.push(parseInt(byte, 16));
    else if (codePoint !== undefined) pushText(String.fromCodePoint(parseInt(codePoint, 16)));
    else if (simple !== undefined && simple in RUST_SIMPLE) pushText(RUST_SIMPLE[simple]!);
    else throw new SyntaxError(`Unknown escape "\\${simple}" in a link target`);
  }
  pushText(text.slice(last));
  return decodeName(Uint8Array.from(bytes));
}
