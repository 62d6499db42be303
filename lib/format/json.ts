/**
 * The JSON format (`--json`), described by `schema/lib_users.schema.json`.
 *
 * @module
 */

import {
  type RebootCheck,
  type RebootReason,
  type RebootVerdict,
  verdictOf,
} from "../answers/reboot.ts";
import type { BootSource, KernelState } from "../answers/kernel.ts";
import type { MicrocodeState } from "../answers/microcode.ts";
import { filePackages, type PackageOwners } from "./packages.ts";
import type { Group } from "../scan/group.ts";
import { encodeName, replaceRawBytes } from "../proc/names.ts";
import type { DeletedFile, FileKind, FileState, ScanKind } from "../scan/model.ts";
import type { Narrowed } from "../scan/narrow.ts";
import type { ContainerRef, ContainerRuntime, UnitClass } from "../proc/cgroup.ts";
import type { RestartRun } from "../act/verify.ts";
import { type JsonRestart, toJsonRestart } from "./restart_json.ts";

/** The version of the JSON document's layout; it changes only with incompatible changes. */
export const JSON_SCHEMA_VERSION = 2;

/** A deleted file in the JSON report. */
export interface JsonFile {
  /** The name; undecodable bytes shown as U+FFFD, in which case `path_base64` is set. */
  path: string;
  /** The exact bytes of the name, base64, present only when the name is not valid UTF-8. */
  path_base64?: string;
  /** How the file is used. */
  kind: FileKind;
  /**
   * True when the identity rule decided: the object in use is not the file now
   * at its path in the process's root. False when that could not be checked
   * and the kernel's ` (deleted)` marker decided (see `unverified_reason`).
   */
  verified: boolean;
  /** Why the identity could not be checked, present only when `verified` is false. */
  unverified_reason?: string;
  /**
   * Why a file the kernel did not mark deleted is stale: its file system was
   * unmounted (or swapped) under the process, and its path names another file.
   */
  stale_reason?: string;
  /**
   * Present when the kernel would not return the file's name (longer than a
   * page): `path` is then a placeholder, and this names the file.
   */
  unnamed?: { device: string; inode: number };
  /**
   * What stands at its path now in the process's root: another file
   * (`replaced`, what an update does), nothing (`deleted`: often a temporary
   * file a program unlinks on purpose, or a removed package's), or null when
   * that is not known (the kernel's marker decided, or the lookup could not tell).
   */
  state: FileState | null;
  /**
   * When it was replaced, ISO 8601 UTC: the change time of the file now at its
   * path (of a deleted one, its own), else with `--packages` its package's
   * change; null when unknown.
   */
  replaced_at: string | null;
  /**
   * With `--packages`: the package that owns the path now (the first by name),
   * or null for none; absent when its package is not known (`package_unknown`).
   */
  package?: {
    name: string;
    version: string | null;
    changed: string | null;
    changed_from: "dpkg.log" | "list-mtime" | "rpmdb" | null;
  } | null;
  /** With `--packages`: the other packages that list the path too. */
  other_owners?: string[];
  /**
   * With `--packages`: why the package is not known for the processes (or some
   * of them): their root's package database cannot be read. Never guessed.
   */
  package_unknown?: string;
}

/** A group of processes in the JSON report. */
export interface JsonGroup {
  /** Process IDs, ascending. */
  pids: number[];
  /**
   * The argument vector; undecodable bytes shown as U+FFFD, in which case
   * `argv_base64` is set. Empty when the process cleared it (`cmdline` is then `[NAME]`).
   */
  argv: string[];
  /** The exact bytes of every argument, base64, present only when one is not valid UTF-8. */
  argv_base64?: string[];
  /** The command line as the text formats print it, before escaping. */
  cmdline: string;
  /** When each process of `pids` started, ISO 8601 UTC, in the same order; null when unknown. */
  started_at: (string | null)[];
  /** The deleted files. */
  files: JsonFile[];
  /** Deleted files of these processes left out of `files`, past the scan's budget; absent when none. */
  files_not_listed?: number;
  /** The systemd unit the processes belong to, or null. */
  unit: string | null;
  /** What kind of unit (`unknown` when the scan did not read units). */
  class: UnitClass;
  /** The user of a user service, session or user manager, or null. */
  user: { uid: number; name: string | null } | null;
  /**
   * The container, or null; `unit` and `unit_class`: the unit inside, as the
   * container's own systemd names it, when it runs one.
   */
  container:
    | {
      runtime: ContainerRuntime;
      id: string;
      pod?: string;
      unit?: string;
      unit_class?: UnitClass;
    }
    | null;
}

/** The JSON report. */
export interface JsonReport {
  /** Always {@linkcode JSON_SCHEMA_VERSION}. */
  schema_version: number;
  /** Which scan produced the report. */
  scan: ScanKind;
  /** The host that was scanned (its name), when known: a fleet's reports say whose they are. */
  host?: string | null;
  /** When the run that scanned began, ISO 8601 UTC (`2026-12-06T16:55:20.123Z`), when known. */
  scanned_at?: string;
  /** How many process entries could not be read. */
  unreadable: number;
  /** The first of them (up to 100), each with why. */
  unreadable_processes: { pid: number; reason: string }[];
  /**
   * Whether the proc root is a procfs by the kernel's word; false for a tree
   * of files, where the kernel's marker decides every file. Absent when not known.
   */
  procfs?: boolean;
  /** False when the scan stopped at its deadline (`-t`) before reading every process. */
  finished: boolean;
  /** True when lists were cut by the scan's budget of names (see `files_not_listed`). */
  truncated: boolean;
  /** How many processes were read completely, when known. */
  scanned?: number;
  /** Deleted files left out of the groups' lists, past the scan's budget of names; absent when none. */
  files_not_listed?: number;
  /** Why the scan could see only part of the processes (not root, `hidepid=`), or null. */
  limited?: string | null;
  /** With `--scripts`: interpreters whose script is no file the scan could look at, and why. */
  scripts_unknown?: { pid: number; reason: string }[];
  /**
   * What to do, all told (when the reboot check ran): nothing, restart what is
   * listed, reboot; `unknown` where "nothing" cannot be said (the kernel's state
   * is unknown, or the scan was limited, unfinished or truncated).
   */
  verdict?: RebootVerdict;
  /** The reboot check, when it ran. */
  reboot?: JsonReboot;
  /** With `--restart`: what it did; the groups are then what is left after it. */
  restart?: JsonRestart;
  /**
   * With `--min-age` or `--replaced-only`: what they asked for and left out of
   * the groups (distinct file names, and processes that had nothing else).
   */
  narrowed?: {
    min_age_seconds: number | null;
    replaced_only: boolean;
    files_left_out: { young: number; deleted: number };
    processes_left_out: number;
  };
  /** The groups, by lowest PID. */
  groups: JsonGroup[];
}

/** The reboot check in the JSON report (see `RebootCheck`). */
export interface JsonReboot {
  /** Whether a reboot is needed. */
  required: boolean;
  /** Why (`kind`: kernel, microcode, flag, pid1, risky), with the packages that asked for it. */
  reasons: { kind: RebootReason["kind"]; text: string; packages?: string[] }[];
  /** How the running kernel stands against the one the boot loader starts (or the newest installed). */
  kernel: {
    state: KernelState;
    running: { release: string | null; build: string | null };
    newest: { release: string; build: string | null; path: string } | null;
    /** The boot loader's default entry and its kernel; null when not known (`reason` says why). */
    boots: {
      release: string;
      build: string | null;
      source: BootSource;
      entry: string;
      via: string;
      path: string;
    } | null;
    reason: string;
  };
  /** How the CPU's microcode stands; revisions as hexadecimal text (`0xf4`), as `/proc/cpuinfo` shows them. */
  microcode: {
    state: MicrocodeState;
    running: string | null;
    installed: string | null;
    source: string | null;
    reason: string;
  };
}

/** Options of {@linkcode toJsonReport} and {@linkcode formatJson}. */
export interface JsonFormatOptions {
  /** Which scan produced the groups. */
  readonly scan: ScanKind;
  /** How many entries could not be read. Default 0. */
  readonly unreadable?: number;
  /** The first of them, with why (see `ScanResult.unreadableProcesses`). Default none. */
  readonly unreadableProcesses?: readonly { readonly pid: number; readonly reason: string }[];
  /** Whether the proc root is a procfs (see `ScanResult.procfs`). Default: not reported. */
  readonly procfs?: boolean;
  /** False when the scan stopped at its deadline. Default true. */
  readonly finished?: boolean;
  /** How many processes were read completely. Default: not reported. */
  readonly scanned?: number;
  /** Deleted files left out of the lists (see `ScanResult.notListed`). Default 0. */
  readonly notListed?: number;
  /** Why the scan could see only part of the processes (see `ScanResult.limited`). */
  readonly limited?: string;
  /** Interpreters whose script could not be looked at (`--scripts`), for `scripts_unknown`. */
  readonly scriptsUnknown?: readonly { readonly pid: number; readonly reason: string }[];
  /** The packages that own each file (`--packages`): `package` per file. Default: not reported. */
  readonly packages?: PackageOwners;
  /** The reboot check, for `verdict` and `reboot`. Default: not reported. */
  readonly reboot?: RebootCheck;
  /** User names by UID, for `user.name`. */
  readonly userNames?: ReadonlyMap<number, string>;
  /** The host's name, for `host` (null: it could not be read). Default: not reported. */
  readonly host?: string | null;
  /** When the run that scanned began, for `scanned_at`. Default: not reported. */
  readonly scannedAt?: Date;
  /** A `--restart` run, for `restart`. Default: not reported. */
  readonly restart?: RestartRun;
  /** What `--min-age` and `--replaced-only` left out, for `narrowed`. Default: not reported. */
  readonly narrowed?: Narrowed;
}

/** Builds the JSON report's data for groups.
 *
 * @param groups From {@linkcode groupByArgv}.
 * @param options Which scan, and how many processes were unreadable.
 * @returns The report, ready for `JSON.stringify`.
 *
 * @example The report as data
 * ```ts
 * import { toJsonReport } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(toJsonReport([], { scan: "libs" }).groups, []);
 * ```
 */
export function toJsonReport(groups: readonly Group[], options: JsonFormatOptions): JsonReport {
  const complete = options.limited === undefined && (options.finished ?? true) &&
    !options.notListed;
  return {
    schema_version: JSON_SCHEMA_VERSION,
    scan: options.scan,
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.scannedAt === undefined ? {} : { scanned_at: options.scannedAt.toISOString() }),
    unreadable: options.unreadable ?? 0,
    unreadable_processes: (options.unreadableProcesses ?? []).map(({ pid, reason }) => ({
      pid,
      reason: toDisplayText(reason),
    })),
    ...(options.procfs === undefined ? {} : { procfs: options.procfs }),
    finished: options.finished ?? true,
    truncated: (options.notListed ?? 0) > 0,
    ...(options.scanned === undefined ? {} : { scanned: options.scanned }),
    ...(options.notListed ? { files_not_listed: options.notListed } : {}),
    ...(options.scanned === undefined && options.limited === undefined
      ? {}
      : { limited: options.limited === undefined ? null : toDisplayText(options.limited) }),
    ...(options.scriptsUnknown === undefined ? {} : {
      scripts_unknown: options.scriptsUnknown.map(({ pid, reason }) => ({
        pid,
        reason: toDisplayText(reason),
      })),
    }),
    ...(options.reboot === undefined ? {} : {
      verdict: verdictOf(groups, options.reboot, complete),
      reboot: jsonReboot(options.reboot),
    }),
    ...(options.restart === undefined ? {} : { restart: toJsonRestart(options.restart) }),
    ...(options.narrowed === undefined ? {} : { narrowed: jsonNarrowed(options.narrowed) }),
    groups: groups.map((group) => jsonGroup(group, options)),
  };
}

/** One group as JSON: its names as display text, with base64 where they hold raw bytes. */
function jsonGroup(group: Group, options: JsonFormatOptions): JsonGroup {
  const argv = group.argv.map(toDisplayText);
  const out: JsonGroup = {
    pids: [...group.pids],
    argv,
    cmdline: toDisplayText(group.cmdline),
    started_at: group.pids.map((_, i) => isoTime(group.startedAt?.[i] ?? null)),
    files: group.files.map((file) => jsonFile(file, group.pids, options.packages)),
    unit: group.unit?.name ?? null,
    class: group.unit?.class ?? "unknown",
    user: null,
    container: jsonContainer(group.unit?.container ?? null),
  };
  const uid = group.unit?.uid;
  if (uid !== undefined && uid !== null) {
    out.user = { uid, name: options.userNames?.get(uid) ?? null };
  }
  if (argv.some((text, i) => text !== group.argv[i])) {
    out.argv_base64 = group.argv.map(toBase64);
  }
  if (group.notListed) out.files_not_listed = group.notListed;
  return out;
}

/** One file as JSON, with its package when packages were asked for. */
function jsonFile(
  file: DeletedFile,
  pids: readonly number[],
  packages: PackageOwners | undefined,
): JsonFile {
  const entry: JsonFile = {
    path: toDisplayText(file.path),
    kind: file.kind,
    verified: file.unverified === undefined,
    state: file.state ?? null,
    replaced_at: isoTime(file.replacedAt ?? null),
  };
  // The display text differs from the name exactly when the name holds raw bytes.
  if (entry.path !== file.path) entry.path_base64 = toBase64(file.path);
  if (file.unverified !== undefined) entry.unverified_reason = file.unverified;
  if (file.reason !== undefined) entry.stale_reason = file.reason;
  if (file.unnamed !== undefined) entry.unnamed = { ...file.unnamed };
  if (packages === undefined) return entry;
  const found = filePackages(packages, { pids, path: file.path });
  const [owner, ...others] = found.owners;
  if (owner !== undefined) {
    entry.package = {
      name: toDisplayText(owner.name),
      version: owner.version === null ? null : toDisplayText(owner.version),
      changed: owner.changed,
      changed_from: owner.changedFrom,
    };
  } else if (found.unknown === undefined) entry.package = null;
  if (others.length > 0) entry.other_owners = others.map((o) => toDisplayText(o.name));
  if (found.unknown !== undefined) entry.package_unknown = toDisplayText(found.unknown);
  return entry;
}

/**
 * A time in ms since the epoch as ISO 8601 UTC; null stays null, and so does
 * a time no date can hold (a file system's own record may say anything).
 */
function isoTime(ms: number | null): string | null {
  const date = ms === null ? null : new Date(ms);
  return date === null || Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function jsonNarrowed(narrowed: Narrowed): NonNullable<JsonReport["narrowed"]> {
  const { leftOut } = narrowed;
  return {
    min_age_seconds: narrowed.minAgeMs === undefined ? null : Math.round(narrowed.minAgeMs / 1000),
    replaced_only: narrowed.replacedOnly ?? false,
    files_left_out: { young: leftOut.young, deleted: leftOut.deleted },
    processes_left_out: leftOut.processes,
  };
}

function jsonReboot(check: RebootCheck): JsonReboot {
  const { kernel, microcode } = check;
  const text = (value: string | null) => value === null ? null : toDisplayText(value);
  const hex = (value: number | null) => value === null ? null : `0x${value.toString(16)}`;
  const { boots } = kernel;
  return {
    required: check.required,
    reasons: check.reasons.map((reason) => ({
      kind: reason.kind,
      text: toDisplayText(reason.text),
      ...(reason.packages ? { packages: reason.packages.map(toDisplayText) } : {}),
    })),
    kernel: {
      state: kernel.state,
      running: { release: text(kernel.running.release), build: text(kernel.running.build) },
      newest: kernel.newest === null ? null : {
        release: toDisplayText(kernel.newest.release),
        build: text(kernel.newest.build),
        path: toDisplayText(kernel.newest.path),
      },
      boots: boots === null ? null : {
        release: toDisplayText(boots.release),
        build: text(boots.build),
        source: boots.source,
        entry: toDisplayText(boots.entry),
        via: toDisplayText(boots.via),
        path: toDisplayText(boots.path),
      },
      reason: toDisplayText(kernel.reason),
    },
    microcode: {
      state: microcode.state,
      running: hex(microcode.running),
      installed: hex(microcode.installed),
      source: text(microcode.source),
      reason: toDisplayText(microcode.reason),
    },
  };
}

/** Formats groups as a JSON document (see {@linkcode JsonReport}), ending in a newline.
 *
 * @param groups From {@linkcode groupByArgv}.
 * @param options Which scan, and how many processes were unreadable.
 * @returns The JSON text.
 *
 * @example The report as text
 * ```ts
 * import { formatJson } from "@lib-users/lib-users";
 * import { assertEquals } from "@std/assert";
 *
 * const unreadableProcesses = [{ pid: 1, reason: "permission denied" }];
 * const report = JSON.parse(formatJson([], { scan: "fds", unreadable: 1, unreadableProcesses }));
 * assertEquals(report, {
 *   schema_version: 2,
 *   scan: "fds",
 *   unreadable: 1,
 *   unreadable_processes: [{ pid: 1, reason: "permission denied" }],
 *   finished: true,
 *   truncated: false,
 *   groups: [],
 * });
 * ```
 */
export function formatJson(groups: readonly Group[], options: JsonFormatOptions): string {
  return escapeInvisible(JSON.stringify(toJsonReport(groups, options), null, 2)) + "\n";
}

let invisible: RegExp | undefined;

/**
 * JSON.stringify leaves DEL, C1 controls and format characters raw, and `cat`
 * of the document would hand them to the terminal (an 8-bit CSI, a
 * right-to-left override). They can only stand inside strings here, where
 * `\uXXXX` is the same character to every parser.
 */
export function escapeInvisible(json: string): string {
  // Built on first use: a Unicode property class costs start-up time as a literal.
  invisible ??= new RegExp("[\\u007f-\\u009f\\p{Cf}\\p{Zl}\\p{Zp}]", "gu");
  return json.replace(invisible, (ch) => {
    let out = "";
    for (let i = 0; i < ch.length; i++) {
      out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, "0")}`;
    }
    return out;
  });
}

/** Replaces each undecodable byte with U+FFFD, so the text is valid Unicode. */
function toDisplayText(name: string): string {
  return replaceRawBytes(name, () => "\ufffd");
}

function toBase64(name: string): string {
  let binary = "";
  for (const byte of encodeName(name)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function jsonContainer(container: ContainerRef | null): JsonGroup["container"] {
  if (container === null) return null;
  const { runtime, id, pod, unit } = container;
  return {
    runtime,
    id,
    ...(pod === undefined ? {} : { pod }),
    ...(unit?.name ? { unit: unit.name, unit_class: unit.class } : {}),
  };
}
