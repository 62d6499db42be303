/**
 * User names from a passwd file, for restart hints (`systemctl --user -M NAME@`).
 *
 * @module
 */

import { isGranted, PASSWD_PERMISSION } from "../lib/proc/permissions.ts";

/** Parses `name:x:uid:…` lines into a map from UID to the first name with it. */
export function parsePasswd(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split("\n")) {
    const [name, , uid] = line.split(":");
    if (name && uid && /^[0-9]+$/.test(uid) && !names.has(Number(uid))) {
      names.set(Number(uid), name);
    }
  }
  return names;
}

/** User names from `/etc/passwd` where Deno may read it; else none (never a prompt). */
export function grantedUserNames(): Map<number, string> {
  return isGranted(PASSWD_PERMISSION) ? readUserNames() : new Map();
}

/** Reads user names from `path` (default `/etc/passwd`); an empty map when it cannot be read. */
export function readUserNames(path = "/etc/passwd"): Map<number, string> {
  try {
    return parsePasswd(Deno.readTextFileSync(path));
  } catch {
    return new Map();
  }
}
