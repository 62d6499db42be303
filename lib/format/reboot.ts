/**
 * The reboot answer for people (`--reboot`, and after the restart plan): a
 * short paragraph, names escaped for the terminal.
 *
 * @module
 */

import type { RebootCheck } from "../answers/reboot.ts";
import { escapeForTerminal } from "./escape.ts";

/**
 * Formats a reboot check: "Reboot needed:" with one line per reason, "No
 * reboot needed: …", or "Reboot: cannot tell: …" when the kernel could not be
 * judged and nothing else asks for one; a "no" or "cannot tell" is followed
 * by how the CPU's microcode stands (what the "no" could not check, too). `asComments` makes each line a shell comment, for
 * the end of the restart plan.
 *
 * @example A host where a newer kernel waits
 * ```ts
 * import { checkReboot, formatReboot } from "@lib-users/lib-users";
 * import { assertStringIncludes } from "@std/assert";
 *
 * const text = formatReboot(checkReboot({ root: "testdata/root_grub_submenu" }));
 * assertStringIncludes(text, "Reboot needed:\n  the boot loader (GRUB) boots kernel 6.1.0-10-amd64, 6.1.0-9-amd64 is running\n");
 * ```
 */
export function formatReboot(check: RebootCheck, asComments = false): string {
  const text = rebootText(check);
  // After the restart plan, which is shell: comments, so that `| sh` runs nothing more.
  return asComments ? text.replace(/^(?=.)/gm, "# ") : text;
}

function rebootText(check: RebootCheck): string {
  return verdictText(check) + (check.required ? "" : microcodeText(check));
}

function verdictText(check: RebootCheck): string {
  if (check.required) {
    const lines = check.reasons.map((reason) =>
      `  ${escapeForTerminal(reason.text)}${
        reason.packages ? `: ${reason.packages.map(escapeForTerminal).join(", ")}` : ""
      }\n`
    );
    return `Reboot needed:\n${lines.join("")}`;
  }
  if (check.kernel.state === "unknown") {
    return `Reboot: cannot tell: ${escapeForTerminal(check.kernel.reason)}.\n`;
  }
  return `No reboot needed: ${escapeForTerminal(check.kernel.reason)}.\n`;
}

/** The microcode's state as one line (never `newer` here: that is a reason to reboot). */
function microcodeText(check: RebootCheck): string {
  const { state, reason } = check.microcode;
  const text = escapeForTerminal(reason);
  if (state === "current" || state === "newer") return `${text}.\n`;
  if (state === "not-applicable") return `CPU microcode: not applicable: ${text}.\n`;
  return `CPU microcode: cannot tell: ${text}.\n`;
}
