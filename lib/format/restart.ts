/**
 * The restart plan as shell lines to paste: every name one exact word, no
 * name an option, no raw control character on the terminal.
 *
 * @module
 */

import type { ContainerRef } from "../proc/cgroup.ts";
import { escapeForTerminal } from "./escape.ts";
import { encodeName } from "../proc/names.ts";
import type { RestartPlan } from "../answers/restart.ts";

/**
 * A unit, user or container name as one shell word that names it exactly when
 * pasted into bash or zsh, and shows no raw control character on the way: as
 * is when it holds only plain characters; in single quotes when it holds other
 * printable ones; as an ANSI-C word (`$'…'`) when it holds a control or format
 * character or a byte that is not UTF-8, each written as its bytes in `\xHH`,
 * so the word does not depend on the locale. Names come from cgroup paths,
 * which users may create in their own delegated subtree.
 */
export function shellWord(word: string): string {
  if (/^[A-Za-z0-9@%+=:,./_-]+$/.test(word)) return word;
  if (escapeForTerminal(word) === word) return `'${word.replaceAll("'", "'\\''")}'`;
  let out = "$'";
  for (const ch of word) {
    if (ch === "'" || ch === "\\") out += `\\${ch}`;
    // `!` would start history expansion in an interactive shell.
    else if (ch !== "!" && escapeForTerminal(ch) === ch) out += ch;
    else for (const byte of encodeName(ch)) out += `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return `${out}'`;
}

/**
 * The command that restarts a container. Every tool here ends its options at
 * `--` (getopt for systemd's tools, Go's flag parsers for the others), so no
 * name can pass for an option.
 */
function containerCommand(container: ContainerRef): string {
  const id = /^[0-9a-f]{64}$/.test(container.id) ? container.id.slice(0, 12) : container.id;
  if (
    container.pod !== undefined || container.runtime === "cri-o" ||
    container.runtime === "kubernetes"
  ) {
    // The kubelet starts a stopped container of a pod again (restartPolicy).
    const pod = container.pod ? `  # pod UID ${escapeForTerminal(container.pod)}` : "";
    return `crictl stop -- ${shellWord(container.id)}${pod}`;
  }
  switch (container.runtime) {
    case "docker":
      return `docker restart -- ${shellWord(id)}`;
    case "podman":
      return `podman restart -- ${shellWord(id)}`;
    case "containerd":
      return `nerdctl restart -- ${shellWord(id)}`;
    case "lxc":
      return `lxc restart -- ${shellWord(id)}  # or incus restart, lxc-stop/lxc-start`;
    case "machined":
      return `machinectl reboot -- ${shellWord(id)}`;
  }
}

/**
 * Formats the plan: first the commands to run, one per kind, then sessions to
 * end, risky units and unknown processes as `#` comments. "" when there is
 * nothing to restart. Each line ends in a newline.
 *
 * @param plan From {@linkcode planRestarts}.
 * @param marked System units that carry systemd's `needs-restart` marker: named in a comment.
 * @returns The text.
 */
export function formatRestartPlan(
  plan: RestartPlan,
  marked: ReadonlySet<string> = new Set(),
): string {
  const lines: string[] = [];
  if (plan.systemServices.length) {
    lines.push(`systemctl restart -- ${plan.systemServices.map(shellWord).join(" ")}`);
  }
  const markedNow = plan.systemServices.filter((unit) => marked.has(unit));
  if (markedNow.length > 0) {
    lines.push(
      `# marked needs-restart already: ${markedNow.map(escapeForTerminal).join(" ")} ` +
        "(systemctl reload-or-restart --marked restarts them)",
    );
  }
  for (const { user, units } of plan.userServices) {
    const machine = shellWord(`${user}@`);
    lines.push(`systemctl --user -M ${machine} restart -- ${units.map(shellWord).join(" ")}`);
  }
  for (const [systemctl, units] of byContainer(plan)) {
    lines.push(`${systemctl} restart -- ${units.map(shellWord).join(" ")}`);
  }
  for (const container of plan.containers) lines.push(containerCommand(container));
  if (plan.reexecManager) lines.push("systemctl daemon-reexec");
  for (const user of plan.reexecUserManagers) {
    lines.push(`systemctl --user -M ${shellWord(`${user}@`)} daemon-reexec`);
  }
  for (const session of plan.sessions) {
    const who = session.user === null ? "" : ` of user ${escapeForTerminal(session.user)}`;
    lines.push(
      `# end or restart by hand: ${escapeForTerminal(session.unit ?? "?")}${who} (PIDs ${
        session.pids.join(",")
      })`,
    );
  }
  for (const risky of plan.risky) {
    const who = risky.user === null ? "" : ` of user ${escapeForTerminal(risky.user)}`;
    lines.push(
      `# WARNING: not restarted, risky: ${
        escapeForTerminal(risky.unit)
      }${who} is ${risky.reason} (PIDs ${risky.pids.join(",")})`,
    );
  }
  if (plan.unknown.length) {
    lines.push(`# no unit known, restart by hand: PIDs ${plan.unknown.join(",")}`);
  }
  for (const apart of plan.temporaryOnly) {
    const who = apart.user === null ? "" : ` of user ${escapeForTerminal(apart.user)}`;
    const unit = apart.unit === null ? "" : `${escapeForTerminal(apart.unit)}${who}: `;
    lines.push(
      `# restarting will not help if the program makes them again: ${unit}PIDs ${
        apart.pids.join(",")
      } use only deleted temporary files: ${escapeForTerminal(apart.files.join(","))}`,
    );
  }
  return lines.map((line) => `${line}\n`).join("");
}

/** The units to restart inside each container, by the command that reaches its systemd. */
function byContainer(plan: RestartPlan): Map<string, string[]> {
  const units = new Map<string, string[]>();
  for (const { systemctl, unit } of plan.containerUnits) {
    const command = systemctl.map(shellWord).join(" ");
    units.set(command, [...units.get(command) ?? [], unit]);
  }
  return units;
}
