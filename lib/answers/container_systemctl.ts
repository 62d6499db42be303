/**
 * How to ask the systemd inside a system container from the host: the
 * command that runs `systemctl` in it, by the runtime that manages it (Incus,
 * LXD, Proxmox, plain LXC, systemd-nspawn). Decided from the cgroup layout and
 * a few `lstat`s of the runtimes' own directories under the root; nothing is
 * run.
 *
 * @module
 */

import type { ContainerRef } from "../proc/cgroup.ts";
import { existsIfGranted } from "../proc/permissions.ts";

/**
 * A container name every runtime here accepts and no command line can take
 * for an option: a host name's characters, not starting with `-`.
 */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Where each LXC front end keeps its containers, first match wins. */
const LXC_FRONT_ENDS: readonly { readonly dirs: readonly string[]; readonly exec: string[] }[] = [
  { dirs: ["/var/lib/incus/containers"], exec: ["incus", "exec"] },
  {
    dirs: ["/var/snap/lxd/common/lxd/containers", "/var/lib/lxd/containers"],
    exec: ["lxc", "exec"],
  },
];

/**
 * The command that runs `systemctl` inside a container whose own systemd
 * runs its units (its {@linkcode ContainerRef.unit} is known), ending in
 * `systemctl`: `incus exec NAME -- systemctl`, `lxc exec NAME -- systemctl`
 * (LXD), `pct exec ID -- systemctl` (Proxmox's `lxc/ID/ns` layout),
 * `lxc-attach -n NAME -- systemctl` (plain LXC, and any `lxc.payload.NAME`
 * no front end claims), `systemctl -M NAME` (nspawn). Undefined for other
 * containers, and for a name that is not a plain host name.
 *
 * @param container The container, from {@linkcode classifyCgroup}.
 * @param root The file system root whose runtime directories are looked at.
 *
 * @example An LXC container no front end claims
 * ```ts
 * import { classifyCgroup } from "@lib-users/lib-users";
 * import { containerSystemctl } from "./container_systemctl.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const { container } = classifyCgroup("/lxc.payload.web1/system.slice/nginx.service");
 * assertEquals(containerSystemctl(container!, "testdata/root_empty"), [
 *   "lxc-attach", "-n", "web1", "--", "systemctl",
 * ]);
 * ```
 */
export function containerSystemctl(
  container: ContainerRef,
  root = "/",
): readonly string[] | undefined {
  const { cgroup, id } = container;
  if (cgroup === undefined || container.unit === undefined || !SAFE_NAME.test(id)) {
    return undefined;
  }
  if (container.runtime === "machined") return ["systemctl", "-M", id];
  if (container.runtime !== "lxc") return undefined;
  if (/^\/lxc\/\d+\/ns$/.test(cgroup)) return ["pct", "exec", id, "--", "systemctl"];
  const base = root.replace(/\/+$/, "");
  for (const { dirs, exec } of LXC_FRONT_ENDS) {
    if (dirs.some((dir) => existsIfGranted(`${base}${dir}/${id}`))) {
      return [...exec, id, "--", "systemctl"];
    }
  }
  return ["lxc-attach", "-n", id, "--", "systemctl"];
}
