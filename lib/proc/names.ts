/**
 * File names and command lines are bytes on Linux. These helpers turn them into
 * JavaScript strings without loss: valid UTF-8 decodes as usual, and every byte
 * that is not part of valid UTF-8 becomes one lone surrogate U+DC80..U+DCFF
 * (Python's "surrogateescape"). Such a string sorts, compares and groups like
 * any other, and {@linkcode encodeName} gives back the exact bytes.
 *
 * @module
 */

const FIRST_ESCAPE = 0xdc80;
const LAST_ESCAPE = 0xdcff;
// Not `fatal`: Deno decodes UTF-8 in one pass only then (≈ 0.5 instead of 1.4 µs a
// name). ignoreBOM keeps a leading U+FEFF: without it the decoder drops those three bytes.
const looseUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const utf8 = new TextEncoder();

/** Decodes bytes into a lossless string (see the module doc).
 *
 * @param bytes The raw bytes.
 * @returns The lossless string.
 *
 * @example Names that are not UTF-8 round-trip exactly
 * ```ts
 * import { decodeName, encodeName, hasRawBytes } from "@lib-users/lib-users";
 * import { assert, assertEquals } from "@std/assert";
 *
 * const bytes = Uint8Array.from([0x2f, 0x78, 0xff]);
 * assert(hasRawBytes(decodeName(bytes)));
 * assertEquals(encodeName(decodeName(bytes)), bytes);
 * ```
 */
export function decodeName(bytes: Uint8Array): string {
  const text = looseUtf8.decode(bytes);
  return lenientIsExact(text) ? text : decodeMixed(bytes);
}

/**
 * Whether text that a lenient UTF-8 decoder made (every invalid sequence becomes
 * U+FFFD) is what {@linkcode decodeName} would give for the same bytes: exactly
 * when it holds no U+FFFD. With one, a raw byte or a real U+FFFD, decode the
 * bytes with `decodeName`.
 */
export function lenientIsExact(text: string): boolean {
  return !text.includes("\uFFFD");
}

function decodeMixed(bytes: Uint8Array): string {
  let out = "";
  // Start of the current run of valid UTF-8, decoded in one call; validated
  // here already, so the lenient decoder is exact on it.
  let run = 0;
  let i = 0;
  while (i < bytes.length) {
    const length = validSequenceLength(bytes, i);
    if (length > 0) {
      i += length;
      continue;
    }
    out += looseUtf8.decode(bytes.subarray(run, i));
    out += String.fromCharCode(FIRST_ESCAPE - 0x80 + bytes[i]!);
    i += 1;
    run = i;
  }
  return out + looseUtf8.decode(bytes.subarray(run));
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when there is none. */
function validSequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const b = bytes[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  // Ranges from the Unicode standard, table 3-7 (well-formed UTF-8 byte sequences).
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((b0 >= 0xe1 && b0 <= 0xec) || b0 === 0xee || b0 === 0xef) {
    return cont(1) && cont(2) ? 3 : 0;
  }
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** Returns the byte of an escaped (undecodable) character, or undefined. */
export function escapedByte(codeUnit: number): number | undefined {
  return codeUnit >= FIRST_ESCAPE && codeUnit <= LAST_ESCAPE
    ? codeUnit - FIRST_ESCAPE + 0x80
    : undefined;
}

/**
 * Index of the first undecodable byte in `name` at or after `from`, or -1. The
 * low half of a surrogate pair (an ordinary astral character) is no byte.
 */
function nextRawByte(name: string, from: number): number {
  for (let i = from; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    } else if (code >= FIRST_ESCAPE && code <= LAST_ESCAPE) {
      return i;
    }
  }
  return -1;
}

/** True when the name held bytes that are not valid UTF-8. */
export function hasRawBytes(name: string): boolean {
  return nextRawByte(name, 0) >= 0;
}

/** Replaces each undecodable byte of `name` with what `replace` makes of it. */
export function replaceRawBytes(name: string, replace: (byte: number) => string): string {
  let at = nextRawByte(name, 0);
  if (at < 0) return name;
  let out = "";
  let last = 0;
  for (; at >= 0; at = nextRawByte(name, at + 1)) {
    out += name.slice(last, at) + replace(name.charCodeAt(at) - FIRST_ESCAPE + 0x80);
    last = at + 1;
  }
  return out + name.slice(last);
}

/** Encodes a name from {@linkcode decodeName} back to its exact bytes. */
export function encodeName(name: string): Uint8Array {
  if (!hasRawBytes(name)) return utf8.encode(name);
  // At most three bytes per UTF-16 unit; written in place, never spread onto the
  // stack (an argument may be megabytes long).
  const bytes = new Uint8Array(name.length * 3);
  let length = 0;
  let last = 0;
  for (let at = nextRawByte(name, 0); at >= 0; at = nextRawByte(name, at + 1)) {
    length += utf8.encodeInto(name.slice(last, at), bytes.subarray(length)).written;
    bytes[length++] = name.charCodeAt(at) - FIRST_ESCAPE + 0x80;
    last = at + 1;
  }
  length += utf8.encodeInto(name.slice(last), bytes.subarray(length)).written;
  return bytes.slice(0, length);
}
