/**
 * The scripts collector: an interpreter's script deleted, replaced or changed
 * after the process started. Only the process's argument vector and `/proc`
 * are read: nothing is ever run.
 *
 * @module
 */

import { withoutMarker } from "../proc/maps.ts";
import { classifyReadError, readLinkName } from "../proc/procfs.ts";
import type { ScanContext } from "./context.ts";
import type { DeletedFile } from "./model.ts";
import { bootTimeMs, interpreterOf, scriptArgument } from "./scripts.ts";

/** How far a process's start time may be off: a tick of the start, and of the uptime. */
const START_SLACK_MS = 30;

/** The boot time (ms since the epoch) by the proc root's `uptime`; null when unknown. */
export function readBootTime(proc: string): number | null {
  try {
    return bootTimeMs(Deno.readTextFileSync(`${proc}/uptime`), Date.now());
  } catch (error) {
    classifyReadError(error);
    return null;
  }
}

/**
 * The script of process `pid` when it is an interpreter whose script changed
 * after the process started (its ctime later than the start); scripts that
 * cannot be looked at go to `context.scriptsUnknown` with why.
 *
 * @param argvOf The process's argument vector, read once for the scan and this check alike.
 * @param startOf When it started (see `processStart`): undefined when its `stat` cannot be
 *   read (it exited), null when it holds no start; read once for the scan and this check alike.
 */
export function staleScripts(
  context: ScanContext,
  pid: number,
  argvOf: () => string[] | undefined,
  startOf: () => number | null | undefined,
): DeletedFile[] {
  const dir = `${context.proc}/${pid}`;
  let exe: string;
  try {
    exe = readLinkName(`${dir}/exe`);
  } catch (error) {
    classifyReadError(error);
    return [];
  }
  const kind = interpreterOf(withoutMarker(exe) ?? exe);
  if (kind === undefined) return [];
  const argv = argvOf();
  if (argv === undefined) return [];
  const script = scriptArgument(kind, argv);
  const unknown = (reason: string) => {
    context.scriptsUnknown.push({ pid, reason });
    return [];
  };
  if ("unknown" in script) return unknown(script.unknown);
  let path = script.path;
  try {
    if (!path.startsWith("/")) path = `${readLinkName(`${dir}/cwd`).replace(/\/$/, "")}/${path}`;
  } catch (error) {
    classifyReadError(error);
    return [];
  }
  const started = startOf();
  if (started === undefined) return [];
  if (started === null) return unknown("its start time cannot be read");
  const found = context.identity.fileAt(pid, path);
  if (!found.found) {
    if (found.unresolvable !== undefined) return unknown(`${path}: ${found.unresolvable}`);
    return [{ path, kind: "script", state: "deleted" }];
  }
  // Start times are in 10 ms ticks, and the boot time is read to 10 ms: a change
  // within that of the start cannot be told from one before it.
  if (found.changedMs !== null && found.changedMs > started + START_SLACK_MS) {
    const since = found.ctimeMs === null ? {} : { replacedAt: found.ctimeMs };
    return [{ path, kind: "script", state: "replaced", ...since }];
  }
  return [];
}
