/**
 * What each feature needs from Deno's permission system, in one place.
 *
 * @module
 */

/** The read permission a scan of `proc` needs. */
export function scanPermission(proc: string): Deno.ReadPermissionDescriptor {
  return { name: "read", path: proc };
}

/** The run permission `--services=systemctl` needs. */
export const SYSTEMCTL_PERMISSION: Deno.RunPermissionDescriptor = Object.freeze({
  name: "run",
  command: "systemctl",
});

/** The read permission user names in restart hints and JSON need; without it, UIDs are shown. */
export const PASSWD_PERMISSION: Deno.ReadPermissionDescriptor = Object.freeze({
  name: "read",
  path: "/etc/passwd",
});

/**
 * Deno refuses every read under these roots unless the process has
 * `--allow-all`, whatever `--allow-read` says (Deno 1.43 and later).
 */
export const PRIVILEGED_ROOTS: readonly string[] = Object.freeze(["/proc", "/sys", "/dev"]);

/** True when `path` lies under a root that only `--allow-all` opens. */
export function needsAllowAll(path: string): boolean {
  const normal = path.replace(/\/+$/, "") || "/";
  return PRIVILEGED_ROOTS.some((root) => normal === root || normal.startsWith(`${root}/`));
}

/** Whether a permission is granted now; never prompts. */
export function isGranted(descriptor: Deno.PermissionDescriptor): boolean {
  // A copy: Deno normalizes the descriptor in place, and ours are frozen.
  return Deno.permissions.querySync({ ...descriptor }).state === "granted";
}

/**
 * Whether something is at `path` (a link counts, whatever it leads to); false
 * where reading there is not granted, so a missing permission never stops a
 * run that only looks.
 */
export function existsIfGranted(path: string): boolean {
  if (!isGranted({ name: "read", path })) return false;
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
