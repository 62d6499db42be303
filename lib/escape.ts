/**
 * Escaping of untrusted names (file names, command lines) for output.
 *
 * Any unprivileged user controls these strings, and the admin reads them as root
 * in a terminal or feeds them to scripts. The escaping is reversible and
 * unambiguous because the backslash itself is always escaped.
 *
 * @module
 */

import { escapedByte } from "./names.ts";

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\\\",
  "\n": "\\n",
  "\t": "\\t",
  "\r": "\\r",
};

/** Characters that would move the cursor, change colours or reorder text. */
function isUnsafe(code: number): boolean {
  return code < 0x20 || code === 0x7f ||
    (code >= 0x80 && code <= 0x9f) || // C1 controls, including CSI (0x9b)
    (code >= 0x200e && code <= 0x200f) || // directional marks
    (code >= 0x2028 && code <= 0x202e) || // line/paragraph separators, embeddings
    (code >= 0x2066 && code <= 0x2069) || // directional isolates
    (code >= 0xd800 && code <= 0xdfff); // lone surrogates (raw bytes)
}

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, "0");
}

function escapeWith(text: string, extra: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const ch = text[i]!;
    let replacement: string | undefined;
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: an ordinary astral character
        continue;
      }
    }
    if (ch in SHORT_ESCAPES) {
      replacement = SHORT_ESCAPES[ch];
    } else if (extra.includes(ch)) {
      replacement = `\\x${hex(code, 2)}`;
    } else if (isUnsafe(code)) {
      const byte = escapedByte(code);
      if (byte !== undefined) replacement = `\\x${hex(byte, 2)}`;
      else if (code < 0x80) replacement = `\\x${hex(code, 2)}`;
      else replacement = `\\u${hex(code, 4)}`;
    }
    if (replacement !== undefined) {
      out += text.slice(start, i) + replacement;
      start = i + 1;
    }
  }
  return start === 0 ? text : out + text.slice(start);
}

/**
 * Escapes a name for a terminal: control characters, bidirectional controls,
 * undecodable bytes and the backslash become `\n`, `\t`, `\r`, `\\`, `\xNN`
 * (a byte or an ASCII control) or `\uNNNN` (a Unicode control).

 *
 * @param text A name or command line.
 * @returns The escaped text.
 *
 * @example
 * ```ts
 * import { escapeForTerminal } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(escapeForTerminal("a\nb\x1b[31m\\"), "a\\nb\\x1b[31m\\\\");
 * ```
 */
export function escapeForTerminal(text: string): string {
  return escapeWith(text, "");
}

/**
 * Escapes a name as {@linkcode escapeForTerminal} does and also each character
 * of `separators` (as `\xNN`), so the name cannot add a field or a list item.
 */
export function escapeField(text: string, separators: string): string {
  return escapeWith(text, separators);
}

/**
 * Reverses {@linkcode escapeField} and {@linkcode escapeForTerminal}: `\xNN`
 * above 0x7f gives back the raw byte (as {@linkcode decodeName} stores it).
 *
 * @throws {SyntaxError} on a malformed escape
 */
export function unescapeField(text: string): string {
  if (!text.includes("\\")) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const kind = text[i + 1];
    if (kind === "\\") out += "\\";
    else if (kind === "n") out += "\n";
    else if (kind === "t") out += "\t";
    else if (kind === "r") out += "\r";
    else if (kind === "x" || kind === "u") {
      const width = kind === "x" ? 2 : 4;
      const digits = text.slice(i + 2, i + 2 + width);
      if (!/^[0-9a-f]+$/.test(digits) || digits.length !== width) {
        throw new SyntaxError(`Bad escape at offset ${i}: "${text.slice(i, i + 2 + width)}"`);
      }
      const value = parseInt(digits, 16);
      out += String.fromCharCode(kind === "x" && value >= 0x80 ? 0xdc00 + value : value);
      i += width;
    } else {
      throw new SyntaxError(`Bad escape at offset ${i}: "\\${kind ?? ""}"`);
    }
    i++;
  }
  return out;
}
