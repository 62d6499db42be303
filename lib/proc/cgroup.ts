/**
 * Which systemd unit, session or container a process belongs to, read from
 * `/proc/PID/cgroup` with no subprocess.
 *
 * @module
 */

/** What kind of thing a process belongs to, which decides how to restart it. */
export type UnitClass =
  | "system-service"
  | "user-service"
  | "session"
  | "container"
  | "manager"
  | "user-manager"
  | "unknown";

/** The container engines recognised from cgroup paths. */
export type ContainerRuntime =
  | "docker"
  | "podman"
  | "containerd"
  | "cri-o"
  | "kubernetes"
  | "lxc"
  | "machined";

/** A container a process runs in. */
export interface ContainerRef {
  /** The engine. */
  readonly runtime: ContainerRuntime;
  /** The container ID (hex for Docker, Podman, containerd, CRI-O) or name (LXC, machined). */
  readonly id: string;
  /** The Kubernetes pod UID, when the container belongs to a pod. */
  readonly pod?: string;
  /**
   * The unit inside, as the container's own service manager names it, when it
   * runs one (LXC, Incus, Proxmox, nspawn: `…/lxc.payload.NAME/system.slice/UNIT`).
   */
  readonly unit?: UnitInfo;
  /**
   * Where the container's own cgroup tree starts, as the host names it
   * (`/lxc.payload.NAME`), when {@linkcode ContainerRef.unit} is known: its
   * manager's paths are below it.
   */
  readonly cgroup?: string;
}

/** The unit a process belongs to, and what kind it is. */
export interface UnitInfo {
  /** The systemd unit's name (`nginx.service`, `session-3.scope`, `init.scope`), or null. */
  readonly name: string | null;
  /** What kind of unit. */
  readonly class: UnitClass;
  /** The user ID of a user's service, session or manager, or null. */
  readonly uid: number | null;
  /** The container, for class `container`, or null. */
  readonly container: ContainerRef | null;
}

/** The classification of a process whose cgroup says nothing. */
export const UNKNOWN_UNIT: UnitInfo = unitInfo(null, "unknown", null, null);

/** A frozen {@linkcode UnitInfo}. */
function unitInfo(
  name: string | null,
  kind: UnitClass,
  uid: number | null,
  container: ContainerRef | null,
): UnitInfo {
  return Object.freeze({ name, class: kind, uid, container });
}

/**
 * Picks the systemd hierarchy's path from a `/proc/PID/cgroup` file: the
 * cgroup v2 line (`0::/path`), or on cgroup v1 the `name=systemd` line; other
 * v1 controllers are ignored. Returns null when there is none.
 */
export function parseCgroupFile(text: string): string | null {
  let v1: string | null = null;
  let v2: string | null = null;
  for (const line of text.split("\n")) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const path = line.slice(second + 1);
    if (line.startsWith("0::")) v2 = path;
    else if (line.slice(first + 1, second).split(",").includes("name=systemd")) v1 = path;
  }
  // On hybrid hosts the v2 line is "0::/" when systemd keeps its tree on v1.
  return v2 !== null && v2 !== "/" ? v2 : v1 ?? v2;
}

const HEX64 = "([0-9a-f]{64})";
const CONTAINER_SCOPES: readonly [RegExp, ContainerRuntime][] = [
  [new RegExp(`^docker-${HEX64}\\.scope$`), "docker"],
  [new RegExp(`^libpod-${HEX64}\\.scope$`), "podman"],
  [new RegExp(`^libpod-${HEX64}$`), "podman"],
  [new RegExp(`^cri-containerd-${HEX64}\\.scope$`), "containerd"],
  [new RegExp(`^nerdctl-${HEX64}\\.scope$`), "containerd"],
  [new RegExp(`^crio-${HEX64}\\.scope$`), "cri-o"],
];

/**
 * How many leading components of a system container's cgroup path are the
 * host's (LXC and Incus `lxc.payload.NAME`, Proxmox `lxc/ID/ns`, LXC's older
 * `lxc/NAME`, nspawn `machine.slice/UNIT/payload`): below them is the tree
 * its own systemd keeps. Undefined for other containers.
 */
function systemContainerDepth(parts: readonly string[]): number | undefined {
  const [top, second, third] = parts;
  if (top?.startsWith("lxc.payload.")) return 1;
  if (top === "lxc" && second) return third === "ns" && /^\d+$/.test(second) ? 3 : 2;
  if (top === "machine.slice" && second) return parts[2] === "payload" ? 3 : 2;
  return undefined;
}

/** The container with the unit its own manager runs, when its cgroup path shows one. */
function withInnerUnit(ref: ContainerRef, parts: readonly string[]): ContainerRef {
  const depth = systemContainerDepth(parts);
  if (depth === undefined || parts.length <= depth) return ref;
  const unit = classifyCgroup(`/${parts.slice(depth).join("/")}`);
  if (unit.class === "unknown") return ref;
  return { ...ref, unit, cgroup: `/${parts.slice(0, depth).join("/")}` };
}

/** Finds a container in a cgroup path's components, or null. */
function findContainer(parts: readonly string[]): ContainerRef | null {
  const pod = parts.map((p) => /pod([0-9a-f_-]{36})(?:\.slice)?$/.exec(p)?.[1]).find(Boolean)
    ?.replaceAll("_", "-");
  const inPod = pod !== undefined || parts.some((p) => p.startsWith("kubepods"));
  const withPod = (ref: ContainerRef): ContainerRef => (pod ? { ...ref, pod } : ref);
  for (const part of parts) {
    for (const [pattern, runtime] of CONTAINER_SCOPES) {
      const id = pattern.exec(part)?.[1];
      if (id) return withPod({ runtime, id });
    }
  }
  const [top, second] = parts;
  if (top === "docker" && second && /^[0-9a-f]{64}$/.test(second)) {
    return { runtime: "docker", id: second };
  }
  if (top?.startsWith("lxc.payload.")) {
    return { runtime: "lxc", id: top.slice("lxc.payload.".length) };
  }
  if (top === "lxc" && second) return { runtime: "lxc", id: second };
  if (top === "machine.slice" && second) {
    const name = /^machine-(.+)\.scope$/.exec(second)?.[1] ??
      /^systemd-nspawn@(.+)\.service$/.exec(second)?.[1];
    if (name) return { runtime: "machined", id: unescapeUnitName(name) };
  }
  if (inPod) {
    const id = parts.findLast((p) => /^[0-9a-f]{64}$/.test(p));
    if (id) return withPod({ runtime: "kubernetes", id });
  }
  return null;
}

/** Reverses systemd's `\xNN` escaping of unit name parts (`qemu\x2d1` is `qemu-1`). */
function unescapeUnitName(name: string): string {
  return name.replace(
    /\\x([0-9a-f]{2})/g,
    (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
  );
}

const UNIT_NAME = /\.(service|scope)$/;

/** The first unit after the slices from `from` on, as systemd resolves it, and its index. */
function unitAt(parts: readonly string[], from: number): [string | null, number] {
  let i = from;
  while (i < parts.length && parts[i]!.endsWith(".slice")) i++;
  const unit = parts[i];
  return unit !== undefined && UNIT_NAME.test(unit) ? [unit, i] : [null, i];
}

/**
 * Classifies a cgroup path: system or user service, login session or other
 * scope, container, the service manager or a user's manager, or unknown.
 *
 * @param path A path from {@linkcode parseCgroupFile}, e.g. `/system.slice/nginx.service`.
 * @returns The unit, class, user and container.
 *
 * @example A getty instance and a user service
 * ```ts
 * import { classifyCgroup } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(classifyCgroup("/system.slice/system-getty.slice/getty@tty1.service"), {
 *   name: "getty@tty1.service",
 *   class: "system-service",
 *   uid: null,
 *   container: null,
 * });
 * assertEquals(
 *   classifyCgroup("/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service").class,
 *   "user-service",
 * );
 * ```
 */
export function classifyCgroup(path: string): UnitInfo {
  const parts = path.split("/").filter(Boolean);
  const uidText = parts.map((p) => /^user-(\d+)\.slice$/.exec(p)?.[1]).find(Boolean);
  const uid = uidText === undefined ? null : Number(uidText);
  const [unit, at] = unitAt(parts, 0);
  const found = findContainer(parts);
  const container = found && withInnerUnit(found, parts);
  if (container) {
    const scope = parts.find((p) =>
      UNIT_NAME.test(p) && unescapeUnitName(p).includes(container.id)
    );
    return unitInfo(scope ?? unit, "container", uid, container);
  }
  if (unit === null) return UNKNOWN_UNIT;
  if (unit === "init.scope") return unitInfo(unit, "manager", null, null);
  const manager = /^user@(\d+)\.service$/.exec(unit);
  if (manager) {
    const owner = Number(manager[1]);
    const [inner] = unitAt(parts, at + 1);
    if (inner === null || inner === "init.scope") {
      return unitInfo(unit, "user-manager", owner, null);
    }
    const kind = inner.endsWith(".service") ? "user-service" : "session";
    return unitInfo(inner, kind, owner, null);
  }
  if (unit.endsWith(".scope")) return unitInfo(unit, "session", uid, null);
  return unitInfo(unit, "system-service", uid, null);
}

/**
 * A unit or container as people name it: `nginx.service`, `lxc container
 * web1`, or `nginx.service in lxc container web1` for a unit a container's
 * own systemd runs.
 */
export function unitLabel(unit: string | null, container: ContainerRef | null): string {
  if (container === null) return unit ?? "?";
  const name = `${container.runtime} container ${container.id}`;
  return unit === null ? name : `${unit} in ${name}`;
}
