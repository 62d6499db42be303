/**
 * needrestart's batch language (`needrestart -b`, the apt-dater protocol):
 * the same keys with the same meanings, from this tool's own verdicts, so
 * that Ansible roles, monitoring checks and scripts that parse it switch
 * unchanged.
 *
 * @module
 */

import type { Group } from "../scan/group.ts";
import type { RebootCheck } from "../answers/reboot.ts";
import type { KernelState } from "../answers/kernel.ts";
import type { MicrocodeState } from "../answers/microcode.ts";

/** The needrestart release whose batch output this follows (Debian 12's). */
export const NEEDRESTART_BATCH_VERSION = "3.6";

/** `NEEDRESTART-KSTA`: 0 unknown, 1 no pending upgrade, 2 ABI compatible upgrade pending, 3 version upgrade pending. */
const KERNEL_STATUS: Readonly<Record<KernelState, number>> = {
  unknown: 0,
  current: 1,
  rebuilt: 2,
  newer: 3,
};

/**
 * `NEEDRESTART-UCSTA`: 0 unknown, 1 no pending update, 2 an update pending.
 * A virtual machine's microcode is its host's: nothing is pending here (1).
 */
const MICROCODE_STATUS: Readonly<Record<MicrocodeState, number>> = {
  unknown: 0,
  current: 1,
  "not-applicable": 1,
  newer: 2,
};

/** Options of {@linkcode formatNeedrestart}. */
export interface NeedrestartOptions {
  /** The reboot check: the kernel and microcode lines. */
  readonly reboot: RebootCheck;
  /** User names by UID, for the session lines; a UID without a name is shown as a number. */
  readonly userNames?: ReadonlyMap<number, string>;
}

/**
 * Formats the groups and the reboot check as `needrestart -b` does: `VER`,
 * `KCUR`, `KEXP` (when known), `KSTA`, `UCSTA` (with `UCCUR`, `UCEXP` unless
 * unknown), then `SVC` per system service (`systemd-manager` for a stale
 * PID 1), `CONT` per container (`LXC NAME`, `machined NAME`, and the other
 * runtimes by their name), `SESS` per user session (`USER @ session #N`,
 * `USER @ user manager service`), each list sorted as needrestart sorts it.
 *
 * @param groups From `groupByArgv`, with units.
 * @param options The reboot check and user names.
 * @returns The lines, each ending in a newline.
 *
 * @example A stale service on a host whose kernel is current
 * ```ts
 * import { checkReboot, classifyCgroup, formatNeedrestart } from "@lib-users/lib-users";
 * import { assertStringIncludes } from "@std/assert";
 *
 * const text = formatNeedrestart([{
 *   pids: [10], argv: ["cron"], cmdline: "cron", files: [],
 *   unit: classifyCgroup("/system.slice/cron.service"),
 * }], { reboot: checkReboot({ root: "testdata/root_current" }) });
 * assertStringIncludes(text, "NEEDRESTART-KSTA: 1\nNEEDRESTART-UCSTA: ");
 * assertStringIncludes(text, "NEEDRESTART-SVC: cron.service\n");
 * ```
 */
export function formatNeedrestart(groups: readonly Group[], options: NeedrestartOptions): string {
  const { kernel, microcode } = options.reboot;
  const lines = [`NEEDRESTART-VER: ${NEEDRESTART_BATCH_VERSION}`];
  if (kernel.running.release !== null) lines.push(`NEEDRESTART-KCUR: ${kernel.running.release}`);
  const expected = kernel.boots?.release ?? kernel.newest?.release;
  if (kernel.state !== "unknown" && expected !== undefined) {
    lines.push(`NEEDRESTART-KEXP: ${expected}`);
  }
  lines.push(`NEEDRESTART-KSTA: ${KERNEL_STATUS[kernel.state]}`);
  const ucode = MICROCODE_STATUS[microcode.state];
  lines.push(`NEEDRESTART-UCSTA: ${ucode}`);
  if (ucode !== 0) {
    lines.push(`NEEDRESTART-UCCUR: ${hex(microcode.running)}`);
    lines.push(`NEEDRESTART-UCEXP: ${hex(microcode.installed ?? microcode.running)}`);
  }
  const { services, containers, sessions } = listsOf(groups, options.userNames);
  for (const unit of services) lines.push(`NEEDRESTART-SVC: ${batchWord(unit)}`);
  for (const container of containers) lines.push(`NEEDRESTART-CONT: ${batchWord(container)}`);
  for (const session of sessions) lines.push(`NEEDRESTART-SESS: ${batchWord(session)}`);
  return lines.map((line) => `${line}\n`).join("");
}

/** The services, containers and sessions of the groups, each once, sorted as needrestart does. */
function listsOf(
  groups: readonly Group[],
  userNames: ReadonlyMap<number, string> | undefined,
): { services: string[]; containers: string[]; sessions: string[] } {
  const services = new Set<string>();
  const containers = new Set<string>();
  const sessions = new Map<string, Set<string>>();
  const user = (uid: number | null) => uid === null ? "?" : userNames?.get(uid) ?? String(uid);
  for (const group of groups) {
    const info = group.unit;
    if (info === undefined) continue;
    if (info.class === "system-service" && info.name !== null) services.add(info.name);
    else if (info.class === "manager") services.add("systemd-manager");
    else if (info.class === "container" && info.container !== null) {
      const { runtime, id } = info.container;
      containers.add(`${runtime === "lxc" ? "LXC" : runtime} ${id}`);
    } else if (
      info.class === "session" || info.class === "user-service" || info.class === "user-manager"
    ) {
      const session = info.class === "session"
        ? /^session-(\w+)\.scope$/.exec(info.name ?? "")?.[1]
        : undefined;
      if (info.class === "session" && session === undefined) continue;
      const name = user(info.uid);
      const set = sessions.get(name) ?? new Set();
      set.add(session === undefined ? "user manager service" : `session #${session}`);
      sessions.set(name, set);
    }
  }
  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const caseless = (a: string, b: string) => byText(a.toLowerCase(), b.toLowerCase());
  return {
    services: [...services].sort(byText),
    containers: [...containers].sort(caseless),
    sessions: [...sessions].sort(([a], [b]) => byText(a, b))
      .flatMap(([name, set]) => [...set].sort(byText).map((s) => `${name} @ ${s}`)),
  };
}

/** A microcode revision as needrestart prints it (`0xf4`); empty when unknown. */
function hex(revision: number | null): string {
  return revision === null ? "" : `0x${revision.toString(16)}`;
}

/**
 * A name as one line's value: the protocol has no escape, so a line break or
 * other control character (a unit or user name may hold one) becomes `?`, as
 * needrestart does for command names.
 */
function batchWord(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "?");
}
