/**
 * Byte-exact, allocation-light reads of procfs entries, and the meaning of the
 * errors they raise.
 *
 * @module
 */

import { decodeName, lenientIsExact } from "./names.ts";

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
 * Reads small procfs files into one reused buffer: `cmdline`, which the
 * kernel fills as far as the arguments go, and `fdinfo`, written whole by one
 * show. A read that leaves room is the whole file: one `read` for most, where
 * Deno's whole-file read probes in 32-byte steps, a `read` each (and for
 * `cmdline` each a walk of the process's memory).
 */
export class WholeReader {
  #buffer = new Uint8Array(4096);

  /** The file's text, decoded losslessly (see `decodeName`). */
  read(path: string): string {
    const file = Deno.openSync(path);
    let filled = 0;
    try {
      for (;;) {
        const count = file.readSync(this.#buffer.subarray(filled)) ?? 0;
        filled += count;
        if (count === 0 || filled < this.#buffer.length) break;
        const bigger = new Uint8Array(this.#buffer.length * 2);
        bigger.set(this.#buffer);
        this.#buffer = bigger;
      }
    } finally {
      file.close();
    }
    return decodeName(this.#buffer.subarray(0, filled));
  }
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
export function checkRegularFile(path: string, limit: ReadLimit): void {
  const info = Deno.lstatSync(path);
  if (!info.isFile) throw new TypeError(`Cannot read "${path}": not a regular file`);
  if (info.size > limit.maxBytes) throw tooLarge(path, limit);
}

/** The error for a file larger than its limit. */
export function tooLarge(path: string, limit: ReadLimit): RangeError {
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
  const pushText = (s: string) => {
    for (const byte of encoder.encode(s)) bytes.push(byte);
  };
  for (const match of text.matchAll(RUST_ESCAPE)) {
    pushText(text.slice(last, match.index));
    last = match.index + match[0].length;
    const [, byte, codePoint, simple] = match;
    if (byte !== undefined) bytes.push(parseInt(byte, 16));
    else if (codePoint !== undefined) pushText(String.fromCodePoint(parseInt(codePoint, 16)));
    else if (simple !== undefined && simple in RUST_SIMPLE) pushText(RUST_SIMPLE[simple]!);
    else throw new SyntaxError(`Cannot decode a link target: unknown escape "\\${simple}"`);
  }
  pushText(text.slice(last));
  return decodeName(Uint8Array.from(bytes));
}
