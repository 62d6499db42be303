/**
 * The restart plan: what to run so that no process uses deleted files any more,
 * as typed data (`format/restart.ts` writes it as shell lines). It runs nothing.
 *
 * @module
 */

import type { ContainerRef, UnitInfo } from "../proc/cgroup.ts";
import { fileNames, type Group } from "../scan/group.ts";
import type { DeletedFile } from "../scan/model.ts";
import { containerSystemctl } from "./container_systemctl.ts";

/** A unit that is risky to restart blindly, and why. */
export interface RiskyUnit {
  /** The unit. */
  readonly unit: string;
  /** The user of a user unit, or null. */
  readonly user: string | null;
  /** Why a blind restart is risky. */
  readonly reason: string;
  /** Its processes. */
  readonly pids: readonly number[];
}

/** A login session or other scope: to be ended or restarted by hand. */
export interface SessionToEnd {
  /** The scope unit (`session-3.scope`), or null for an interactive process with no unit. */
  readonly unit: string | null;
  /** The user, or null. */
  readonly user: string | null;
  /** Its processes. */
  readonly pids: readonly number[];
}

/** A unit a container's own systemd runs, to restart inside the container. */
export interface ContainerUnit {
  /** The container. */
  readonly container: ContainerRef;
  /** The unit, as the container's systemd names it. */
  readonly unit: string;
  /** The command that runs `systemctl` inside (see {@linkcode containerSystemctl}). */
  readonly systemctl: readonly string[];
  /** Its processes, as the host numbers them. */
  readonly pids: readonly number[];
}

/**
 * Processes whose only stale files are deleted temporary files (JNA's and
 * ORC's, a JIT's): restarting them will not help if the program makes such
 * files again.
 */
export interface TemporaryOnly {
  /** Their unit, or null. */
  readonly unit: string | null;
  /** The user of a user unit or session, or null. */
  readonly user: string | null;
  /** Their processes. */
  readonly pids: readonly number[];
  /** The files, by name. */
  readonly files: readonly string[];
}

/** What to restart, by kind; every list is sorted and without duplicates. */
export interface RestartPlan {
  /** System services safe to restart with `systemctl restart`. */
  readonly systemServices: readonly string[];
  /** User services, per user, for `systemctl --user -M USER@ restart`. */
  readonly userServices: readonly { readonly user: string; readonly units: readonly string[] }[];
  /** Units inside containers, restarted there rather than the whole container. */
  readonly containerUnits: readonly ContainerUnit[];
  /** Containers to restart, each with the processes seen in it (but those of its `containerUnits`). */
  readonly containers: readonly (ContainerRef & { readonly pids: readonly number[] })[];
  /** Whether the service manager (PID 1) itself needs `systemctl daemon-reexec`. */
  readonly reexecManager: boolean;
  /** Users whose service manager needs `systemctl --user daemon-reexec`. */
  readonly reexecUserManagers: readonly string[];
  /** Sessions and scopes to end or restart by hand. */
  readonly sessions: readonly SessionToEnd[];
  /** Units left out of the restart lines because a blind restart is risky. */
  readonly risky: readonly RiskyUnit[];
  /** Processes of no known unit. */
  readonly unknown: readonly number[];
  /** Processes left out of every step: their only stale files are deleted temporary files. */
  readonly temporaryOnly: readonly TemporaryOnly[];
}

/** Directories whose files are temporary by their place (needrestart ignores them too). */
const TEMPORARY_DIRS = ["/tmp/", "/var/tmp/", "/run/", "/var/run/", "/dev/shm/"];
/** Names programs give the files they map and unlink on purpose: ORC's, JNA's, plasmashell's. */
const TEMPORARY_NAME = /\/(?:orcexec\.[^/]+|jna-?[0-9]+\.tmp|#[0-9]+)$/;

/**
 * Whether a group's only stale files are deleted temporary ones (see
 * {@linkcode isDeletedTemporary}), none of them left unlisted: restarting it
 * will not help if the program makes them again.
 */
export function hasOnlyTemporaryFiles(group: Group): boolean {
  return group.files.length > 0 && !group.notListed && group.files.every(isDeletedTemporary);
}

/**
 * Whether a stale file is a deleted temporary file: nothing stands at its
 * path (`deleted`), and it lies in a temporary directory or bears a name
 * programs give the files they map and unlink on purpose. A file whose state
 * is not known is not one.
 *
 * @example
 * ```ts
 * import { isDeletedTemporary } from "./restart.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(isDeletedTemporary({ path: "/tmp/jna-1/jna42.tmp", kind: "library", state: "deleted" }), true);
 * assertEquals(isDeletedTemporary({ path: "/usr/lib/libfoo.so.1", kind: "library", state: "deleted" }), false);
 * assertEquals(isDeletedTemporary({ path: "/tmp/x.so", kind: "library", state: "replaced" }), false);
 * ```
 */
export function isDeletedTemporary(file: DeletedFile): boolean {
  return file.state === "deleted" &&
    (TEMPORARY_DIRS.some((dir) => file.path.startsWith(dir)) || TEMPORARY_NAME.test(file.path));
}

/** A kind of unit that is risky to restart blindly. */
interface RiskyKind {
  readonly pattern: RegExp;
  /** Why. */
  readonly why: string;
  /** A fix short of a reboot exists (a restart by hand, daemon-reexec). */
  readonly ownFix?: true;
}

/** The one list of risky units: the restart plan sets them apart, the reboot check weighs them. */
const RISKY_UNITS: readonly RiskyKind[] = [
  {
    pattern: /^dbus(-broker)?\.service$/,
    why: "the message bus: a restart breaks running sessions",
  },
  {
    pattern: /^(display-manager|gdm3?|sddm|lightdm|xdm|lxdm|slim)\.service$/,
    why: "a display manager: a restart ends graphical sessions",
  },
  {
    pattern: /^(serial-|container-|console-)?getty@.*\.service$/,
    why: "a login prompt: restart by hand",
    ownFix: true,
  },
  {
    pattern: /^user@\d+\.service$/,
    why: "a user's service manager: use daemon-reexec",
    ownFix: true,
  },
  {
    pattern:
      /^(NetworkManager|systemd-networkd|networking|wpa_supplicant|connman|iwd|systemd-resolved)\.service$/,
    why: "networking: a restart may cut remote sessions",
  },
  {
    pattern:
      /^(docker|containerd|podman|crio|kubelet|libvirtd|virtqemud|lxd|incus|lxc|lxc-net|systemd-machined|snap\.lxd\.daemon)\.service$/,
    why: "a container or VM manager: a restart may stop its guests",
  },
  { pattern: /^systemd-logind\.service$/, why: "the login manager: a restart may end sessions" },
];

/** Why restarting `unit` blindly is risky when only a reboot clears it, or undefined. */
export function riskOnlyRebootClears(unit: string): string | undefined {
  const risky = RISKY_UNITS.find(({ pattern }) => pattern.test(unit));
  return risky?.ownFix ? undefined : risky?.why;
}

/** Why restarting `unit` blindly is risky, or undefined when it is not. */
export function riskOf(unit: string): string | undefined {
  return RISKY_UNITS.find(({ pattern }) => pattern.test(unit))?.why;
}

/** Options of {@linkcode planRestarts}. */
export interface PlanOptions {
  /** User names by UID (from /etc/passwd); a UID without a name is shown as a number. */
  readonly userNames?: ReadonlyMap<number, string>;
  /** The file system root whose container runtimes are looked for. Default `/`. */
  readonly root?: string;
}

/**
 * Builds the restart plan for groups that carry units (a scan with
 * `units: true`). Groups without a unit count as unknown.
 *
 * @param groups From {@linkcode groupByArgv}.
 * @param options User names.
 * @returns The plan.
 *
 * @example Services to restart, risky units apart
 * ```ts
 * import { classifyCgroup, planRestarts } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const group = (pid: number, cgroup: string) => ({
 *   pids: [pid], argv: ["x"], cmdline: "x", files: [], unit: classifyCgroup(cgroup),
 * });
 * const plan = planRestarts([
 *   group(10, "/system.slice/nginx.service"),
 *   group(11, "/system.slice/dbus.service"),
 * ]);
 * assertEquals(plan.systemServices, ["nginx.service"]);
 * assertEquals(plan.risky.map((r) => r.unit), ["dbus.service"]);
 * ```
 */
export function planRestarts(groups: readonly Group[], options: PlanOptions = {}): RestartPlan {
  const parts = new PlanParts(
    (info) => info.uid === null ? null : options.userNames?.get(info.uid) ?? String(info.uid),
    (container) => containerSystemctl(container, options.root),
  );
  // Groups whose only stale files are deleted temporary ones come last: they go with
  // their unit where the plan restarts it for other files anyway, else apart.
  const temporary = groups.filter(hasOnlyTemporaryFiles);
  for (const group of groups) if (!hasOnlyTemporaryFiles(group)) parts.add(group);
  for (const group of temporary) {
    if (parts.restarts(group)) parts.add(group);
    else parts.setApart(group);
  }
  return parts.plan();
}

/** A restart plan being made: each group goes to its kind of step. */
class PlanParts {
  readonly #system = new Set<string>();
  readonly #user = new Map<string, Set<string>>();
  readonly #containers = new Map<string, ContainerRef & { pids: number[] }>();
  readonly #containerUnits = new Map<string, ContainerUnit & { pids: number[] }>();
  readonly #reexecUsers = new Set<string>();
  readonly #sessions = new Map<
    string,
    { unit: string | null; user: string | null; pids: number[] }
  >();
  readonly #risky = new Map<
    string,
    { unit: string; user: string | null; reason: string; pids: number[] }
  >();
  readonly #unknown: number[] = [];
  readonly #temporaryOnly = new Map<string, TemporaryOnly & { pids: number[]; files: string[] }>();
  #reexecManager = false;
  readonly #userOf: (info: UnitInfo) => string | null;
  readonly #systemctlIn: (container: ContainerRef) => readonly string[] | undefined;

  constructor(
    userOf: (info: UnitInfo) => string | null,
    systemctlIn: (container: ContainerRef) => readonly string[] | undefined,
  ) {
    this.#userOf = userOf;
    this.#systemctlIn = systemctlIn;
  }

  /** Sets a group apart: restarting it will not help if the program makes its files again. */
  setApart(group: Group): void {
    const info = group.unit;
    const unit = info?.name ?? null;
    const user = info === undefined ? null : this.#userOf(info);
    const key = `${user}\0${unit}`;
    const entry = this.#temporaryOnly.get(key) ?? { unit, user, pids: [], files: [] };
    entry.pids.push(...group.pids);
    for (const name of fileNames(group)) if (!entry.files.includes(name)) entry.files.push(name);
    this.#temporaryOnly.set(key, entry);
  }

  /**
   * Whether the plan so far restarts the group's unit (or re-executes its
   * manager) for other groups: as `restartSteps` joins a step that exists.
   */
  restarts(group: Group): boolean {
    const info = group.unit;
    if (!info || info.name === null && info.class !== "container") return false;
    const owner = this.#userOf(info);
    switch (info.class) {
      case "system-service":
        return this.#system.has(info.name!);
      case "user-service":
        return this.#user.get(owner ?? "?")?.has(info.name!) ?? false;
      case "container": {
        const ref = info.container!;
        const inner = `${ref.runtime}\0${ref.id}\0${ref.unit?.name ?? ""}`;
        return this.#containerUnits.has(inner) || this.#containers.has(`${ref.runtime}\0${ref.id}`);
      }
      case "manager":
        return this.#reexecManager;
      case "user-manager":
        return this.#reexecUsers.has(owner ?? "?");
      default:
        return false;
    }
  }

  /** Puts a group where its unit says. */
  add(group: Group): void {
    const info = group.unit;
    if (!info || info.class === "unknown" || (info.name === null && info.class !== "container")) {
      for (const pid of group.pids) this.#unknown.push(pid);
      return;
    }
    const unit = info.name ?? "";
    const owner = this.#userOf(info);
    const reason = info.class === "container" ? undefined : riskOf(unit);
    if (reason !== undefined && info.class !== "user-manager") {
      const key = `${owner}\0${unit}`;
      const entry = this.#risky.get(key) ?? { unit, user: owner, reason, pids: [] };
      for (const pid of group.pids) entry.pids.push(pid);
      this.#risky.set(key, entry);
      return;
    }
    switch (info.class) {
      case "system-service":
        this.#system.add(unit);
        break;
      case "user-service": {
        const name = owner ?? "?";
        this.#user.set(name, (this.#user.get(name) ?? new Set()).add(unit));
        break;
      }
      case "container": {
        const ref = info.container!;
        if (this.#addContainerUnit(ref, group.pids)) break;
        const key = `${ref.runtime}\0${ref.id}`;
        const { runtime, id, pod } = ref;
        const entry = this.#containers.get(key) ??
          { runtime, id, ...(pod === undefined ? {} : { pod }), pids: [] };
        for (const pid of group.pids) entry.pids.push(pid);
        this.#containers.set(key, entry);
        break;
      }
      case "manager":
        this.#reexecManager = true;
        break;
      case "user-manager":
        this.#reexecUsers.add(owner ?? "?");
        break;
      case "session": {
        const key = `${owner}\0${unit}`;
        const entry = this.#sessions.get(key) ?? { unit, user: owner, pids: [] };
        for (const pid of group.pids) entry.pids.push(pid);
        this.#sessions.set(key, entry);
        break;
      }
    }
  }

  /**
   * Adds a safe system service of a container's own systemd, to restart
   * inside it; false when the group is not one (then the whole container is
   * the step).
   */
  #addContainerUnit(container: ContainerRef, pids: readonly number[]): boolean {
    const inner = container.unit;
    if (inner?.class !== "system-service" || riskOf(inner.name!) !== undefined) return false;
    const systemctl = this.#systemctlIn(container);
    if (systemctl === undefined) return false;
    const key = `${container.runtime}\0${container.id}\0${inner.name}`;
    const entry = this.#containerUnits.get(key) ??
      { container, unit: inner.name!, systemctl, pids: [] };
    entry.pids.push(...pids);
    this.#containerUnits.set(key, entry);
    return true;
  }

  /** The plan, every list in a stable order. */
  plan(): RestartPlan {
    const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const sortPids = <T extends { pids: number[] }>(items: Iterable<T>) =>
      [...items].map((item) => ({ ...item, pids: item.pids.sort((a, b) => a - b) }));
    return {
      systemServices: [...this.#system].sort(byName),
      userServices: [...this.#user].sort(([a], [b]) => byName(a, b)).map(([name, units]) => ({
        user: name,
        units: [...units].sort(byName),
      })),
      containerUnits: sortPids(this.#containerUnits.values()).sort((a, b) =>
        byName(`${a.container.id}\0${a.unit}`, `${b.container.id}\0${b.unit}`)
      ),
      containers: sortPids(this.#containers.values()).sort((a, b) => byName(a.id, b.id)),
      reexecManager: this.#reexecManager,
      reexecUserManagers: [...this.#reexecUsers].sort(byName),
      sessions: sortPids(this.#sessions.values()).sort((a, b) => a.pids[0]! - b.pids[0]!),
      risky: sortPids(this.#risky.values()).sort((a, b) => byName(a.unit, b.unit)),
      unknown: this.#unknown.sort((a, b) => a - b),
      temporaryOnly: sortPids(this.#temporaryOnly.values())
        .map((entry) => ({ ...entry, files: entry.files.sort(byName) }))
        .sort((a, b) => a.pids[0]! - b.pids[0]!),
    };
  }
}
