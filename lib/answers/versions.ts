/**
 * Version order as dpkg and RPM see it (`6.1.0-10` after `6.1.0-9`; `~` before
 * everything, even the end), for kernel releases and package versions.
 *
 * @module
 */

/**
 * Compares two version strings by dpkg's rule (`verrevcmp`), which RPM's
 * `rpmvercmp` agrees with on kernel releases: runs of digits compare as
 * numbers, other runs character by character, letters before other
 * characters, `~` before anything (so `1.0~rc1` sorts before `1.0`).
 *
 * @returns negative, zero or positive, as `a` sorts before, with or after `b`
 *
 * @example Kernel releases in the order a package manager installs them
 * ```ts
 * import { compareVersions } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const releases = ["6.1.0-10-amd64", "6.1.0-9-amd64", "6.1.0-10~rc1-amd64"];
 * assertEquals(releases.sort(compareVersions), ["6.1.0-9-amd64", "6.1.0-10~rc1-amd64", "6.1.0-10-amd64"]);
 * ```
 */
export function compareVersions(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // The non-digit runs, character by character.
    while ((i < a.length && !isDigit(a, i)) || (j < b.length && !isDigit(b, j))) {
      const order = charOrder(a, i) - charOrder(b, j);
      if (order !== 0) return order;
      i++;
      j++;
    }
    // The digit runs, as numbers: leading zeros do not count.
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    let first = 0;
    while (i < a.length && isDigit(a, i) && j < b.length && isDigit(b, j)) {
      if (first === 0) first = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a, i)) return 1;
    if (j < b.length && isDigit(b, j)) return -1;
    if (first !== 0) return first;
  }
  return 0;
}

function isDigit(text: string, at: number): boolean {
  const c = text.charCodeAt(at);
  return c >= 0x30 && c <= 0x39;
}

/** dpkg's `order()`: `~` first, then the end of the run, then letters, then the rest. */
function charOrder(text: string, at: number): number {
  if (at >= text.length || isDigit(text, at)) return 0;
  const c = text.charCodeAt(at);
  if (c === 0x7e) return -1;
  if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return c;
  return c + 256;
}
