/**
 * Escaping of untrusted names (file names, command lines) for output.
 *
 * Any unprivileged user controls these strings, and the admin reads them as root
 * in a terminal or feeds them to scripts. The escaping is reversible and
 * unambiguous because the backslash itself is always escaped.
 *
 * @module
 */

import { escapedByte } from "../proc/names.ts";

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\\\",
  "\n": "\\n",
  "\t": "\\t",
  "\r": "\\r",
};

/**
 * Unicode controls and format characters — bidirectional controls (which
 * reorder text), zero-width characters, the byte order mark, tag characters
 * (which are invisible) — and the line and paragraph separators. Built on first
 * use, not at load: V8 builds the property sets as it parses the pattern
 * (≈ 3.5 M instructions, 1 % of a scan), and most runs print only ASCII.
 */
let unsafeUnicode: RegExp | undefined;

/** Characters that would move the cursor, change colours, reorder text or hide in it. */
function isUnsafe(codePoint: number): boolean {
  if (codePoint < 0x80) return codePoint < 0x20 || codePoint === 0x7f;
  if (codePoint >= 0xd800 && codePoint <= 0xdfff) return true; // lone surrogates (raw bytes)
  unsafeUnicode ??= new RegExp("^[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}]$", "u");
  return unsafeUnicode.test(String.fromCodePoint(codePoint));
}

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, "0");
}

/** Printable ASCII but the backslash: what most names are made of, and print as they are. */
const PLAIN = /^[ -[\]-~]*$/;

function escapeWith(text: string, extra: string, keepBackslash = false): string {
  if (PLAIN.test(text) && !hasAny(text, extra)) return text;
  let out = "";
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    // A whole character: a valid surrogate pair is one; a lone surrogate (a raw byte) is too.
    const codePoint = text.codePointAt(i)!;
    const width = codePoint > 0xffff ? 2 : 1;
    const ch = text.slice(i, i + width);
    const replacement = keepBackslash && ch === "\\"
      ? undefined
      : escapeCharacter(ch, codePoint, extra);
    if (replacement !== undefined) {
      out += text.slice(start, i) + replacement;
      start = i + width;
    }
    i += width - 1;
  }
  return start === 0 ? text : out + text.slice(start);
}

function hasAny(text: string, characters: string): boolean {
  for (let i = 0; i < characters.length; i++) if (text.includes(characters[i]!)) return true;
  return false;
}

/** The escape of one character, or undefined when it prints as itself. */
function escapeCharacter(ch: string, codePoint: number, extra: string): string | undefined {
  if (ch in SHORT_ESCAPES) return SHORT_ESCAPES[ch];
  if (extra.includes(ch)) return `\\x${hex(codePoint, 2)}`;
  if (!isUnsafe(codePoint)) return undefined;
  const byte = escapedByte(codePoint);
  if (byte !== undefined) return `\\x${hex(byte, 2)}`;
  if (codePoint < 0x80) return `\\x${hex(codePoint, 2)}`;
  // Beyond U+FFFF, one \uNNNN per UTF-16 half: unescapeField reads them back as the pair.
  let escaped = "";
  for (let k = 0; k < ch.length; k++) escaped += `\\u${hex(ch.charCodeAt(k), 4)}`;
  return escaped;
}

/**
 * Escapes a name for a terminal: control and format characters (bidirectional
 * controls, zero-width characters, the byte order mark, tags), line separators,
 * undecodable bytes and the backslash become `\n`, `\t`, `\r`, `\\`, `\xNN`
 * (a byte or an ASCII control) or `\uNNNN` (a Unicode character; one per half of
 * a character beyond U+FFFF).

 *
 * @param text A name or command line.
 * @returns The escaped text.
 *
 * @example Control characters cannot reach the terminal
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
 * Like {@linkcode escapeForTerminal}, but a backslash stays itself: for text
 * that people read and no program parses back (Prometheus label values, where
 * systemd's own unit names hold backslashes, `dev-disk-by\x2duuid-….swap`).
 */
export function escapeUnsafe(text: string): string {
  return escapeWith(text, "", true);
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
        throw new SyntaxError(
          `Cannot unescape "${text.slice(i, i + 2 + width)}": a bad escape at offset ${i}`,
        );
      }
      const value = parseInt(digits, 16);
      out += String.fromCharCode(kind === "x" && value >= 0x80 ? 0xdc00 + value : value);
      i += width;
    } else {
      throw new SyntaxError(`Cannot unescape "\\${kind ?? ""}": a bad escape at offset ${i}`);
    }
    i++;
  }
  return out;
}
